/**
 * The pricing catalogue: what one request costs on each provider, by model, operation, quality and size (or
 * resolution tier), each figure with its source and the date it was read. Where a provider publishes no figure the
 * catalogue says so and prices the request from OpenAI's token prices, labelled as an estimate. Users override any
 * price with a pricing file (./pricing-file.ts); quotes say which prices came from it.
 */
import type { ProviderName } from '../shared/config.js';
import { loadPricingOverride, type PricingOverride } from './pricing-file.js';
import { roundUsd } from './usd.js';
import type { ImageRequest, Operation, Quality } from '../shared/job-definitions.js';
import { parseResolution, type Resolution } from '../shared/resolution.js';
import { RESOLUTION_TIERS, resolutionTier, type ResolutionTier } from './resolution-tier.js';

/** Where a figure comes from. */
export interface PriceSource {
  url: string;
  /** Date the figure was read (ISO date). */
  readOn: string;
  note?: string;
}

const FAL_PAGE: PriceSource = {
  url: 'https://fal.ai/models/openai/gpt-image-2/edit',
  readOn: '2026-11-21',
  note: 'GPT Image 2 price table by size and quality, rounded up to the cent (shared/seeds/fal-gpt-image-2-edit.txt)',
};
const OPENAI_PAGE: PriceSource = {
  url: 'https://openai.com/api/pricing/',
  readOn: '2026-11-21',
  note:
    'token prices $5/M text input ($1.25 cached), $8/M image input ($2 cached), $30/M image output; per-image ' +
    'figures token-derived (tokenmix.ai, ai-primer.com citing OpenAI; shared/reference/providers.md §1)',
};
const WAVESPEED_PAGE: PriceSource = {
  url: 'https://wavespeed.ai/models/openai/gpt-image-2/edit',
  readOn: '2026-11-21',
  note: '"$0.1 per run" (shared/seeds/wavespeed-gpt-image-2-edit.txt)',
};

/** OpenAI token prices, USD per token. Source: {@link OPENAI_PAGE}. */
export const OPENAI_TOKEN_PRICES = {
  textInput: 5 / 1e6,
  textInputCached: 1.25 / 1e6,
  imageInput: 8 / 1e6,
  imageInputCached: 2 / 1e6,
  imageOutput: 30 / 1e6,
  /** Text output tokens (`output_tokens_details.text_tokens`): $10/M (fal.ai's GPT Image 2 page, shared/seeds). */
  textOutput: 10 / 1e6,
} as const;

/** Image input tokens we count per input image of an edit: our estimate (OpenAI publishes no fixed figure). */
export const ESTIMATED_TOKENS_PER_INPUT_IMAGE = 323;

/** Qualities that have published prices. `xhigh` and `max` (GPT Image 2.5) have none yet: such rows are unpriced. */
export const PRICED_QUALITIES = ['low', 'medium', 'high'] as const;
export type PricedQuality = (typeof PRICED_QUALITIES)[number];

/** Whether `quality` has published prices. */
export function isPricedQuality(quality: Quality): quality is PricedQuality {
  return (PRICED_QUALITIES as readonly string[]).includes(quality);
}

type SizeTable = ReadonlyArray<{ size: Resolution; usd: Record<PricedQuality, number> }>;

/** fal.ai's GPT Image 2 table, USD per image. Source: {@link FAL_PAGE}. */
export const FAL_PRICE_TABLE: SizeTable = [
  { size: { width: 1024, height: 768 }, usd: { low: 0.01, medium: 0.04, high: 0.15 } },
  { size: { width: 1024, height: 1024 }, usd: { low: 0.01, medium: 0.06, high: 0.22 } },
  { size: { width: 1536, height: 1024 }, usd: { low: 0.01, medium: 0.05, high: 0.17 } },
  { size: { width: 1920, height: 1080 }, usd: { low: 0.01, medium: 0.04, high: 0.16 } },
  { size: { width: 2560, height: 1440 }, usd: { low: 0.01, medium: 0.06, high: 0.23 } },
  { size: { width: 3840, height: 2160 }, usd: { low: 0.02, medium: 0.11, high: 0.41 } },
];

/** OpenAI's token-derived GPT Image 2 prices, USD per image. Source: {@link OPENAI_PAGE}. */
export const OPENAI_PRICE_TABLE: SizeTable = [
  { size: { width: 1024, height: 1024 }, usd: { low: 0.006, medium: 0.053, high: 0.211 } },
  { size: { width: 1536, height: 1024 }, usd: { low: 0.005, medium: 0.042, high: 0.165 } },
  { size: { width: 1920, height: 1080 }, usd: { low: 0.005, medium: 0.04, high: 0.158 } },
  { size: { width: 2560, height: 1440 }, usd: { low: 0.007, medium: 0.056, high: 0.222 } },
  { size: { width: 3840, height: 2160 }, usd: { low: 0.012, medium: 0.101, high: 0.401 } },
];

