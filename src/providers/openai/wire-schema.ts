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
