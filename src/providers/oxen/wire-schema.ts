/**
 * Oxen.ai image endpoints: paths, and the answers the adapter reads. Request parameters follow each model's request
 * schema (./capabilities.ts).
 *
 * Sources: Oxen-AI/docs @edc2a51 — inference-api/overview.mdx (base `https://hub.oxen.ai/api/ai`, Bearer),
 * inference-api/reference/image_editing.mdx and models/gpt-image-2.mdx (sync `{model, created, images}`),
 * inference-api/reference/async_queue.mdx (queue submit and generation records), models/overview.mdx (errors:
 * 404 `"Model not found: <name>"`); error bodies as collected in shared/reference/providers.md §3.
 */
import { z } from 'zod';

export const OXEN_GENERATE_PATH = '/api/ai/images/generate';
export const OXEN_EDIT_PATH = '/api/ai/images/edit';
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
