/** OpenAI's GPT Image 2 prices: its token prices (image output from size and quality, edit inputs, prompt text). */
import { OPENAI_PRICE_PAGE, OPENAI_TOKEN_PRICES } from '../gpt-image-tokens.js';
import type { ProviderPricing } from '../pricing.js';

export const OPENAI_PRICING: ProviderPricing = {
  basis: 'token-derived',
  tokenPrices: OPENAI_TOKEN_PRICES,
  published: true,
  roundPerImageUpToCent: false,
  source: OPENAI_PRICE_PAGE,
  batch: {
    priceFactor: 0.5,
    source: {
      url: 'https://platform.openai.com/docs/guides/batch',
      readOn: '2026-11-30',
      note: 'Batch API: 50 % of the token price, 24 h window; images accepted since 2026-02-10 (openai-node "feat(api): support for images in batch api", src/resources/batches.ts)',
    },
  },
};
