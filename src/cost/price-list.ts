/**
 * The catalogue as people read it (`image-batch prices`): each provider's basis and sources, and what one image costs
 * at the common sizes and each priced quality; and the cheaper-equivalent hints of `estimate` — where a size with at
 * least as many pixels costs less at the same quality on the same provider (GPT Image 2 bills output tokens, which
 * fall for wide sizes: 1536x1024 high is 5,488 tokens, 1024x1024 high 7,024).
 */
import type { ProviderName } from '../shared/config.js';
import { PROVIDER_NAMES } from '../shared/config.js';
import type { Operation, Quality } from '../shared/job-definitions.js';
import { parseResolution, type Resolution } from '../shared/resolution.js';
import { PRICED_QUALITIES, type PriceSource, type PricedQuality } from '../providers/pricing.js';
import { providerFacts } from '../providers/registry.js';
import { GPT_IMAGE_2_PIXEL_LIMITS, pixelSizeProblem } from '../providers/size-rules.js';
import { isPricedQuality, type PriceCatalogue } from './price-catalogue.js';
import { resolutionTier, type ResolutionTier } from './resolution-tier.js';
import { formatUsd } from './usd.js';

/** Sizes the price list shows (either orientation prices the same). */
export const COMMON_SIZES = ['1024x1024', '1536x1024', '1024x1536', '1920x1080', '2560x1440', '3840x2160'];

/** One provider in the price list. */
export interface PriceListEntry {
  provider: ProviderName;
  label: string;
  basis: string;
  source: PriceSource;
  /** USD of one generated image by size and quality; `estimate` when the provider publishes no such figure. */
  sizes: Array<{
    size: string;
    tier: ResolutionTier;
    usd: Record<PricedQuality, number>;
    estimate: Record<PricedQuality, boolean>;
  }>;
  /** The most one edit input image adds (its size unknown), USD; 0 where inputs are not billed apart. */
  editInputUsdAtMost: number;
  /** True when the user's pricing file sets this provider's prices. */
  override: boolean;
}

/** The price list of `catalogue` (with the user's pricing file applied). */
export function priceList(catalogue: PriceCatalogue): PriceListEntry[] {
  return PROVIDER_NAMES.map((provider) => {
    const facts = providerFacts(provider);
    const quoteOf = (size: Resolution, quality: PricedQuality, operation: Operation = 'generate') =>
      catalogue.quote(provider, {
        operation,
        resolution: size,
        quality,
        numImages: 1,
        inputImageCount: operation === 'edit' ? 1 : 0,
      });
    const sizes = COMMON_SIZES.map((text) => {
      const size = parseResolution(text)!;
      const usd = {} as Record<PricedQuality, number>;
      const estimate = {} as Record<PricedQuality, boolean>;
      for (const quality of PRICED_QUALITIES) {
        const quote = quoteOf(size, quality);
        usd[quality] = quote.usd;
        estimate[quality] = quote.estimate;
      }
      return { size: text, tier: resolutionTier(size), usd, estimate };
    });
    const square = { width: 1024, height: 1024 };
    const edit = quoteOf(square, 'high', 'edit');
    const generate = quoteOf(square, 'high');
    return {
      provider,
      label: facts.label,
      basis: generate.basis,
      source: generate.source,
      sizes,
      editInputUsdAtMost: Math.max(0, Math.round((edit.usd - generate.usd) * 1e6) / 1e6),
      override: generate.override,
    };
  });
}

/** The price list as lines for people: per provider, its source and a table of sizes × qualities. */
export function priceListLines(entries: readonly PriceListEntry[]): string[] {
  const lines: string[] = [];
  for (const entry of entries) {
    lines.push(
      `${entry.label} (${entry.provider}) — ${entry.basis}${entry.override ? ', from your pricing file' : ''}`,
      `  source: ${entry.source.url}${entry.source.readOn === '' ? '' : ` (read ${entry.source.readOn})`}`,
    );
    if (entry.source.note !== undefined) lines.push(`  ${entry.source.note}`);
    lines.push(
      `  ${'size'.padEnd(11)} ${'tier'.padEnd(16)} ${PRICED_QUALITIES.map((q) => q.padStart(10)).join(' ')}`,
    );
    for (const size of entry.sizes) {
      const cells = PRICED_QUALITIES.map((quality) =>
        `${formatUsd(size.usd[quality])}${size.estimate[quality] ? '*' : ''}`.padStart(10),
      );
      lines.push(`  ${size.size.padEnd(11)} ${size.tier.padEnd(16)} ${cells.join(' ')}`);
    }
    if (entry.editInputUsdAtMost > 0)
      lines.push(
        `  each edit input image adds at most ${formatUsd(entry.editInputUsdAtMost)} (1,536 image tokens)`,
      );
    lines.push('');
  }
  lines.push('* an estimate: the provider publishes no figure for it (docs/cost.md).');
  lines.push('GPT Image 2.5 xhigh/max: unpriced (no published figure); give one in a pricing file.');
  return lines;
}

/** A size that costs less per image at the same quality on the same provider and has at least as many pixels. */
export interface CheaperEquivalent {
  resolution: string;
  usdPerImage: number;
  /** USD per image of the size asked for. */
  currentUsdPerImage: number;
}

/**
 * The cheapest size among {@link COMMON_SIZES} (either orientation) with at least as many pixels as `resolution` that
 * costs less per image on `provider` at `quality`: only where the price follows the pixels the provider produces
 * (providers billing GPT Image 2's tokens themselves), undefined otherwise or when nothing is cheaper.
 */
export function cheaperEquivalent(
  catalogue: PriceCatalogue,
  provider: ProviderName,
  request: { resolution: string; quality: Quality; operation: Operation },
): CheaperEquivalent | undefined {
  const pricing = providerFacts(provider).pricing;
  const size = parseResolution(request.resolution);
  if (pricing.basis !== 'token-derived' || !pricing.published || size === undefined) return undefined;
  if (!isPricedQuality(request.quality)) return undefined;
  const perImage = (resolution: Resolution) =>
    catalogue.quote(provider, {
      operation: 'generate',
      resolution,
      quality: request.quality,
      numImages: 1,
      inputImageCount: 0,
    }).usdPerImage;
  const current = perImage(size);
  let best: CheaperEquivalent | undefined;
  const candidates = COMMON_SIZES.flatMap((text) => {
    const [width, height] = text.split('x').map(Number) as [number, number];
    return [
      { width, height },
      { width: height, height: width },
    ];
  });
  for (const candidate of candidates) {
    if (candidate.width * candidate.height < size.width * size.height) continue;
    if (pixelSizeProblem(candidate, GPT_IMAGE_2_PIXEL_LIMITS) !== undefined) continue;
    const usd = perImage(candidate);
    if (usd < current - 1e-9 && (best === undefined || usd < best.usdPerImage))
      best = {
        resolution: `${candidate.width}x${candidate.height}`,
        usdPerImage: usd,
        currentUsdPerImage: current,
      };
  }
  return best;
}
