/**
 * What WaveSpeedAI's `openai/gpt-image-2` (edit and text-to-image) takes.
 *
 * Sources: wavespeed.ai/models/openai/gpt-image-2/edit/llms.txt (the newest published schema, shared/reference/
 * providers.md §5 and "Corrections"): `aspect_ratio` 1:1, 1:2, 2:1, 1:3, 3:1, 2:3, 3:2, 3:4, 4:3, 4:5, 5:4, 9:16, 16:9,
 * 9:21, 21:9; `resolution` 1k|2k|4k; `quality` low|medium|high (default medium); `output_format`; one image per task;
 * no mask. The seed (shared/seeds/wavespeed-gpt-image-2-edit.txt) and the older docs-api page list only 1:1, 2:3, 3:2:
 * the newer source wins. A row asks for a size; the adapter sends the nearest ratio and tier and records what it sent.
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
    ratios: [
      '1:1',
      '1:2',
      '2:1',
      '1:3',
      '3:1',
      '2:3',
      '3:2',
      '3:4',
      '4:3',
      '4:5',
      '5:4',
      '9:16',
      '16:9',
      '9:21',
      '21:9',
    ],
    tiers: ['1k', '2k', '4k'],
  },
  sources: ['wavespeed.ai/models/openai/gpt-image-2/edit/llms.txt'],
};

/** WaveSpeedAI's models. */
export const WAVESPEED_MODELS: ProviderModels = {
  label: 'WaveSpeedAI',
  defaultModel: () => WAVESPEED_MODEL,
  models: [GPT_IMAGE_2],
};
