/**
 * Estimated price of one output image by size and quality: the GPT Image 2 table.
 *
 * Source: fal.ai, "openai/gpt-image-2/edit" model page, Pricing table (https://fal.ai/models/openai/gpt-image-2/edit,
 * stored as shared/seeds/fal-gpt-image-2-edit.txt, read 2026-11-21). It is derived from OpenAI's token prices
 * ($8/M image input, $30/M image output tokens), so it serves as the per-image estimate for every host of the model
 * until a provider's own figure is catalogued (issue 5). Oxen.ai publishes no amounts (providers.md §3).
 */
import type { Quality } from './job-definitions.js';
import { resolutionTier, type Resolution, type ResolutionTier } from './resolution-tier.js';

export const PRICE_SOURCE_URL = 'https://fal.ai/models/openai/gpt-image-2/edit';

/** USD per image, by size (larger edge first) and quality. */
const GPT_IMAGE_2_PRICE_TABLE: ReadonlyArray<{ size: Resolution; usd: Record<Quality, number> }> = [
  { size: { width: 1024, height: 768 }, usd: { low: 0.01, medium: 0.04, high: 0.15 } },
  { size: { width: 1024, height: 1024 }, usd: { low: 0.01, medium: 0.06, high: 0.22 } },
  { size: { width: 1536, height: 1024 }, usd: { low: 0.01, medium: 0.05, high: 0.17 } },
  { size: { width: 1920, height: 1080 }, usd: { low: 0.01, medium: 0.04, high: 0.16 } },
  { size: { width: 2560, height: 1440 }, usd: { low: 0.01, medium: 0.06, high: 0.23 } },
  { size: { width: 3840, height: 2160 }, usd: { low: 0.02, medium: 0.11, high: 0.41 } },
];

/** The estimated cost of one image. */
export interface ImageCostEstimate {
  /** USD per image. */
  usd: number;
  tier: ResolutionTier;
  /** True when the size is in the table (either orientation); false when priced as the nearest size by pixels. */
  exactSize: boolean;
  source: string;
}

/**
 * Estimate the price of one image of `resolution` at `quality` (providers bill GPT Image 2 at `high` by default).
 * A size not in the table (either orientation) is priced as the smallest table size of the same resolution tier with
 * at least as many pixels (the tier's largest when none is), so estimates err on the high side.
 */
export function estimateImageCost(resolution: Resolution, quality: Quality = 'high'): ImageCostEstimate {
  const tier = resolutionTier(resolution);
  const longEdge = Math.max(resolution.width, resolution.height);
  const shortEdge = Math.min(resolution.width, resolution.height);
  const exact = GPT_IMAGE_2_PRICE_TABLE.find(
    (entry) => entry.size.width === longEdge && entry.size.height === shortEdge,
  );
  if (exact !== undefined)
    return { usd: exact.usd[quality], tier, exactSize: true, source: PRICE_SOURCE_URL };
  const pixels = resolution.width * resolution.height;
  const sameTier = GPT_IMAGE_2_PRICE_TABLE.filter((entry) => resolutionTier(entry.size) === tier).sort(
    (a, b) => a.size.width * a.size.height - b.size.width * b.size.height,
  );
  const entry =
    sameTier.find((candidate) => candidate.size.width * candidate.size.height >= pixels) ?? sameTier.at(-1)!;
  return { usd: entry.usd[quality], tier, exactSize: false, source: PRICE_SOURCE_URL };
}

/** Round a USD amount to a millionth of a dollar, so sums of many prices print cleanly. */
export function roundUsd(usd: number): number {
  return Math.round(usd * 1e6) / 1e6;
}
