/**
 * OpenAI Images API: the answers the adapter reads. What each model takes: ./capabilities.ts.
 *
 * Sources: openai/openai-openapi `ImagesResponse`, `ImageGenUsage`, `ImageGenOutputTokensDetails`; openai-node
 * `src/resources/images.ts`, `src/core/error.ts` (shared/reference/providers.md §1).
 */
import { z } from 'zod';

/**
 * `usage` of a response (openai-openapi `ImageGenUsage`): input tokens split into text and image tokens, output tokens
 * split into image and text tokens (`output_tokens_details`, text output billed at $10/M), and cached input tokens
 * where reported. Unknown fields are kept, not dropped: they are what the call was billed by.
 */
export const openaiUsageSchema = z.looseObject({
  input_tokens: z.number().optional(),
  output_tokens: z.number().optional(),
  total_tokens: z.number().optional(),
  input_tokens_details: z
    .looseObject({
      text_tokens: z.number().optional(),
      image_tokens: z.number().optional(),
      cached_tokens: z.number().optional(),
    })
    .optional(),
  output_tokens_details: z
    .looseObject({ image_tokens: z.number().optional(), text_tokens: z.number().optional() })
    .optional(),
});

/** A successful answer: `{created, data: [{b64_json}], usage, ...}`. */
export const openaiImagesResponseSchema = z.object({
  created: z.number().optional(),
  data: z.array(z.object({ b64_json: z.string().min(1) })).min(1),
  usage: openaiUsageSchema.optional(),
});

/** Error body: `{"error": {"message", "type", "param", "code"}}`. */
export const openaiErrorSchema = z.object({
  error: z.object({
    message: z.string(),
    type: z.string().nullable().optional(),
    param: z.string().nullable().optional(),
    code: z.string().nullable().optional(),
  }),
});

/** A File object (openai-openapi `OpenAIFile`): only its id is read. */
export const openaiFileSchema = z.object({ id: z.string() }).loose();

/** A Batch object (openai-node `Batch`): what the Batch API driver reads. */
export const openaiBatchSchema = z
  .object({
    id: z.string(),
    status: z.string(),
    output_file_id: z.string().nullish(),
    error_file_id: z.string().nullish(),
    expires_at: z.number().nullish(),
    request_counts: z.object({ total: z.number(), completed: z.number(), failed: z.number() }).nullish(),
    metadata: z.record(z.string(), z.string()).nullish(),
  })
  .loose();
export type OpenAIBatchObject = z.infer<typeof openaiBatchSchema>;

/** `GET /batches`: a cursor page. */
export const openaiBatchListSchema = z
  .object({ data: z.array(openaiBatchSchema), has_more: z.boolean().default(false) })
  .loose();

/** One line of a batch's output or error file (`{id, custom_id, response: {status_code, request_id, body}, error}`). */
export const openaiBatchResultLineSchema = z
  .object({
    id: z.string().nullish(),
    custom_id: z.string(),
    response: z
      .object({ status_code: z.number(), request_id: z.string().nullish(), body: z.unknown() })
      .loose()
      .nullish(),
    error: z.object({ code: z.string().nullish(), message: z.string().nullish() }).loose().nullish(),
  })
  .loose();
