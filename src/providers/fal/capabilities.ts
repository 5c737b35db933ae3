/**
 * What fal.ai's GPT Image 2 endpoints take.
 *
 * Sources: fal-ai/fal-js `libs/client/src/types/endpoints.ts` (@381105e) `GptImage2Input` and `GptImage2EditInput`
 * (`image_size` custom sizes: multiples of 16, max edge 3840, aspect ≤ 3:1, 655,360–8,294,400 pixels; quality
 * auto/low/medium/high; output jpeg/png/webp; `image_urls` up to 16; `mask_url`; no background, moderation, compression
 * or input_fidelity). fal-js lists only `openai/gpt-image-2` and `openai/gpt-image-2/edit` (no GPT Image 2.5).
 * `num_images` has no published maximum: we send at most 4 (UNCONFIRMED; docs/providers.md).
 */
import type { ModelCapabilities, ProviderModels } from '../capabilities.js';
import { GPT_IMAGE_2_PIXEL_LIMITS } from '../size-rules.js';

/** Text-to-image and edit endpoint ids (there is no `fal-ai/gpt-image-2`). */
export const FAL_GENERATE_APP = 'openai/gpt-image-2';
export const FAL_EDIT_APP = 'openai/gpt-image-2/edit';

const GPT_IMAGE_2: Omit<ModelCapabilities, 'model' | 'operations'> = {
  qualities: ['low', 'medium', 'high'],
  maxImages: 4,
  maxInputImages: 16,
  mask: true,
  backgrounds: [],
  transparentFormats: [],
  moderation: [],
  outputCompression: false,
  outputFormats: ['png', 'jpeg', 'webp'],
  inputTypes: ['image/png', 'image/jpeg', 'image/webp'],
  parameters: [],
  sizes: { kind: 'pixels', ...GPT_IMAGE_2_PIXEL_LIMITS },
  sources: ['fal-ai/fal-js libs/client/src/types/endpoints.ts GptImage2Input, GptImage2EditInput (381105e)'],
};

/** fal.ai's GPT Image 2 endpoints: a row may name the family (edits then go to its `/edit` endpoint) or the endpoint. */
export const FAL_MODELS: ProviderModels = {
  label: 'fal.ai',
  defaultModel: (operation) => (operation === 'edit' ? FAL_EDIT_APP : FAL_GENERATE_APP),
  models: [
    { model: FAL_GENERATE_APP, operations: ['generate', 'edit'], ...GPT_IMAGE_2 },
    { model: FAL_EDIT_APP, operations: ['edit'], ...GPT_IMAGE_2 },
  ],
};
