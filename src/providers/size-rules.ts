/**
 * Size arithmetic the adapters share: custom-size limits, aspect ratios, and the choice of the nearest aspect ratio and
 * resolution tier for providers that take those instead of pixels. (The simulator keeps its own copy of each
 * provider's rules, written from the docs: it imports nothing from here.)
 */
import type { Resolution } from '../shared/resolution.js';

/** Limits of a size given in pixels (OpenAI `size`, fal `image_size`). */
export interface PixelLimits {
  /** Both edges must be multiples of this. */
  multipleOf: number;
  minPixels: number;
  maxPixels: number;
  maxEdge: number;
  /** Longer edge over shorter edge, at most. */
  maxAspectRatio: number;
}

/**
 * GPT Image 2's custom sizes: edges multiples of 16, longer edge at most 3840, aspect ratio at most 3:1, 655,360 to
 * 8,294,400 pixels. Sources: openai-openapi `CreateImageRequest.size` ("divisible by 16 … between 1:3 and 3:1 … maximum
 * supported resolution is 3840x2160 … the model's current pixel and edge limits"); fal-js `GptImage2Input.image_size`
 * ("total pixels between 655,360 and 8,294,400").
 */
export const GPT_IMAGE_2_PIXEL_LIMITS: PixelLimits = {
  multipleOf: 16,
  minPixels: 655_360,
  maxPixels: 8_294_400,
  maxEdge: 3840,
  maxAspectRatio: 3,
};

/** Why `size` breaks `limits`, or undefined when it is within them. */
export function pixelSizeProblem(size: Resolution, limits: PixelLimits): string | undefined {
  const { width, height } = size;
  const step = limits.multipleOf;
  if (width % step !== 0 || height % step !== 0) {
    const round = (value: number) => Math.max(step, Math.round(value / step) * step);
    return `width and height must be multiples of ${step} (e.g. ${round(width)}x${round(height)})`;
  }
  if (Math.max(width, height) > limits.maxEdge) return `the longer edge must be at most ${limits.maxEdge}`;
  if (Math.max(width, height) / Math.min(width, height) > limits.maxAspectRatio)
    return `the aspect ratio must be at most ${limits.maxAspectRatio}:1`;
  if (width * height > limits.maxPixels)
    return `at most ${limits.maxPixels.toLocaleString('en')} pixels in all (3840x2160)`;
  if (width * height < limits.minPixels)
    return `at least ${limits.minPixels.toLocaleString('en')} pixels in all (e.g. 1024x640)`;
  return undefined;
}

/** `a:b` in lowest terms, e.g. `16:9` for 1920x1080. */
export function aspectRatioOf(size: Resolution): string {
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const divisor = gcd(size.width, size.height);
  return `${size.width / divisor}:${size.height / divisor}`;
}

/** The ratio in `ratios` (`a:b` strings; others such as `auto` are skipped) closest to `size`'s shape. */
export function nearestAspectRatio(size: Resolution, ratios: readonly string[]): string {
  const wanted = Math.log(size.width / size.height);
  let best = ratios[0] ?? '1:1';
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const ratio of ratios) {
    const match = /^(\d+):(\d+)$/.exec(ratio);
    if (match === null) continue;
    const distance = Math.abs(Math.log(Number(match[1]) / Number(match[2])) - wanted);
    if (distance < bestDistance) {
      best = ratio;
      bestDistance = distance;
    }
  }
  return best;
}
