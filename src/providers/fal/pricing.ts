/** fal.ai's GPT Image 2 prices: a published table by size and quality. */
import type { ProviderPricing, SizeTable } from '../pricing.js';

/** fal.ai's GPT Image 2 table, USD per image, rounded up to the cent (shared/seeds/fal-gpt-image-2-edit.txt). */
export const FAL_PRICE_TABLE: SizeTable = [
  { size: { width: 1024, height: 768 }, usd: { low: 0.01, medium: 0.04, high: 0.15 } },
  { size: { width: 1024, height: 1024 }, usd: { low: 0.01, medium: 0.06, high: 0.22 } },
  { size: { width: 1536, height: 1024 }, usd: { low: 0.01, medium: 0.05, high: 0.17 } },
  { size: { width: 1920, height: 1080 }, usd: { low: 0.01, medium: 0.04, high: 0.16 } },
  { size: { width: 2560, height: 1440 }, usd: { low: 0.01, medium: 0.06, high: 0.23 } },
  { size: { width: 3840, height: 2160 }, usd: { low: 0.02, medium: 0.11, high: 0.41 } },
];

export const FAL_PRICING: ProviderPricing = {
  basis: 'per-image table',
  table: FAL_PRICE_TABLE,
  source: {
    url: 'https://fal.ai/models/openai/gpt-image-2/edit',
    readOn: '2026-11-21',
    note: 'GPT Image 2 price table by size and quality, rounded up to the cent (shared/seeds/fal-gpt-image-2-edit.txt)',
  },
};
