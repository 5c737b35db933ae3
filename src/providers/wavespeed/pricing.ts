/** WaveSpeedAI's GPT Image 2 price: "$0.1 per run" on the edit page (shared/seeds/wavespeed-gpt-image-2-edit.txt). */
import type { ProviderPricing } from '../pricing.js';

/** USD per run (one image). */
export const WAVESPEED_PRICE_PER_RUN = 0.1;

export const WAVESPEED_PRICING: ProviderPricing = {
  basis: 'per run',
  usdPerRun: WAVESPEED_PRICE_PER_RUN,
  // The page quoted is the edit endpoint's; a text-to-image run is assumed to cost the same (an estimate).
  exactFor: ['edit'],
  source: {
    url: 'https://wavespeed.ai/models/openai/gpt-image-2/edit',
    readOn: '2026-11-21',
    note: '"$0.1 per run" (shared/seeds/wavespeed-gpt-image-2-edit.txt)',
  },
};
