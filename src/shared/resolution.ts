/**
 * Output sizes in pixels: the `WIDTHxHEIGHT` text of manifests parsed and checked against what any GPT Image 2 host
 * can make. Which billing tier a size falls in is cost's business (src/cost/resolution-tier.ts).
 */

/** An output size in pixels. */
export interface Resolution {
  width: number;
  height: number;
}

/** Largest output GPT Image 2 makes: 3840x2160 (providers.md §1, `size`). */
export const MAX_PIXELS = 3840 * 2160;
export const MAX_EDGE = 3840;
export const MIN_EDGE = 16;

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

/** `WIDTHxHEIGHT` text of a resolution. */
export function formatResolution(resolution: Resolution): string {
  return `${resolution.width}x${resolution.height}`;
}