/** WaveSpeedAI's price per run (one image). Source: {@link WAVESPEED_PAGE}. */
export const WAVESPEED_PRICE_PER_RUN = 0.1;

/** What a request costs, as the catalogue sees it. */
export interface PriceQuote {
  /** USD of the whole request: its images plus billed input-image tokens. */
  usd: number;
  /** USD of one output image. */
  usdPerImage: number;
  tier: ResolutionTier;
  /** `per-image table`, `per run`, `token-derived`, or `override`. */
  basis: string;
  /** True when the provider publishes no figure for this request (derived, or the nearest size). */
  estimate: boolean;
  /** True when the price came from the user's pricing file. */
  override: boolean;
  /**
   * True when no published figure prices the request (e.g. GPT Image 2.5 `xhigh`/`max`): `usd` is then 0 and must
   * not be read as free — reports say "unpriced", and a batch with a budget cap refuses such rows.
   */
  unpriced?: boolean;
  source: PriceSource;
}

/** What the catalogue needs of a request. */
export interface PricedRequest {
  operation: Operation;
  resolution: Resolution;
  quality: Quality;
  numImages: number;
  inputImageCount: number;
}

/**
 * The price in `table` for `size` at `quality`: exact when the size (either orientation) is listed, else the smallest
 * listed size of the same tier with at least as many pixels (the tier's largest when none), so estimates err high.
 */
export function tablePrice(
  table: SizeTable,
  size: Resolution,
  quality: PricedQuality,
): { usd: number; exact: boolean } {
  const longEdge = Math.max(size.width, size.height);
  const shortEdge = Math.min(size.width, size.height);
  const exact = table.find((entry) => entry.size.width === longEdge && entry.size.height === shortEdge);
  if (exact !== undefined) return { usd: exact.usd[quality], exact: true };
  const tier = resolutionTier(size);
  const pixels = size.width * size.height;
  const sameTier = table
    .filter((entry) => resolutionTier(entry.size) === tier)
    .sort((a, b) => a.size.width * a.size.height - b.size.width * b.size.height);
  const candidates = sameTier.length > 0 ? sameTier : [...table];
  const entry =
    candidates.find((candidate) => candidate.size.width * candidate.size.height >= pixels) ??
    candidates.at(-1)!;
  return { usd: entry.usd[quality], exact: false };
}

/** The catalogue, with the user's override applied where given. */
export class PriceCatalogue {
  constructor(private readonly override: PricingOverride = { providers: {} }) {}

  /** Price `request` on `provider`. */
  quote(provider: ProviderName, request: PricedRequest): PriceQuote {
    const tier = resolutionTier(request.resolution);
    const overridden = this.fromOverride(provider, request, tier);
    if (overridden !== undefined) return overridden;
    const quality = request.quality;
    if (!isPricedQuality(quality)) {
      return {
        usd: 0,
        usdPerImage: 0,
        tier,
        basis: 'unpriced',
        estimate: true,
        override: false,
        unpriced: true,
        source: {
          ...OPENAI_PAGE,
          note: `no published price for quality "${quality}" (GPT Image 2.5); give one in a pricing file`,
        },
      };
    }
    const inputTokensUsd = (count: number) =>
      count * ESTIMATED_TOKENS_PER_INPUT_IMAGE * OPENAI_TOKEN_PRICES.imageInput;
    const result = (
      usdPerImage: number,
      extraUsd: number,
      rest: Omit<PriceQuote, 'usd' | 'usdPerImage' | 'tier' | 'override'>,
    ) => ({
      usd: roundUsd(usdPerImage * request.numImages + extraUsd),
      usdPerImage,
      tier,
      override: false,
      ...rest,
    });
    switch (provider) {
      case 'fal': {
        const price = tablePrice(FAL_PRICE_TABLE, request.resolution, quality);
        return result(price.usd, 0, { basis: 'per-image table', estimate: !price.exact, source: FAL_PAGE });
      }
      case 'openai': {
        const price = tablePrice(OPENAI_PRICE_TABLE, request.resolution, quality);
        const inputs = request.operation === 'edit' ? inputTokensUsd(request.inputImageCount) : 0;
        return result(price.usd, inputs, {
          basis: 'token-derived',
          estimate: !price.exact || inputs > 0,
          source: OPENAI_PAGE,
        });
      }
      case 'wavespeed':
        return result(WAVESPEED_PRICE_PER_RUN, 0, {
          basis: 'per run',
          estimate: request.operation !== 'edit',
          source: WAVESPEED_PAGE,
        });
      case 'oxen':
      case 'replicate': {
        // No published amount (providers.md §3, §4): OpenAI's token-derived price, as an estimate.
        const price = tablePrice(OPENAI_PRICE_TABLE, request.resolution, quality);
        const inputs = request.operation === 'edit' ? inputTokensUsd(request.inputImageCount) : 0;
        return result(price.usd, inputs, {
          basis: 'token-derived',
          estimate: true,
          source: {
            ...OPENAI_PAGE,
            note: `${provider} publishes no per-image price; estimated from OpenAI's token prices`,
          },
        });
      }
    }
  }

