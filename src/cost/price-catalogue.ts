/**
 * The pricing catalogue: what one request costs on each provider, by operation, quality and size (or resolution tier).
 * The figures are data in each provider's folder (src/providers/<name>/pricing.ts, each with its source and the date it
 * was read); this engine interprets them. Where a provider publishes no figure its pricing says so and the request is
 * priced from OpenAI's token prices, labelled as an estimate. Users override any price with a pricing file
 * (./pricing-file.ts); quotes say which prices came from it.
 */
import type { ProviderName } from '../shared/config.js';
import {
  PRICED_QUALITIES,
  type PriceSource,
  type PricedQuality,
  type ProviderPricing,
  type SizeTable,
} from '../providers/pricing.js';
import { estimatedPromptTokens, inputImageTokens, outputImageTokens } from '../providers/gpt-image-tokens.js';
import { providerFacts } from '../providers/registry.js';
import { aspectRatioOf } from '../providers/size-rules.js';
import { planTier } from '../providers/tier-sizes.js';
import { loadPricingOverride, type PricingOverride } from './pricing-file.js';
import { roundUsd } from './usd.js';
import type { ImageRequest, Operation, Quality } from '../shared/job-definitions.js';
import { parseResolution, type Resolution } from '../shared/resolution.js';
import { RESOLUTION_TIERS, resolutionTier, type ResolutionTier } from './resolution-tier.js';

/** Whether `quality` has published prices. */
export function isPricedQuality(quality: Quality): quality is PricedQuality {
  return (PRICED_QUALITIES as readonly string[]).includes(quality);
}

/** What a request costs, as the catalogue sees it. */
export interface PriceQuote {
  /** USD of the whole request: its images plus billed input-image tokens. */
  usd: number;
  /** USD of one output image. */
  usdPerImage: number;
  tier: ResolutionTier;
  /** `per-image table`, `per run by quality and tier`, `token-derived`, `override` or `unpriced`. */
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
  /** Sizes of the input images where known (an unknown one is priced at the most an input can cost). */
  inputImageSizes?: ReadonlyArray<Resolution | undefined>;
  /** Characters of the prompt (its text input tokens are estimated from them); 0 when not known. */
  promptCharacters?: number;
  /** USD per image the provider's host served for this request (Oxen.ai's `pricing` object): used as is. */
  servedUsdPerImage?: number;
  /** `batch`: through the provider's Batch API, at its batch price. */
  delivery?: 'batch';
  /**
   * The host's resolution tier the request is sent at (hosts that take a ratio and a tier: the row's `sizePlan`);
   * `resolution` is then the size that tier delivers.
   */
  providerTier?: string;
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

/**
 * How a token-billed host bills the input side (prompt text and edit input images) of a request of n images: once per
 * request, or once per image (as n calls). No published source says (docs/providers.md, "Unconfirmed"): until a host's
 * own usage on an n > 1 answer has shown which (src/batch/billing-facts.ts), estimates take `per-image`, the most it
 * can cost, so a budget cap is never undershot.
 */
export type InputBilling = 'once' | 'per-image';

/** The catalogue, with the user's override applied where given. */
export class PriceCatalogue {
  private readonly inputBilling = new Map<ProviderName, InputBilling>();

  constructor(private readonly override: PricingOverride = { providers: {} }) {}

  /** Take what hosts' usage showed of how they bill the input side of n images (see {@link InputBilling}). */
  learnInputBilling(facts: Partial<Record<ProviderName, InputBilling>>): void {
    for (const [provider, billing] of Object.entries(facts) as Array<[ProviderName, InputBilling]>)
      this.inputBilling.set(provider, billing);
  }

  /** How `provider` bills the input side of n images, as learned; undefined while no usage has shown it. */
  inputBillingOf(provider: ProviderName): InputBilling | undefined {
    return this.inputBilling.get(provider);
  }

