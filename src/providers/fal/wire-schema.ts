/**
 * fal.ai GPT Image 2 through the queue API: the answers the adapter reads. The inputs: ./capabilities.ts.
 *
 * Sources: fal-ai/fal-js @381105e `libs/client/src/queue.ts`, `types/common.ts` (`QueueStatus`), `storage.ts`;
 * fal.ai/docs/api-reference/inference-api and model-apis/errors (shared/reference/providers.md §2).
 */
import { z } from 'zod';

/** The app id without the `/edit` suffix, as status, result and cancel URLs use it. */
export const FAL_BASE_APP = 'openai/gpt-image-2';

/** Answer of a queue submission. */
export const falSubmitResponseSchema = z.object({
  request_id: z.string().min(1),
  response_url: z.string().url(),
  status_url: z.string().url(),
  cancel_url: z.string().url().optional(),
  status: z.string().optional(),
});

/** Answer of a status poll: `IN_QUEUE`, `IN_PROGRESS` or `COMPLETED`. */
export const falStatusSchema = z.object({
  status: z.enum(['IN_QUEUE', 'IN_PROGRESS', 'COMPLETED']),
  response_url: z.string().optional(),
});

/** Result of a completed request. */
export const falResultSchema = z.object({
  images: z
    .array(
      z.object({
        url: z.string().min(1),
        content_type: z.string().optional(),
        file_name: z.string().optional(),
        width: z.number().optional(),
        height: z.number().optional(),
      }),
    )
    .min(1),
});

/** Error bodies: validation `{detail: [{loc, msg, type}]}`, others `{detail: "…", error_type}`. */
export const falErrorSchema = z.object({
  detail: z.union([
    z.string(),
    z.array(
      z.object({
        loc: z.array(z.union([z.string(), z.number()])).optional(),
        msg: z.string(),
        type: z.string().optional(),
      }),
    ),
  ]),
  error_type: z.string().optional(),
});

/** Answer of `POST <rest>/storage/upload/initiate` (fal-js `storage.ts` `initiateUpload`). */
export const falUploadInitiateSchema = z.object({
  upload_url: z.string().min(1),
  file_url: z.string().min(1),
});
