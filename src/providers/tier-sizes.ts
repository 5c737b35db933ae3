/**
 * Sizes of hosts that take an aspect ratio and a resolution tier (`1K`/`2K`/`4K`) instead of pixels: Oxen.ai and
 * WaveSpeedAI. Neither publishes the pixel size of a tier at a ratio (Oxen-AI/docs models/gpt-image-2.mdx: "Higher
 * tiers render more pixels"; wavespeed.ai/docs/docs-api/openai/openai-gpt-image-2-edit: "Output resolution: 1k
 * (default), 2k, or 4k"; read 2026-12-02). So a row's size is planned under the reading of the tier names that cannot
 * deliver fewer pixels than it promises — the longer edge is 1024, 2048 or 3840 pixels, the shorter one follows from
 * the ratio rounded down to a multiple of 16, and the whole stays within GPT Image 2's largest output (8,294,400
 * pixels, openai-openapi `CreateImageRequest.size`) — and corrected by what hosts actually deliver: the workers record
 * the delivered width × height per host × ratio × tier (src/batch/tier-size-book.ts) and later rows are planned (and
 * priced) from those. Other readings of "1K" (about a megapixel; 1024 on the shorter edge) all give more pixels.
 */
import type { SizePlan } from '../shared/job-definitions.js';
import type { Resolution } from '../shared/resolution.js';
import { nearestAspectRatio } from './size-rules.js';

/** Longer edge of each tier under the pessimistic reading, smallest tier first. */
const ASSUMED_LONG_EDGES = [1024, 2048, 3840] as const;
/** GPT Image 2's largest output in pixels (3840x2160; openai-openapi `CreateImageRequest.size`). */
const MAX_OUTPUT_PIXELS = 8_294_400;
const STEP = 16;

/** Sizes delivered by a host, by {@link tierSizeKey}; the smallest seen of each. */
export type TierSizeBook = ReadonlyMap<string, Resolution>;

/** The key of a ratio at a tier in a {@link TierSizeBook}, e.g. `2:3@2K`. */
export function tierSizeKey(aspectRatio: string, tier: string): string {
  return `${aspectRatio}@${tier}`;
}

/** `a:b` as two numbers, or undefined for anything else (such as `auto`). */
function ratioParts(aspectRatio: string): [number, number] | undefined {
  const match = /^(\d+):(\d+)$/.exec(aspectRatio);
  return match === null ? undefined : [Number(match[1]), Number(match[2])];
}

/**
 * The size `aspectRatio` at the tier of index `tierIndex` (0: 1K, 1: 2K, 2: 4K) delivers at least, under the reading
 * that cannot deliver fewer pixels (see the file's comment). `auto` is read as 1:1.
 */
export function assumedTierSize(aspectRatio: string, tierIndex: number): Resolution {
  const [a, b] = ratioParts(aspectRatio) ?? [1, 1];
  const index = Math.max(0, Math.min(ASSUMED_LONG_EDGES.length - 1, tierIndex));
  const ratio = Math.max(a, b) / Math.min(a, b);
  const floorToStep = (value: number) => Math.max(STEP, Math.floor(value / STEP) * STEP);
  let long: number = ASSUMED_LONG_EDGES[index]!;
  if (long * (long / ratio) > MAX_OUTPUT_PIXELS) long = floorToStep(Math.sqrt(MAX_OUTPUT_PIXELS * ratio));
  const short = floorToStep(long / ratio);
  return a >= b ? { width: long, height: short } : { width: short, height: long };
}

/** The ratio and tier a request is sent with, and the size they deliver (as far as image-batch knows). */
export interface TierPlan {
  aspectRatio: string;
  /** The tier in the host's own spelling (`2K`, `2k`). */
  tier: string;
  /** The size the ratio at that tier delivers: learned from the host, else the pessimistic reading. */
  expectedSize: Resolution;
  /** True when `expectedSize` was learned from images the host delivered. */
  learned: boolean;
}

