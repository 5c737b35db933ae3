/**
 * Oxen.ai image endpoints, wire format as documented.
 *
 * Sources: https://docs.oxen.ai/models/gpt-image-2 and https://docs.oxen.ai/models/gpt-image-2-edit (seeds
 * shared/seeds/oxen-gpt-image-2-generate.txt and -edit.txt); response and error bodies from
 * docs.oxen.ai/inference-api (shared/reference/providers.md §3).
 */
import { z } from 'zod';

export const OXEN_GENERATE_PATH = '/api/ai/images/generate';
export const OXEN_EDIT_PATH = '/api/ai/images/edit';
export const OXEN_DEFAULT_GENERATE_MODEL = 'gpt-image-2';
export const OXEN_DEFAULT_EDIT_MODEL = 'gpt-image-2-edit';

/** `resolution` values the seeded schema accepts. */
export const OXEN_RESOLUTIONS = [
  '1024x768',
  '1024x1024',
  '1024x1536',
  '1920x1080',
  '2560x1440',
  '3840x2160',
] as const;
/** `quality` is "Locked to high for best fidelity. One of: high." */
export const OXEN_QUALITIES = ['high'] as const;
export const OXEN_OUTPUT_FORMATS = ['png', 'jpeg', 'webp'] as const;
export const OXEN_MAX_NUM_IMAGES = 4;

/** Request body of `POST /api/ai/images/generate` and `/api/ai/images/edit`. */
export const oxenImageRequestSchema = z
  .object({
    model: z.string().min(1),
    prompt: z.string().min(1),
    /** Edit only: one or more reference image URLs (data URIs accepted). */
    input_image: z.array(z.string().min(1)).min(1).optional(),
    resolution: z.enum(OXEN_RESOLUTIONS).optional(),
    quality: z.enum(OXEN_QUALITIES).optional(),
    num_images: z.number().int().min(1).max(OXEN_MAX_NUM_IMAGES).optional(),
    output_format: z.enum(OXEN_OUTPUT_FORMATS).optional(),
    /** Edit only: white pixels mark regions to edit. Format: uri. */
    mask_url: z.string().min(1).optional(),
    /** Common to all Oxen models: `url` (default) or `b64_json`. */
    response_format: z.enum(['url', 'b64_json']).optional(),
  })
  .strict();
export type OxenImageRequest = z.infer<typeof oxenImageRequestSchema>;

/** Response body of a successful call: `{model, created, images: [{url} | {b64_json}]}`. */
export const oxenImageResponseSchema = z.object({
  model: z.string().optional(),
  created: z.number().optional(),
  images: z
    .array(z.union([z.object({ url: z.string().min(1) }), z.object({ b64_json: z.string().min(1) })]))
    .min(1),
});
export type OxenImageResponse = z.infer<typeof oxenImageResponseSchema>;

/** Error body: `{"error":{"type","title","detail"},"status":"error","status_message"}` or `{"error":{"message"}}`. */
export const oxenErrorBodySchema = z.object({
  error: z
    .object({
      type: z.string().optional(),
      title: z.string().optional(),
      detail: z.string().optional(),
      message: z.string().optional(),
    })
    .optional(),
  status: z.string().optional(),
  status_message: z.string().optional(),
});

export const OXEN_QUEUE_PATH = '/api/ai/queue';
export const OXEN_MODELS_PATH = '/api/ai/models';

/** Body of `POST /api/ai/queue`: the model's parameters plus `num_generations` (1–4) instead of `num_images`. */
export const oxenQueueRequestSchema = oxenImageRequestSchema
  .omit({ num_images: true, response_format: true })
  .extend({ num_generations: z.number().int().min(1).max(4).optional() })
  .strict();
export type OxenQueueRequest = z.infer<typeof oxenQueueRequestSchema>;

/** Answer of `POST /api/ai/queue`. */
export const oxenQueueSubmitResponseSchema = z.object({
  generations: z.array(z.object({ generation_id: z.string().min(1), status: z.string().optional() })).min(1),
});

/** Answer of `GET /api/ai/queue/{id}`. */
export const oxenGenerationSchema = z.object({
  generation_id: z.string(),
  model_name: z.string().optional(),
  status: z.enum(['queued', 'processing', 'succeeded', 'failed', 'cancelled']),
  result_url: z.string().nullable().optional(),
  error_message: z.string().nullable().optional(),
});

/**
 * The seeded `json_request_schema` of gpt-image-2 (-edit), as JSON Schema: what the simulator serves at
 * `GET /api/ai/models/{id}` and what the adapter falls back to when that call fails.
 */
export function seededJsonRequestSchema(operation: 'generate' | 'edit'): Record<string, unknown> {
  return {
    type: 'object',
    required: operation === 'edit' ? ['prompt', 'input_image'] : ['prompt'],
    properties: {
      prompt: { type: 'string' },
      ...(operation === 'edit'
        ? {
            input_image: { type: 'array', items: { type: 'string' } },
            mask_url: { type: 'string', format: 'uri' },
          }
        : {}),
      resolution: { type: 'string', enum: [...OXEN_RESOLUTIONS], default: '1024x1024' },
      quality: { type: 'string', enum: [...OXEN_QUALITIES], default: 'high' },
      num_images: { type: 'integer', minimum: 1, maximum: OXEN_MAX_NUM_IMAGES, default: 1 },
      output_format: { type: 'string', enum: [...OXEN_OUTPUT_FORMATS], default: 'png' },
    },
  };
}
