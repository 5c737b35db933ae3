/** Replicate's prices: none published per image (shared/reference/providers.md §4), so estimated from OpenAI's tokens. */
import { estimatedFromOpenAI } from '../gpt-image-tokens.js';
import type { ProviderPricing } from '../pricing.js';

export const REPLICATE_PRICING: ProviderPricing = estimatedFromOpenAI(
  'Replicate',
  'shared/reference/providers.md §4',
);
