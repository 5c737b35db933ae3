/**
 * What WaveSpeedAI's `openai/gpt-image-2` (edit and text-to-image) takes.
 *
 * Sources: the current API pages, wavespeed.ai/docs/docs-api/openai/openai-gpt-image-2-edit and
 * openai-gpt-image-2-text-to-image (read 2026-12-02): `aspect_ratio` 1:1, 3:2, 2:3, 3:4, 4:3, 4:5, 5:4, 9:16, 16:9,
 * 21:9 ("Auto-detected from input image if not specified" on edits); `resolution` 1k (default), 2k, 4k; `quality`
 * low, medium (default), high; one image per task; no mask; no `output_format` (an older llms.txt listed one and five
 * more ratios — 1:2, 2:1, 1:3, 3:1, 9:21 — that the current pages drop; the seed and an older page list only 1:1, 2:3,
 * 3:2: the newest source wins). So no output format is sent: images that arrive in another format than the row's are
 * converted on storing. A row asks for a size (or names `aspect_ratio` and `resolution_tier`); the adapter plans the
 * nearest ratio and the smallest tier that delivers it (../tier-sizes.ts) and records what it sent.
 */
import type { ModelCapabilities, ProviderModels } from '../capabilities.js';

export const WAVESPEED_MODEL = 'openai/gpt-image-2';

const GPT_IMAGE_2: ModelCapabilities = {
  model: WAVESPEED_MODEL,
  operations: ['generate', 'edit'],
  qualities: ['low', 'medium', 'high'],
  maxImages: 1,
  maxInputImages: 16,
  mask: false,
  backgrounds: [],
  transparentFormats: [],
  moderation: [],
  outputCompression: false,
  outputFormats: ['png', 'jpeg', 'webp'],
  inputTypes: ['image/png', 'image/jpeg', 'image/webp'],
  parameters: [],
  sizes: {
    kind: 'ratio-and-tier',
    ratios: ['1:1', '3:2', '2:3', '3:4', '4:3', '4:5', '5:4', '9:16', '16:9', '21:9'],
    tiers: ['1k', '2k', '4k'],
  },
  sources: ['wavespeed.ai/docs/docs-api/openai/openai-gpt-image-2-edit (2026-12-02)'],
};

/** WaveSpeedAI's models. */
export const WAVESPEED_MODELS: ProviderModels = {
  label: 'WaveSpeedAI',
  defaultModel: () => WAVESPEED_MODEL,
  models: [GPT_IMAGE_2],
};
