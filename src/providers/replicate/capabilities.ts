/**
 * What Replicate's `openai/gpt-image-2` takes.
 *
 * Sources: the model's API page as mirrored on 2026-10 (cinemasetfree.com/guides/generators/openai/gpt-image-2, the
 * newest copy of replicate.com/openai/gpt-image-2/api we have): `aspect_ratio` 1:1, 3:2, 2:3, 16:9, 9:16, auto and the
 * explicit sizes below; `number_of_images` 1–10; `background` auto/transparent/opaque; `moderation` auto/low;
 * `output_format` png/jpeg/webp (default webp); `output_compression` 0–100; `quality` low/medium/high/auto; no mask.
 * An older mirror (api.core.today llms.txt) listed only 1:1, 3:2, 2:3 and one image: the newer source wins
 * (shared/reference/providers.md, Corrections). Transparent output needs png or webp (OpenAI's rule, openai-openapi).
 */
import type { ModelCapabilities, ProviderModels } from '../capabilities.js';

export const REPLICATE_MODEL = 'openai/gpt-image-2';

/** The sizes `aspect_ratio` takes as `WIDTHxHEIGHT` (the three classic ones also as ratios). */
export const REPLICATE_SIZES = [
  '1024x1024',
  '1536x1024',
  '1024x1536',
  '2048x2048',
  '2048x1152',
  '1152x2048',
  '3840x2160',
  '2160x3840',
] as const;

/** The ratio sent for the sizes every version of the schema has taken (older schemas know only these three). */
export const REPLICATE_CLASSIC_RATIOS: Readonly<Record<string, string>> = {
  '1024x1024': '1:1',
  '1536x1024': '3:2',
  '1024x1536': '2:3',
};

const GPT_IMAGE_2: ModelCapabilities = {
  model: REPLICATE_MODEL,
  operations: ['generate', 'edit'],
  qualities: ['low', 'medium', 'high'],
  maxImages: 10,
  maxInputImages: 16,
  mask: false,
  backgrounds: ['auto', 'transparent', 'opaque'],
  transparentFormats: ['png', 'webp'],
  moderation: ['generate', 'edit'],
  outputCompression: true,
  outputFormats: ['png', 'jpeg', 'webp'],
  inputTypes: ['image/png', 'image/jpeg', 'image/webp'],
  parameters: [],
  sizes: { kind: 'listed', sizes: REPLICATE_SIZES },
  sources: [
    'replicate.com/openai/gpt-image-2/api (mirror: cinemasetfree.com/guides/generators/openai/gpt-image-2)',
  ],
};

/** Replicate's models. */
export const REPLICATE_MODELS: ProviderModels = {
  label: 'Replicate',
  defaultModel: () => REPLICATE_MODEL,
  models: [GPT_IMAGE_2],
};
