/**
 * Size rules providers document, shared by adapters (to reject a row before paying) and the simulator (to answer as
 * the provider would).
 */
import type { Resolution } from '../shared/resolution-tier.js';

/**
 * Why OpenAI / fal cannot make `size` as a custom size, or undefined: both edges multiples of 16, longer edge at most
 * 3840, aspect ratio at most 3:1, at most 3840x2160 pixels; fal also at least 655,360 pixels
 * (providers.md §1 `size`, §2 text-to-image custom sizes).
 */
export function customSizeProblem(size: Resolution, minimumPixels = 0): string | undefined {
  const { width, height } = size;
  if (width % 16 !== 0 || height % 16 !== 0) {
    const round = (value: number) => Math.round(value / 16) * 16;
    return `width and height must be multiples of 16 (e.g. ${round(width)}x${round(height)})`;
  }
  if (Math.max(width, height) > 3840) return 'the longer edge must be at most 3840';
  if (Math.max(width, height) / Math.min(width, height) > 3) return 'the aspect ratio must be at most 3:1';
  if (width * height > 3840 * 2160) return 'at most 3840x2160 pixels in all';
  if (width * height < minimumPixels) return `at least ${minimumPixels.toLocaleString('en')} pixels in all`;
  return undefined;
}

/** `a:b` in lowest terms, e.g. `16:9` for 1920x1080. */
export function aspectRatioOf(size: Resolution): string {
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const divisor = gcd(size.width, size.height);
  return `${size.width / divisor}:${size.height / divisor}`;
}

/**
 * The pixel size of an aspect ratio at a resolution tier whose longer edge is `longEdge`: the shorter edge is the
 * ratio's, rounded to a whole pixel. Used where a provider takes a ratio and a tier instead of pixels.
 */
export function sizeForAspectRatio(aspectRatio: string, longEdge: number): Resolution {
  const [a, b] = aspectRatio.split(':').map(Number) as [number, number];
  return a >= b
    ? { width: longEdge, height: Math.round((longEdge * b) / a) }
    : { width: Math.round((longEdge * a) / b), height: longEdge };
}
