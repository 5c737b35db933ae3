/**
 * GPT Image 2's token prices as OpenAI publishes them, and the per-image figures derived from them: OpenAI bills them,
 * and providers that publish no price of their own (Oxen.ai, Replicate) are estimated from them.
 */
import type { PriceSource, SizeTable, TokenPrices } from './pricing.js';

/** OpenAI's pricing page. */
export const OPENAI_PRICE_PAGE: PriceSource = {
  url: 'https://openai.com/api/pricing/',
  readOn: '2026-11-21',
  note:
    'token prices $5/M text input ($1.25 cached), $8/M image input ($2 cached), $30/M image output; per-image ' +
    'figures token-derived (tokenmix.ai, ai-primer.com citing OpenAI; shared/reference/providers.md §1)',
};

/** GPT Image 2 token prices, USD per token. Source: {@link OPENAI_PRICE_PAGE}. */
export const OPENAI_TOKEN_PRICES: TokenPrices = {
  textInput: 5 / 1e6,
  textInputCached: 1.25 / 1e6,
  imageInput: 8 / 1e6,
  imageInputCached: 2 / 1e6,
  imageOutput: 30 / 1e6,
  /** Text output tokens (`output_tokens_details.text_tokens`): $10/M (fal.ai's GPT Image 2 page, shared/seeds). */
  textOutput: 10 / 1e6,
};

/** Image input tokens we count per input image of an edit: our estimate (OpenAI publishes no fixed figure). */
export const ESTIMATED_TOKENS_PER_INPUT_IMAGE = 323;

/** OpenAI's token-derived GPT Image 2 prices, USD per image. Source: {@link OPENAI_PRICE_PAGE}. */
export const OPENAI_PRICE_TABLE: SizeTable = [
  { size: { width: 1024, height: 1024 }, usd: { low: 0.006, medium: 0.053, high: 0.211 } },
  { size: { width: 1536, height: 1024 }, usd: { low: 0.005, medium: 0.042, high: 0.165 } },
  { size: { width: 1920, height: 1080 }, usd: { low: 0.005, medium: 0.04, high: 0.158 } },
  { size: { width: 2560, height: 1440 }, usd: { low: 0.007, medium: 0.056, high: 0.222 } },
  { size: { width: 3840, height: 2160 }, usd: { low: 0.012, medium: 0.101, high: 0.401 } },
];

/** The pricing of a provider that publishes no figure of its own: OpenAI's token-derived prices, as an estimate. */
export function estimatedFromOpenAI(
  label: string,
  reference: string,
): {
  basis: 'token-derived';
  table: SizeTable;
  tokenPrices: TokenPrices;
  tokensPerInputImage: number;
  published: false;
  source: PriceSource;
} {
  return {
    basis: 'token-derived',
    table: OPENAI_PRICE_TABLE,
    tokenPrices: OPENAI_TOKEN_PRICES,
    tokensPerInputImage: ESTIMATED_TOKENS_PER_INPUT_IMAGE,
    published: false,
    source: {
      ...OPENAI_PRICE_PAGE,
      note: `${label} publishes no per-image price (${reference}); estimated from OpenAI's token prices`,
    },
  };
}
