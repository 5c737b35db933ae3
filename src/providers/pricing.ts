/**
 * How a provider's prices are declared (src/providers/<name>/pricing.ts): data, each figure with its source and the date
 * it was read. The cost engine (src/cost/price-catalogue.ts) interprets them.
 */
import type { Resolution } from '../shared/resolution.js';

/** Where a figure comes from. */
export interface PriceSource {
  url: string;
  /** Date the figure was read (ISO date). */
  readOn: string;
  note?: string;
}

/** Qualities that have published prices. `xhigh` and `max` (GPT Image 2.5) have none yet: such rows are unpriced. */
export const PRICED_QUALITIES = ['low', 'medium', 'high'] as const;
export type PricedQuality = (typeof PRICED_QUALITIES)[number];

/** USD per image by size (long edge × short edge) and quality. */
export type SizeTable = ReadonlyArray<{ size: Resolution; usd: Record<PricedQuality, number> }>;

/** USD per token of each kind (what a reported `usage` is priced at). */
export interface TokenPrices {
  textInput: number;
  textInputCached: number;
  imageInput: number;
  imageInputCached: number;
  imageOutput: number;
  textOutput: number;
}

/** How a provider bills GPT Image requests. */
export type ProviderPricing =
  | {
      /** A published per-image table by size and quality (the nearest listed size is an estimate). */
      basis: 'per-image table';
      table: SizeTable;
      source: PriceSource;
    }
  | {
      /**
       * A price per run (one image) by quality and the provider's resolution tier (WaveSpeedAI). `published` holds the
       * figures the provider publishes; a cell it does not publish is estimated from `scaleFrom` (a published cell)
       * by the ratio of GPT Image 2's output tokens, never below `minimumUsd` (the provider's "from" price) nor below a
       * published cell of a lower-or-equal quality and tier.
       */
      basis: 'per run by quality and tier';
      /** The provider's tiers, smallest first, in its own spelling (e.g. `1k`, `2k`, `4k`). */
      tiers: readonly string[];
      published: ReadonlyArray<{ quality: PricedQuality; tier: string; usd: number; source: PriceSource }>;
      scaleFrom: { quality: PricedQuality; size: Resolution; usd: number };
      minimumUsd: number;
      source: PriceSource;
      /** Where a price the host serves comes from (WaveSpeedAI's pricing endpoint), for rows priced from it. */
      servedPriceSource?: PriceSource;
    }
  | {
      /**
       * Priced from GPT Image 2's tokens (./gpt-image-tokens.ts): image output tokens from size and quality, image
       * input tokens of each edit input, text input tokens of the prompt. `published`: whether the provider itself
       * bills these tokens (else the figures only estimate an unpublished price); `roundPerImageUpToCent`: whether
       * the provider rounds each image's price up to the cent (fal.ai).
       */
      basis: 'token-derived';
      tokenPrices: TokenPrices;
      published: boolean;
      roundPerImageUpToCent: boolean;
      source: PriceSource;
      /** Where a price the host serves comes from (Oxen.ai's model `pricing` object), for rows priced from it. */
      servedPriceSource?: PriceSource;
      /** The share of the price a Batch API request pays (OpenAI: 0.5), with its source; absent: no Batch API. */
      batch?: { priceFactor: number; source: PriceSource };
    };
