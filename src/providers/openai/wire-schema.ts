/**
 * OpenAI Images API for gpt-image-2, wire format as documented.
 *
 * Sources: openai/openai-openapi `CreateImageRequest`, `CreateImageEditRequest`; openai-node `src/resources/images.ts`,
 * `src/core/error.ts` (shared/reference/providers.md §1).
 */
import { z } from 'zod';

export const OPENAI_DEFAULT_MODEL = 'gpt-image-2';
export const OPENAI_QUALITIES = ['low', 'medium', 'high', 'auto'] as const;
export const OPENAI_OUTPUT_FORMATS = ['png', 'jpeg', 'webp'] as const;
export const OPENAI_BACKGROUNDS = ['transparent', 'opaque', 'auto'] as const;
export const OPENAI_MODERATIONS = ['low', 'auto'] as const;
export const OPENAI_MAX_N = 10;
export const OPENAI_MAX_INPUT_IMAGES = 16;

/** JSON body of `POST /images/generations`. `input_fidelity` is not accepted by gpt-image-2. */
export const openaiGenerateBodySchema = z
  .object({
    model: z.string().min(1),
    prompt: z.string().min(1).max(32_000),
    n: z.number().int().min(1).max(OPENAI_MAX_N).optional(),
    quality: z.enum(OPENAI_QUALITIES).optional(),
    size: z.string().optional(),
    output_format: z.enum(OPENAI_OUTPUT_FORMATS).optional(),
    output_compression: z.number().int().min(0).max(100).optional(),
    background: z.enum(OPENAI_BACKGROUNDS).optional(),
    moderation: z.enum(OPENAI_MODERATIONS).optional(),
  })
  .strict();
export type OpenAIGenerateBody = z.infer<typeof openaiGenerateBodySchema>;

/** Text fields of the multipart `POST /images/edits` (files go in repeated `image[]` parts and `mask`); no `moderation`. */
export const OPENAI_EDIT_TEXT_FIELDS = [
  'model',
  'prompt',
  'n',
  'quality',
  'size',
  'output_format',
  'output_compression',
  'background',
] as const;

/** `usage` of a response. */
export const openaiUsageSchema = z.object({
  input_tokens: z.number().optional(),
  output_tokens: z.number().optional(),
  total_tokens: z.number().optional(),
  input_tokens_details: z
    .object({ text_tokens: z.number().optional(), image_tokens: z.number().optional() })
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
