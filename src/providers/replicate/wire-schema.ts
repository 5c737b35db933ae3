/**
 * Replicate predictions for openai/gpt-image-2, wire format as documented.
 *
 * Sources: replicate-javascript `index.js`, `lib/predictions.js`, `index.d.ts`; the model's input schema as mirrored at
 * api.core.today (shared/reference/providers.md §4).
 */
import { z } from 'zod';

export const REPLICATE_MODEL = 'openai/gpt-image-2';
/** `aspect_ratio` values and the pixel sizes they give. */
export const REPLICATE_ASPECT_RATIOS = {
  '1:1': '1024x1024',
  '3:2': '1536x1024',
  '2:3': '1024x1536',
} as const;
export const REPLICATE_QUALITIES = ['low', 'medium', 'high', 'auto'] as const;
export const REPLICATE_OUTPUT_FORMATS = ['webp', 'png', 'jpeg'] as const;
export const REPLICATE_BACKGROUNDS = ['auto', 'opaque'] as const;
export const REPLICATE_MODERATIONS = ['auto', 'low'] as const;
/** "limited to 1" per prediction. */
export const REPLICATE_MAX_IMAGES = 1;
export const REPLICATE_FINAL_STATUSES = ['succeeded', 'failed', 'canceled', 'aborted'] as const;

/** `input` of a prediction. */
export const replicateInputSchema = z
  .object({
    prompt: z.string().min(1),
    openai_api_key: z.string().optional(),
    aspect_ratio: z.enum(Object.keys(REPLICATE_ASPECT_RATIOS) as [string, ...string[]]).optional(),
    input_images: z.array(z.string().min(1)).optional(),
    number_of_images: z.number().int().min(1).max(REPLICATE_MAX_IMAGES).optional(),
    quality: z.enum(REPLICATE_QUALITIES).optional(),
    background: z.enum(REPLICATE_BACKGROUNDS).optional(),
    moderation: z.enum(REPLICATE_MODERATIONS).optional(),
    output_format: z.enum(REPLICATE_OUTPUT_FORMATS).optional(),
    output_compression: z.number().int().min(0).max(100).optional(),
    user_id: z.string().optional(),
  })
  .strict();
export type ReplicateInput = z.infer<typeof replicateInputSchema>;

/** Body of `POST /models/openai/gpt-image-2/predictions`. */
export const replicateCreateBodySchema = z
  .object({ input: replicateInputSchema, webhook: z.string().optional() })
  .strict();

/** A prediction. */
export const replicatePredictionSchema = z.object({
  id: z.string().min(1),
  status: z.enum(['starting', 'processing', 'succeeded', 'failed', 'canceled', 'aborted']),
  output: z.union([z.array(z.string()), z.string(), z.null()]).optional(),
  error: z.union([z.string(), z.null()]).optional(),
  model: z.string().optional(),
  urls: z.object({ get: z.string().optional(), cancel: z.string().optional() }).partial().optional(),
});
export type ReplicatePrediction = z.infer<typeof replicatePredictionSchema>;

/** Error bodies: `{title, detail, status}` (402, 422) and `{detail}` (429). */
export const replicateErrorSchema = z.object({
  title: z.string().optional(),
  detail: z.string().optional(),
  status: z.number().optional(),
  invalid_fields: z
    .array(z.object({ field: z.string().optional(), description: z.string().optional() }))
    .optional(),
});
