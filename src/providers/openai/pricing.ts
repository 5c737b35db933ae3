/** OpenAI's GPT Image 2 prices: its token prices (image output from size and quality, edit inputs, prompt text). */
import { OPENAI_PRICE_PAGE, OPENAI_TOKEN_PRICES } from '../gpt-image-tokens.js';
import type { ProviderPricing } from '../pricing.js';

export const OPENAI_PRICING: ProviderPricing = {
  basis: 'token-derived',
  tokenPrices: OPENAI_TOKEN_PRICES,
  published: true,
  roundPerImageUpToCent: false,
  source: OPENAI_PRICE_PAGE,
};