  /**
   * Actual USD of a call from the usage a provider reported (OpenAI `usage`, openai-openapi `ImageGenUsage`): text and
   * image input tokens (cached ones at the cached rates), image output tokens at $30/M and text output tokens
   * (`output_tokens_details.text_tokens`) at $10/M; undefined when it reported none.
   */
  actualUsd(provider: ProviderName, usage: Record<string, unknown> | null | undefined): number | undefined {
    if (provider !== 'openai' || usage === null || usage === undefined) return undefined;
    const number = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? value : 0);
    const details = (usage.input_tokens_details ?? {}) as Record<string, unknown>;
    const imageInput = number(details.image_tokens);
    const textInput = number(details.text_tokens) || Math.max(0, number(usage.input_tokens) - imageInput);
    const cachedText = number(details.cached_text_tokens ?? details.cached_tokens);
    const cachedImage = number(details.cached_image_tokens);
    const output = (usage.output_tokens_details ?? {}) as Record<string, unknown>;
    const textOutput = number(output.text_tokens);
    const imageOutput =
      output.image_tokens === undefined
        ? Math.max(0, number(usage.output_tokens) - textOutput)
        : number(output.image_tokens);
    const usd =
      (textInput - cachedText) * OPENAI_TOKEN_PRICES.textInput +
      cachedText * OPENAI_TOKEN_PRICES.textInputCached +
      (imageInput - cachedImage) * OPENAI_TOKEN_PRICES.imageInput +
      cachedImage * OPENAI_TOKEN_PRICES.imageInputCached +
      imageOutput * OPENAI_TOKEN_PRICES.imageOutput +
      textOutput * OPENAI_TOKEN_PRICES.textOutput;
    return roundUsd(usd);
  }

  private fromOverride(
    provider: ProviderName,
    request: PricedRequest,
    tier: ResolutionTier,
  ): PriceQuote | undefined {
    const entry = this.override.providers[provider];
    if (entry?.per_image_usd === undefined) return undefined;
    const table = entry.per_image_usd;
    let perImage: number | undefined;
    if (typeof table === 'number') perImage = table;
    else if (RESOLUTION_TIERS.some((name) => name in table))
      perImage = (table as Partial<Record<ResolutionTier, number>>)[tier];
    else {
      const size = `${request.resolution.width}x${request.resolution.height}`;
      const value = (table as Record<string, number | Partial<Record<Quality, number>>>)[size];
      perImage = typeof value === 'number' ? value : value?.[request.quality];
    }
    if (perImage === undefined) return undefined;
    const inputs =
      request.operation === 'edit' ? (entry.per_input_image_usd ?? 0) * request.inputImageCount : 0;
    return {
      usd: roundUsd(perImage * request.numImages + inputs),
      usdPerImage: perImage,
      tier,
      basis: 'override',
      estimate: false,
      override: true,
      source: {
        url: 'pricing file',
        readOn: '',
        ...(entry.source === undefined ? {} : { note: entry.source }),
      },
    };
  }
}

/**
 * The price catalogue with the pricing file applied, if one is given, and the file's content as JSON (stored with the
 * batch so that every worker prices alike). @throws ConfigurationError naming the file and every bad field.
 */
export async function loadCatalogue(
  pricingFile: string | undefined,
): Promise<{ catalogue: PriceCatalogue; overrideJson: string | undefined }> {
  if (pricingFile === undefined) return { catalogue: new PriceCatalogue(), overrideJson: undefined };
  const override = await loadPricingOverride(pricingFile);
  return { catalogue: new PriceCatalogue(override), overrideJson: JSON.stringify(override) };
}

/**
 * The quote of an image request (a row's job data) on `provider`: its size, images and inputs as asked, at its quality
 * or — when it names none — the quality the provider uses by default (and bills).
 */
export function quoteRequest(
  catalogue: PriceCatalogue,
  provider: ProviderName,
  request: ImageRequest,
  defaultQuality: Quality,
): PriceQuote {
  return catalogue.quote(provider, {
    operation: request.operation,
    resolution: parseResolution(request.resolution) ?? { width: 1024, height: 1024 },
    quality: request.quality ?? defaultQuality,
    numImages: request.numImages,
    inputImageCount: request.inputImages.length,
  });
}
