/**
 * Output sizes as the simulated providers see them, written from the providers' references (never from the adapters:
 * the simulator imports nothing from src/providers, so a misread API fails against it).
 */
import type { Resolution } from '../shared/resolution.js';

/**
 * Why a GPT Image 2 custom size is refused, or undefined. Sources: openai-openapi `CreateImageRequest.size` ("Width and
 * height must both be divisible by 16 and the requested aspect ratio must be between 1:3 and 3:1 … the maximum
 * supported resolution is 3840x2160"); fal-js `GptImage2Input.image_size` ("max edge 3840px, aspect ratio <= 3:1,
 * total pixels between 655,360 and 8,294,400").
 */
export function gptImage2SizeProblem(size: Resolution): string | undefined {
  const { width, height } = size;
  if (width % 16 !== 0 || height % 16 !== 0) return 'width and height must both be divisible by 16';
  if (Math.max(width, height) > 3840) return 'the maximum edge is 3840 pixels';
  if (Math.max(width, height) > 3 * Math.min(width, height))
    return 'the aspect ratio must be between 1:3 and 3:1';
  if (width * height > 8_294_400) return 'the maximum supported resolution is 3840x2160 (8,294,400 pixels)';
  if (width * height < 655_360) return 'the image must have at least 655,360 pixels';
  return undefined;
}

/** `WIDTHxHEIGHT` as numbers, or undefined. */
export function parseSize(text: string): Resolution | undefined {
  const match = /^(\d{1,5})x(\d{1,5})$/.exec(text);
  return match === null ? undefined : { width: Number(match[1]), height: Number(match[2]) };
}

/**
 * What an aspect ratio at a resolution tier (0: 1K, 1: 2K, 2: 4K) makes. Neither Oxen.ai nor WaveSpeedAI publishes the
 * pixel sizes (UNCONFIRMED); this is the simulator's picture: the longer edge 1024, 2048 or 3840 pixels, the shorter
 * one from the ratio, both multiples of 16 (so 4:3 at 1K is 1024x768 and 16:9 at 4K is 3840x2160).
 */
export function sizeOfRatioAndTier(ratio: string, tier: number): Resolution {
  const [a, b] = ratio.split(':').map(Number) as [number, number];
  const long = [1024, 2048, 3840][Math.max(0, Math.min(2, tier))]!;
  const short = Math.max(16, Math.round((long * Math.min(a, b)) / Math.max(a, b) / 16) * 16);
  return a >= b ? { width: long, height: short } : { width: short, height: long };
}

/** The shape of an image as `a:b` nearest among `ratios` (for `auto` ratios taken from an input image). */
export function nearestRatio(size: Resolution, ratios: readonly string[]): string {
  const wanted = Math.log(size.width / size.height);
  let best = ratios[0]!;
  for (const ratio of ratios) {
    const [a, b] = ratio.split(':').map(Number) as [number, number];
    const [c, d] = best.split(':').map(Number) as [number, number];
    if (Math.abs(Math.log(a / b) - wanted) < Math.abs(Math.log(c / d) - wanted)) best = ratio;
  }
  return best;
}
