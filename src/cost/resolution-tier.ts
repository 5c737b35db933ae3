/**
 * Resolution tiers: the one place that decides which billing tier an output size falls in.
 *
 * Oxen.ai bills "HD sizes (1920x1080 and lower) at the standard tier; QHD+ sizes (2560x1440 and higher) at the
 * high-resolution tier" (https://docs.oxen.ai/models/gpt-image-2, seed shared/seeds/oxen-gpt-image-2-generate.txt).
 * Sizes between the two (none are offered by Oxen today) count as high-resolution.
 */
import type { Resolution } from '../shared/resolution.js';

export type ResolutionTier = 'standard' | 'high-resolution';
export const RESOLUTION_TIERS: readonly ResolutionTier[] = ['standard', 'high-resolution'];

const STANDARD_TIER_MAX_PIXELS = 1920 * 1080;

/** The billing tier of a size. */
export function resolutionTier(resolution: Resolution): ResolutionTier {
  return resolution.width * resolution.height <= STANDARD_TIER_MAX_PIXELS ? 'standard' : 'high-resolution';
}
