/**
 * WaveSpeedAI's GPT Image 2 prices: per run (one image), by quality and resolution tier. WaveSpeedAI publishes two
 * figures: "From $0.060/run" with "quality tiers (low / medium / high) and resolution scaling (base, 2K, 4K)"
 * (tropical.wavespeed.ai/gpt-image-2-api, the cheapest run: low at 1k), and "$0.1 per run" on the edit page at its
 * defaults, medium at 1k (shared/seeds/wavespeed-gpt-image-2-edit.txt; the newer page's llms.txt lists `quality`
 * default medium and `resolution` default 1k). Every other cell is not published (shared/reference/providers.md §5:
 * "the grid is UNCONFIRMED"): it is estimated from the medium-1k price by the ratio of GPT Image 2's output tokens,
 * never below $0.06, and labelled an estimate. With a key, rows are priced from the host's own pricing endpoint instead
 * (`POST /api/v3/model/pricing`, ./served-pricing.ts), per model × quality × resolution tier.
 */
import type { PriceSource, ProviderPricing } from '../pricing.js';

const FROM_PRICE: PriceSource = {
  url: 'https://tropical.wavespeed.ai/gpt-image-2-api',
  readOn: '2026-11-30',
  note: '"From $0.060/run": the cheapest run, low quality at 1k',
};
const EDIT_PAGE: PriceSource = {
  url: 'https://wavespeed.ai/models/openai/gpt-image-2/edit',
  readOn: '2026-11-21',
  note: '"$0.1 per run" at the page\'s defaults, medium at 1k (shared/seeds/wavespeed-gpt-image-2-edit.txt)',
};

export const WAVESPEED_PRICING: ProviderPricing = {
  basis: 'per run by quality and tier',
  tiers: ['1k', '2k', '4k'],
  published: [
    { quality: 'low', tier: '1k', usd: 0.06, source: FROM_PRICE },
    { quality: 'medium', tier: '1k', usd: 0.1, source: EDIT_PAGE },
  ],
  scaleFrom: { quality: 'medium', size: { width: 1024, height: 1024 }, usd: 0.1 },
  minimumUsd: 0.06,
  source: {
    ...FROM_PRICE,
    note: 'low 1k $0.06 and medium 1k $0.10 published; other quality × resolution cells estimated from medium 1k by GPT Image 2 output tokens, at least $0.06 (assumption); with WAVESPEED_API_KEY set, rows are priced from the host (POST /api/v3/model/pricing)',
  },
  servedPriceSource: {
    url: 'https://api.wavespeed.ai/api/v3/model/pricing',
    readOn: '',
    note: "the host's unit_price of one run at the row's model, quality and resolution tier, asked when the row was enqueued (wavespeed.ai/docs/docs-common-api/pricing)",
  },
};
