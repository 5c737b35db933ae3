/**
 * GPT Image 2's token prices as OpenAI publishes them, and the per-image figures derived from them: OpenAI bills them,
 * and providers that publish no price of their own (Oxen.ai, Replicate) are estimated from them.
 */
import type { Quality } from '../shared/job-definitions.js';
import type { Resolution } from '../shared/resolution.js';
import type { PriceSource, ProviderPricing, SizeTable, TokenPrices } from './pricing.js';

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

/**
 * Quality factors of GPT Image 2's output-token formula. OpenAI publishes no formula; this one, read from the logic of
 * OpenAI's own pricing calculator, reproduces its examples (1024x1024 high 7,024 tokens, 1536x1024 high 5,488,
 * 1792x1024 high 5,063, 3584x2048 high 12,329; 960x720 low 130, 976x704 low 129):
 * community.openai.com/t/gpt-image-2-output-pricing-calculator-online-and-in-your-code/1382699 (examples:
 * community.openai.com/t/…/1379464 and /1381388). GPT Image 2.5's `xhigh` and `max` have no factor in any source.
 */
const QUALITY_AXIS_FACTORS: Partial<Record<Quality, number>> = { low: 16, medium: 48, high: 96 };

/**
 * Image output tokens of one image of `size` at `quality` (see {@link QUALITY_AXIS_FACTORS}): with q the quality factor,
 * s = ⌊(2·q·short + long) / (2·long)⌋ and tokens = ⌈q·s·(2,000,000 + W·H) / 4,000,000⌉. Undefined for a quality no
 * source prices (`xhigh`, `max`).
 */
export function outputImageTokens(size: Resolution, quality: Quality): number | undefined {
  const factor = QUALITY_AXIS_FACTORS[quality];
  if (factor === undefined) return undefined;
  const long = Math.max(size.width, size.height);
  const short = Math.min(size.width, size.height);
  const shortAxisFactor = Math.floor((2 * factor * short + long) / (2 * long));
  return Math.ceil((factor * shortAxisFactor * (2_000_000 + size.width * size.height)) / 4_000_000);
}

/** Most 32 px patches an edit input image is billed for (the patch budget). */
export const INPUT_IMAGE_PATCH_BUDGET = 1536;

/**
 * Image input tokens of one edit input image of `size` (each input billed alone; output size and quality do not
 * matter), as measured over a hundred edits: the image is magnified (at most 2x) toward a 1,024 px long side, its
 * canvas capped at 3:1, then counted in 32 px patches, shrunk to fit a budget of 1,536 patches the way OpenAI's
 * published patch-based vision pricing does (community.openai.com/t/openai-must-document-the-input-image-pricing-of-
 * gpt-image-2/1382940; shared/reference/providers.md "measured near 1,024–1,536 tokens each"). When the size is not
 * known (an input URL not read before the call), the budget: an estimate that errs high.
 */
export function inputImageTokens(size?: Resolution): number {
  if (size === undefined || size.width <= 0 || size.height <= 0) return INPUT_IMAGE_PATCH_BUDGET;
  let width = size.width;
  let height = size.height;
  const long = Math.max(width, height);
  if (long < 1024) {
    const magnify = Math.min(2, 1024 / long);
    width *= magnify;
    height *= magnify;
  }
  // The billing canvas is at most 3:1.
  if (width > 3 * height) height = width / 3;
  if (height > 3 * width) width = height / 3;
  const patches = Math.ceil(width / 32) * Math.ceil(height / 32);
  if (patches <= INPUT_IMAGE_PATCH_BUDGET) return patches;
  let shrink = Math.sqrt((INPUT_IMAGE_PATCH_BUDGET * 32 * 32) / (width * height));
  shrink *= Math.min(
    Math.floor((width * shrink) / 32) / ((width * shrink) / 32),
    Math.floor((height * shrink) / 32) / ((height * shrink) / 32),
  );
  return Math.ceil(Math.floor(width * shrink) / 32) * Math.ceil(Math.floor(height * shrink) / 32);
}

/** Text tokens of a prompt, estimated at 4 characters a token (OpenAI's rule of thumb for English), at least 1. */
export function estimatedPromptTokens(characters: number): number {
  return Math.max(1, Math.ceil(characters / 4));
}

/**
 * The per-image GPT Image 2 prices OpenAI's figures give, as published by third parties (fal.ai's model page,
 * tokenmix.ai, ai-primer.com; shared/reference/providers.md §1). Not used to price: the tests check that the token
 * formula above reproduces them.
 */
export const OPENAI_PRICE_TABLE: SizeTable = [
  { size: { width: 1024, height: 1024 }, usd: { low: 0.006, medium: 0.053, high: 0.211 } },
  { size: { width: 1536, height: 1024 }, usd: { low: 0.005, medium: 0.042, high: 0.165 } },
  { size: { width: 1920, height: 1080 }, usd: { low: 0.005, medium: 0.04, high: 0.158 } },
  { size: { width: 2560, height: 1440 }, usd: { low: 0.007, medium: 0.056, high: 0.222 } },
  { size: { width: 3840, height: 2160 }, usd: { low: 0.012, medium: 0.101, high: 0.401 } },
];

/** The pricing of a provider that publishes no figure of its own: OpenAI's token prices, as an estimate. */
export function estimatedFromOpenAI(
  label: string,
  reference: string,
): Extract<ProviderPricing, { basis: 'token-derived' }> {
  return {
    basis: 'token-derived',
    tokenPrices: OPENAI_TOKEN_PRICES,
    published: false,
    roundPerImageUpToCent: false,
    source: {
      ...OPENAI_PRICE_PAGE,
      note: `${label} publishes no per-image price (${reference}); estimated from OpenAI's token prices`,
    },
  };
}
