/**
 * Oxen.ai's GPT Image 2 models and their request schemas. Oxen publishes each model's parameters as a JSON Schema at
 * `GET /api/ai/models/{id}` (`request_schema` in models/overview.mdx, `json_request_schema` on the per-model pages:
 * the adapter reads both); what a row may ask for is derived from the schema the host serves, else from the built-in
 * one below.
 *
 * Sources (Oxen-AI/docs @edc2a51):
 * - `gpt-image-2` today (inference-api/reference/models/gpt-image-2.mdx, regenerated 2026-07-01): `prompt`, optional
 *   `input_image` (edits), `aspect_ratio` auto|1:1|16:9|9:16|4:3|3:4|3:2|2:3|21:9|9:21, `resolution` 1K|2K|4K, `quality`
 *   low|medium|high, `output_format` png|jpeg|webp, `mask_url` (white = edit); no `num_images`.
 * - `gpt-image-2-edit`: removed from the docs on 2026-07-01 (commit 94c48c3); its seeded schema
 *   (shared/seeds/oxen-gpt-image-2-edit.txt: `resolution` as listed sizes, quality "Locked to high", `num_images` 1–4)
 *   is kept for hosts that still serve it. Newer source wins: edits go to `gpt-image-2` by default.
 * - The async queue takes `num_generations` 1–4 (inference-api/reference/async_queue.mdx).
 */
import type { Operation, OutputFormat, Quality } from '../../shared/job-definitions.js';
import type { ModelCapabilities } from '../capabilities.js';

export const OXEN_MODEL = 'gpt-image-2';
/** The retired edit model; rows naming it go to {@link OXEN_MODEL} once a host says it is not found. */
export const OXEN_RETIRED_EDIT_MODEL = 'gpt-image-2-edit';
/** Generations one queue request may make (`num_generations` 1–4, async_queue.mdx). */
export const OXEN_MAX_GENERATIONS = 4;

const OUTPUT_FORMATS = ['png', 'jpeg', 'webp'] as const;
const SEEDED_SIZES = ['1024x768', '1024x1024', '1024x1536', '1920x1080', '2560x1440', '3840x2160'] as const;

/** `gpt-image-2`'s request schema as published on 2026-07-01 (models/gpt-image-2.mdx). */
export function currentRequestSchema(): Record<string, unknown> {
  return {
    type: 'object',
    required: ['prompt'],
    properties: {
      prompt: { type: 'string' },
      input_image: { type: 'array', items: { type: 'string' } },
      aspect_ratio: {
        type: 'string',
        enum: ['auto', '1:1', '16:9', '9:16', '4:3', '3:4', '3:2', '2:3', '21:9', '9:21'],
        default: '16:9',
      },
      resolution: { type: 'string', enum: ['1K', '2K', '4K'], default: '2K' },
      quality: { type: 'string', enum: ['low', 'medium', 'high'], default: 'high' },
      output_format: { type: 'string', enum: [...OUTPUT_FORMATS], default: 'png' },
      mask_url: { type: 'string', format: 'uri' },
    },
  };
}

/** The seeded schema of `gpt-image-2-edit` (shared/seeds/oxen-gpt-image-2-edit.txt). */
export function seededEditRequestSchema(): Record<string, unknown> {
  return {
    type: 'object',
    required: ['prompt', 'input_image'],
    properties: {
      prompt: { type: 'string' },
      input_image: { type: 'array', items: { type: 'string' } },
      mask_url: { type: 'string', format: 'uri' },
      resolution: { type: 'string', enum: [...SEEDED_SIZES], default: '1024x1024' },
      quality: { type: 'string', enum: ['high'], default: 'high' },
      num_images: { type: 'integer', minimum: 1, maximum: 4, default: 1 },
      output_format: { type: 'string', enum: [...OUTPUT_FORMATS], default: 'png' },
    },
  };
}

/** The built-in schema of `model` (undefined for a model we know nothing of). */
export function builtInRequestSchema(model: string): Record<string, unknown> | undefined {
  if (model === OXEN_MODEL) return currentRequestSchema();
  if (model === OXEN_RETIRED_EDIT_MODEL) return seededEditRequestSchema();
  return undefined;
}

interface SchemaProperty {
  enum?: unknown[];
  maximum?: number;
}

/**
 * What a request schema lets a row ask for. `sync` says whether requests go to the blocking endpoints (`num_images`
 * where the schema has it, else one call per image, up to 4 as the queue) or to the queue (`num_generations` 1–4).
 */
export function capabilitiesFromSchema(
  model: string,
  schema: Record<string, unknown>,
  options: { sync: boolean; source: string },
): ModelCapabilities {
  const properties = (schema.properties ?? {}) as Record<string, SchemaProperty | undefined>;
  const required = Array.isArray(schema.required) ? (schema.required as string[]) : [];
  const strings = (property: SchemaProperty | undefined) =>
    (property?.enum ?? []).filter((value): value is string => typeof value === 'string');
  const resolutions = strings(properties.resolution);
  const tiers = resolutions.filter((value) => /^\d+K$/i.test(value));
  const numImagesMaximum = properties.num_images?.maximum ?? OXEN_MAX_GENERATIONS;
  const operations: Operation[] = [];
  if (!required.includes('input_image')) operations.push('generate');
  if (properties.input_image !== undefined) operations.push('edit');
  return {
    model,
    operations,
    qualities: strings(properties.quality).filter((value): value is Quality =>
      ['low', 'medium', 'high', 'xhigh', 'max'].includes(value),
    ),
    maxImages: options.sync ? numImagesMaximum : OXEN_MAX_GENERATIONS,
    maxInputImages: 16,
    mask: properties.mask_url !== undefined,
    backgrounds: [],
    transparentFormats: [],
    moderation: [],
    outputCompression: false,
    outputFormats: strings(properties.output_format).filter((value): value is OutputFormat =>
      (OUTPUT_FORMATS as readonly string[]).includes(value),
    ),
    inputTypes: ['image/png', 'image/jpeg', 'image/webp'],
    parameters: [],
    sizes:
      tiers.length > 0
        ? {
            kind: 'ratio-and-tier',
            ratios: strings(properties.aspect_ratio).filter((ratio) => /^\d+:\d+$/.test(ratio)),
            tiers,
            auto: strings(properties.aspect_ratio).includes('auto'),
          }
        : { kind: 'listed', sizes: resolutions.filter((value) => /^\d+x\d+$/.test(value)) },
    sources: [options.source],
  };
}
