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
 * GPT Image 2's sizes at 1K / 2K / 4K for ten aspect ratios, as one host publishes them (docs.apiyi.com/knowledge-base/
 * gpt-image-2-vip-sizes, "10 ratios × 3 resolution tiers = 30 sizes", read 2026-12-02). Neither Oxen.ai nor
 * WaveSpeedAI publishes its own (UNCONFIRMED): the simulator delivers these, the only published table of GPT Image 2
 * tier sizes found, whose ten ratios are exactly WaveSpeedAI's current list.
 */
const PUBLISHED_TIER_SIZES: Record<string, readonly [string, string, string]> = {
  '1:1': ['1280x1280', '2048x2048', '2880x2880'],
  '2:3': ['848x1280', '1360x2048', '2336x3520'],
  '3:2': ['1280x848', '2048x1360', '3520x2336'],
  '3:4': ['960x1280', '1536x2048', '2480x3312'],
  '4:3': ['1280x960', '2048x1536', '3312x2480'],
  '4:5': ['1024x1280', '1632x2048', '2560x3216'],
  '5:4': ['1280x1024', '2048x1632', '3216x2560'],
  '9:16': ['720x1280', '1152x2048', '2160x3840'],
  '16:9': ['1280x720', '2048x1152', '3840x2160'],
  '21:9': ['1280x544', '2048x864', '3840x1632'],
};

/**
 * What an aspect ratio at a resolution tier (0: 1K, 1: 2K, 2: 4K) makes: the published table above; a ratio it lacks
 * but whose transpose it has (Oxen.ai's 9:21) transposed; any other the longer edge 1280, 2048 or 3840 pixels, the
 * shorter one from the ratio, both multiples of 16.
 */
export function sizeOfRatioAndTier(ratio: string, tier: number): Resolution {
  const index = Math.max(0, Math.min(2, tier));
  const [a, b] = ratio.split(':').map(Number) as [number, number];
  const listed = PUBLISHED_TIER_SIZES[ratio]?.[index];
  if (listed !== undefined) return parseSize(listed)!;
  const transposed = PUBLISHED_TIER_SIZES[`${b}:${a}`]?.[index];
  if (transposed !== undefined) {
    const size = parseSize(transposed)!;
    return { width: size.height, height: size.width };
  }
  const long = [1280, 2048, 3840][index]!;
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
