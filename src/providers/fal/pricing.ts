/**
 * fal.ai's GPT Image 2 prices: OpenAI's token prices with each image's output rounded up to the cent (its published
 * table is exactly that, for every size it lists — checked in the tests), plus input-image tokens of an edit, which fal
 * bills too (shared/reference/providers.md, fal.ai).
 */
import { OPENAI_TOKEN_PRICES } from '../gpt-image-tokens.js';
import type { ProviderPricing, SizeTable } from '../pricing.js';

/** fal.ai's published GPT Image 2 table, USD per image (shared/seeds/fal-gpt-image-2-edit.txt): the tests' reference. */
export const FAL_PRICE_TABLE: SizeTable = [
  { size: { width: 1024, height: 768 }, usd: { low: 0.01, medium: 0.04, high: 0.15 } },
  { size: { width: 1024, height: 1024 }, usd: { low: 0.01, medium: 0.06, high: 0.22 } },
  { size: { width: 1536, height: 1024 }, usd: { low: 0.01, medium: 0.05, high: 0.17 } },
  { size: { width: 1920, height: 1080 }, usd: { low: 0.01, medium: 0.04, high: 0.16 } },
  { size: { width: 2560, height: 1440 }, usd: { low: 0.01, medium: 0.06, high: 0.23 } },
  { size: { width: 3840, height: 2160 }, usd: { low: 0.02, medium: 0.11, high: 0.41 } },
];

export const FAL_PRICING: ProviderPricing = {
  basis: 'token-derived',
  tokenPrices: OPENAI_TOKEN_PRICES,
  published: true,
  roundPerImageUpToCent: true,
  source: {
    url: 'https://fal.ai/models/openai/gpt-image-2/edit',
    readOn: '2026-11-21',
    note:
      'GPT Image 2 token prices, each image rounded up to the cent as in its table by size and quality ' +
      '(shared/seeds/fal-gpt-image-2-edit.txt); input images as image input tokens',
  },
};
