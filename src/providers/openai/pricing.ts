/** OpenAI's GPT Image 2 prices: its token prices, per image as derived from them, plus input-image tokens of an edit. */
import {
  ESTIMATED_TOKENS_PER_INPUT_IMAGE,
  OPENAI_PRICE_PAGE,
  OPENAI_PRICE_TABLE,
  OPENAI_TOKEN_PRICES,
} from '../gpt-image-tokens.js';
import type { ProviderPricing } from '../pricing.js';

export const OPENAI_PRICING: ProviderPricing = {
  basis: 'token-derived',
  table: OPENAI_PRICE_TABLE,
  tokenPrices: OPENAI_TOKEN_PRICES,
  tokensPerInputImage: ESTIMATED_TOKENS_PER_INPUT_IMAGE,
  published: true,
  source: OPENAI_PRICE_PAGE,
};
