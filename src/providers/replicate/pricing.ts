/**
 * Replicate's prices: none published for gpt-image-2 (shared/reference/providers.md §4), so estimated from OpenAI's
 * tokens. Replicate bills per output image (replicate.com/openai/gpt-image-1: "$0.001/image" with your own key), so a
 * prediction of `number_of_images` n is priced as n images.
 */
import { estimatedFromOpenAI } from '../gpt-image-tokens.js';
import type { ProviderPricing } from '../pricing.js';

export const REPLICATE_PRICING: ProviderPricing = estimatedFromOpenAI(
  'Replicate',
  'shared/reference/providers.md §4; billed per output image',
);
