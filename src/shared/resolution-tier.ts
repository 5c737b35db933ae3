/**
 * Output sizes and their resolution tiers: the one place that decides which tier a size bills at.
 *
 * Oxen.ai bills "HD sizes (1920x1080 and lower) at the standard tier; QHD+ sizes (2560x1440 and higher) at the
 * high-resolution tier" (https://docs.oxen.ai/models/gpt-image-2, seed shared/seeds/oxen-gpt-image-2-generate.txt).
 * Sizes between the two (none are offered by Oxen today) count as high-resolution.
 */

/** An output size in pixels. */
export interface Resolution {
  width: number;
  height: number;
}

export type ResolutionTier = 'standard' | 'high-resolution';
export const RESOLUTION_TIERS: readonly ResolutionTier[] = ['standard', 'high-resolution'];

/** Largest output GPT Image 2 makes: 3840x2160 (providers.md §1, `size`). */
export const MAX_PIXELS = 3840 * 2160;
export const MAX_EDGE = 3840;
export const MIN_EDGE = 16;
const STANDARD_TIER_MAX_PIXELS = 1920 * 1080;

/** Parse `WIDTHxHEIGHT` (e.g. `1024x1536`); undefined when the text is not of that form. */
export function parseResolution(text: string): Resolution | undefined {
  const match = /^(\d{1,5})x(\d{1,5})$/.exec(text);
  if (match === null) return undefined;
  return { width: Number(match[1]), height: Number(match[2]) };
}

/** Why a resolution cannot be produced by any GPT Image 2 host, or undefined when it can. */
export function resolutionProblem(resolution: Resolution): string | undefined {
  const { width, height } = resolution;
  if (width < MIN_EDGE || height < MIN_EDGE) return `each edge must be at least ${MIN_EDGE} pixels`;
  if (width > MAX_EDGE || height > MAX_EDGE) return `each edge must be at most ${MAX_EDGE} pixels`;
  if (width * height > MAX_PIXELS) return 'at most 3840x2160 pixels in all';
  return undefined;
}

/** The billing tier of a size. */
export function resolutionTier(resolution: Resolution): ResolutionTier {
  return resolution.width * resolution.height <= STANDARD_TIER_MAX_PIXELS ? 'standard' : 'high-resolution';
}

/** `WIDTHxHEIGHT` text of a resolution. */
export function formatResolution(resolution: Resolution): string {
  return `${resolution.width}x${resolution.height}`;
}