/** A plan as job data keeps it (`ImageJobData.sizePlan`: the expected size as `WIDTHxHEIGHT`). */
export function sizePlanOf(plan: TierPlan): SizePlan {
  return {
    aspectRatio: plan.aspectRatio,
    tier: plan.tier,
    expectedSize: `${plan.expectedSize.width}x${plan.expectedSize.height}`,
  };
}

/** The size `aspectRatio` at `tiers[index]` delivers: learned where known, else assumed. */
export function expectedTierSize(
  aspectRatio: string,
  tiers: readonly string[],
  index: number,
  book: TierSizeBook,
): { size: Resolution; learned: boolean } {
  const learned = book.get(tierSizeKey(aspectRatio, tiers[index] ?? ''));
  return learned === undefined
    ? { size: assumedTierSize(aspectRatio, index), learned: false }
    : { size: learned, learned: true };
}

/**
 * Plan `size` on a host of `ratios` × `tiers`: the ratio nearest to its shape, and the smallest tier that delivers at
 * least its width and height there. `{ problem }` when even the largest tier delivers less (the row must not be sent:
 * it would get fewer pixels than it asks for).
 */
export function planTier(
  size: Resolution,
  rule: { ratios: readonly string[]; tiers: readonly string[] },
  book: TierSizeBook,
): TierPlan | { problem: string } {
  const aspectRatio = nearestAspectRatio(size, rule.ratios);
  let largest: { size: Resolution; learned: boolean } | undefined;
  for (let index = 0; index < rule.tiers.length; index += 1) {
    const expected = expectedTierSize(aspectRatio, rule.tiers, index, book);
    if (expected.size.width >= size.width && expected.size.height >= size.height)
      return {
        aspectRatio,
        tier: rule.tiers[index]!,
        expectedSize: expected.size,
        learned: expected.learned,
      };
    largest = expected;
  }
  const delivered = largest === undefined ? 'nothing' : `${largest.size.width}x${largest.size.height}`;
  return {
    problem:
      `the largest tier (${rule.tiers.at(-1) ?? '?'}) at the nearest aspect ratio ${aspectRatio} delivers ` +
      `${delivered}${largest?.learned === true ? ' (as delivered before)' : ' (at least, by our reading of the tier)'}, ` +
      `fewer pixels than ${size.width}x${size.height}: ask for a smaller size, or name aspect_ratio and resolution_tier`,
  };
}

/**
 * Plan a row that names its `aspectRatio` and/or `tier` itself (manifest fields `aspect_ratio`, `resolution_tier`):
 * a missing ratio is the nearest to `size`, a missing tier the smallest; tiers match case-insensitively.
 * `{ problem, field }` when the host does not take a named value.
 */
export function planNamedTier(
  size: Resolution,
  named: { aspectRatio?: string; tier?: string },
  rule: { ratios: readonly string[]; tiers: readonly string[]; auto?: boolean },
  book: TierSizeBook,
): TierPlan | { problem: string; field: string } {
  const aspectRatio = named.aspectRatio ?? nearestAspectRatio(size, rule.ratios);
  const ratioTaken = rule.ratios.includes(aspectRatio) || (aspectRatio === 'auto' && rule.auto === true);
  if (!ratioTaken)
    return {
      field: 'aspect_ratio',
      problem: `aspect_ratio is one of ${[...(rule.auto === true ? ['auto'] : []), ...rule.ratios].join(', ')} (got ${aspectRatio})`,
    };
  const index =
    named.tier === undefined
      ? 0
      : rule.tiers.findIndex((tier) => tier.toLowerCase() === named.tier!.toLowerCase());
  if (index < 0)
    return {
      field: 'resolution_tier',
      problem: `resolution_tier is one of ${rule.tiers.join(', ')} (got ${named.tier})`,
    };
  const expected = expectedTierSize(aspectRatio, rule.tiers, index, book);
  return { aspectRatio, tier: rule.tiers[index]!, expectedSize: expected.size, learned: expected.learned };
}