  /** Price `request` on `provider`. */
  quote(provider: ProviderName, request: PricedRequest): PriceQuote {
    const tier = resolutionTier(request.resolution);
    const overridden = this.fromOverride(provider, request, tier);
    if (overridden !== undefined) return overridden;
    if (request.servedUsdPerImage !== undefined)
      return servedQuote(provider, request.servedUsdPerImage, request, tier);
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
          ...providerFacts(provider).pricing.source,
          note: `no published price for quality "${quality}" (GPT Image 2.5); give one in a pricing file`,
        },
      };
    }
    const quote = publishedQuote(
      providerFacts(provider).pricing,
      request,
      quality,
      tier,
      this.inputBillingOf(provider),
    );
    return request.delivery === 'batch' ? atBatchPrice(provider, quote) : quote;
  }

  /**
   * Actual USD of a call from the usage a provider reported (OpenAI `usage`, openai-openapi `ImageGenUsage`): text and
   * image input tokens (cached ones at the cached rates), image output tokens at $30/M and text output tokens
   * (`output_tokens_details.text_tokens`) at $10/M; undefined when it reported none.
   */
  actualUsd(
    provider: ProviderName,
    usage: Record<string, unknown> | null | undefined,
    delivery?: 'batch',
  ): number | undefined {
    const pricing = providerFacts(provider).pricing;
    if (pricing.basis !== 'token-derived' || !pricing.published || usage === null || usage === undefined)
      return undefined;
    const prices = pricing.tokenPrices;
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
      (textInput - cachedText) * prices.textInput +
      cachedText * prices.textInputCached +
      (imageInput - cachedImage) * prices.imageInput +
      cachedImage * prices.imageInputCached +
      imageOutput * prices.imageOutput +
      textOutput * prices.textOutput;
    return roundUsd(
      delivery === 'batch' && pricing.batch !== undefined ? usd * pricing.batch.priceFactor : usd,
    );
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
  request: ImageRequest & { servedUsdPerImage?: number },
  defaultQuality: Quality,
): PriceQuote {
  // A row sent as a ratio and tier is priced at that tier and the size it delivers, not the size the row asked for.
  const planned = request.sizePlan === undefined ? undefined : parseResolution(request.sizePlan.expectedSize);
  return catalogue.quote(provider, {
    operation: request.operation,
    resolution: planned ?? parseResolution(request.resolution) ?? { width: 1024, height: 1024 },
    ...(request.sizePlan === undefined ? {} : { providerTier: request.sizePlan.tier }),
    quality: request.quality ?? defaultQuality,
    numImages: request.numImages,
    inputImageCount: request.inputImages.length,
    inputImageSizes: request.inputImages.map((_, index) =>
      parseResolution(request.inputImageSizes?.[index] ?? ''),
    ),
    promptCharacters: request.prompt.length,
    ...(request.servedUsdPerImage === undefined ? {} : { servedUsdPerImage: request.servedUsdPerImage }),
    ...(request.delivery === undefined ? {} : { delivery: request.delivery }),
  });
}

/**
 * `quote` at the provider's Batch API price (OpenAI: half). @throws Error when the provider has no Batch API (rows are
 * refused before that: src/producer/row-check.ts).
 */
function atBatchPrice(provider: ProviderName, quote: PriceQuote): PriceQuote {
  const pricing = providerFacts(provider).pricing;
  const batch = pricing.basis === 'token-derived' ? pricing.batch : undefined;
  if (batch === undefined) throw new Error(`${provider} has no Batch API price`);
  return {
    ...quote,
    usd: roundUsd(quote.usd * batch.priceFactor),
    usdPerImage: roundUsd(quote.usdPerImage * batch.priceFactor),
    basis: `${quote.basis}, Batch API`,
    source: batch.source,
  };
}

/** The quote of a request priced by what the provider's host served (its own figure, so not an estimate). */
function servedQuote(
  provider: ProviderName,
  usdPerImage: number,
  request: PricedRequest,
  tier: ResolutionTier,
): PriceQuote {
  const pricing = providerFacts(provider).pricing;
  return {
    usd: roundUsd(usdPerImage * request.numImages),
    usdPerImage,
    tier,
    basis: 'served by the host',
    estimate: false,
    override: false,
    source: ('servedPriceSource' in pricing ? pricing.servedPriceSource : undefined) ?? pricing.source,
  };
}

