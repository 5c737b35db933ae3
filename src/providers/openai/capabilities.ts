/**
 * What OpenAI's GPT Image models take, model by model.
 *
 * Sources: openai-openapi `CreateImageRequest` and `CreateImageEditRequest` (@f85dbe2: models gpt-image-2 and
 * gpt-image-2-2026-04-21, `n` 1–10, up to 16 png/webp/jpg inputs, mask, `background: transparent` in preview with png
 * or webp, `output_compression` with webp/jpeg only, no `moderation` on the multipart edit); GPT Image 2.5 (2026-09-08)
 * ids gpt-image-2.5-flare / gpt-image-2.5-sunburst and their dated snapshots with the `xhigh`/`max` qualities
 * (vercel/ai#20483, Portkey-AI/models#935, lobehub#19342, llmgateway#3985); sizes: size-rules.ts
 * `GPT_IMAGE_2_PIXEL_LIMITS`.
 */
import type { ModelCapabilities, ProviderModels } from '../capabilities.js';
import { GPT_IMAGE_2_PIXEL_LIMITS } from '../size-rules.js';

/** The model rows default to. */
export const OPENAI_DEFAULT_MODEL = 'gpt-image-2';

const GPT_IMAGE_2: Omit<ModelCapabilities, 'model'> = {
  operations: ['generate', 'edit'],
  qualities: ['low', 'medium', 'high'],
  maxImages: 10,
  maxInputImages: 16,
  mask: true,
  backgrounds: ['transparent', 'opaque', 'auto'],
  transparentFormats: ['png', 'webp'],
  moderation: ['generate'],
  outputCompression: true,
  outputFormats: ['png', 'jpeg', 'webp'],
  inputTypes: ['image/png', 'image/jpeg', 'image/webp'],
  parameters: [],
  sizes: { kind: 'pixels', ...GPT_IMAGE_2_PIXEL_LIMITS },
  sources: [
    'openai/openai-openapi openapi.yaml CreateImageRequest, CreateImageEditRequest (f85dbe2, 2026-08-21)',
    'fal-ai/fal-js types/endpoints.ts GptImage2Input.image_size (pixel range)',
  ],
};

const GPT_IMAGE_2_5: Omit<ModelCapabilities, 'model'> = {
  ...GPT_IMAGE_2,
  qualities: ['low', 'medium', 'high', 'xhigh', 'max'],
  sources: [
    ...GPT_IMAGE_2.sources,
    'vercel/ai#20483 (GPT Image 2.5 Flare and Sunburst ids), Portkey-AI/models#935 (xhigh, max; same token prices)',
  ],
};

/** OpenAI's models. */
export const OPENAI_MODELS: ProviderModels = {
  label: 'OpenAI',
  defaultModel: () => OPENAI_DEFAULT_MODEL,
  models: [
    { model: 'gpt-image-2', ...GPT_IMAGE_2 },
    { model: 'gpt-image-2-2026-04-21', ...GPT_IMAGE_2 },
    ...['gpt-image-2.5-flare', 'gpt-image-2.5-sunburst'].flatMap((model) => [
      { model, ...GPT_IMAGE_2_5 },
      { model: `${model}-2026-09-08`, ...GPT_IMAGE_2_5 },
    ]),
  ],
};
