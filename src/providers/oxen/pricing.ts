/** Oxen.ai's prices: none published per image (shared/reference/providers.md §3), so estimated from OpenAI's tokens. */
import { estimatedFromOpenAI } from '../gpt-image-tokens.js';
import type { ProviderPricing } from '../pricing.js';

export const OXEN_PRICING: ProviderPricing = estimatedFromOpenAI(
  'Oxen.ai',
  'shared/reference/providers.md §3',
);