/** The quote of `request` from a provider's published `pricing` at a priced `quality`. */
function publishedQuote(
  pricing: ProviderPricing,
  request: PricedRequest,
  quality: PricedQuality,
  tier: ResolutionTier,
  inputBilling: InputBilling | undefined,
): PriceQuote {
  const quote = (usdPerImage: number, extraUsd: number, estimate: boolean): PriceQuote => ({
    usd: roundUsd(usdPerImage * request.numImages + extraUsd),
    usdPerImage,
    tier,
    basis: pricing.basis,
    estimate,
    override: false,
    source: pricing.source,
  });
  switch (pricing.basis) {
    case 'per-image table': {
      const price = tablePrice(pricing.table, request.resolution, quality);
      return quote(price.usd, 0, !price.exact);
    }
    case 'per run by quality and tier': {
      const tier = pricedTier(request, pricing.tiers);
      const cell = pricing.published.find((entry) => entry.quality === quality && entry.tier === tier);
      if (cell !== undefined) return { ...quote(cell.usd, 0, false), source: cell.source };
      const scale = pricing.scaleFrom;
      const ratio =
        (outputImageTokens(request.resolution, quality) ?? 0) /
        (outputImageTokens(scale.size, scale.quality) ?? 1);
      // Never below a published cell of a lower-or-equal quality and tier: more never costs less.
      const rank = (list: readonly string[], value: string) => list.indexOf(value);
      const floor = pricing.published
        .filter(
          (entry) =>
            rank(PRICED_QUALITIES, entry.quality) <= rank(PRICED_QUALITIES, quality) &&
            rank(pricing.tiers, entry.tier) <= rank(pricing.tiers, tier),
        )
        .reduce((highest, entry) => Math.max(highest, entry.usd), pricing.minimumUsd);
      return quote(Math.max(floor, roundUsd(scale.usd * ratio)), 0, true);
    }
    case 'token-derived': {
      // The input side (prompt, edit inputs) per image unless the host's usage showed it is billed once per request.
      const prices = pricing.tokenPrices;
      let output = (outputImageTokens(request.resolution, quality) ?? 0) * prices.imageOutput;
      if (pricing.roundPerImageUpToCent) output = Math.ceil(roundUsd(output * 100)) / 100;
      const inputSizes = Array.from(
        { length: request.inputImageCount },
        (_, index) => request.inputImageSizes?.[index],
      );
      const inputs =
        request.operation === 'edit'
          ? inputSizes.reduce((sum, size) => sum + inputImageTokens(size), 0) * prices.imageInput
          : 0;
      const inputSizeUnknown = request.operation === 'edit' && inputSizes.some((size) => size === undefined);
      const text =
        request.promptCharacters === undefined
          ? 0
          : estimatedPromptTokens(request.promptCharacters) * prices.textInput;
      const estimate =
        !pricing.published || inputSizeUnknown || (request.numImages > 1 && inputBilling === undefined);
      if (inputBilling === 'once') return quote(output, inputs + text, estimate);
      return quote(output + inputs + text, 0, estimate);
    }
  }
}

/**
 * The tier of `tiers` a request is billed at: the one it is sent at, else the smallest that delivers its size at its own
 * shape (./providers/tier-sizes.ts), else the largest.
 */
function pricedTier(request: PricedRequest, tiers: readonly string[]): string {
  const sent = tiers.find((tier) => tier.toLowerCase() === request.providerTier?.toLowerCase());
  if (sent !== undefined) return sent;
  const plan = planTier(
    request.resolution,
    { ratios: [aspectRatioOf(request.resolution)], tiers },
    new Map(),
  );
  return 'problem' in plan ? (tiers.at(-1) ?? '') : plan.tier;
}
