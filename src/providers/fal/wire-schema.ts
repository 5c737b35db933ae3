/**
 * fal.ai GPT Image 2 through the queue API, wire format as documented.
 *
 * Sources: fal-js `types/endpoints.ts` (`GptImage2EditInput`), fal.ai/models/openai/gpt-image-2/llms.txt, the seed
 * shared/seeds/fal-gpt-image-2-edit.txt, fal.ai/docs/api-reference/inference-api and model-apis/errors
 * (shared/reference/providers.md §2).
 */
import { z } from 'zod';

/** Text-to-image and edit endpoint ids (there is no `fal-ai/gpt-image-2`). */
export const FAL_GENERATE_APP = 'openai/gpt-image-2';
export const FAL_EDIT_APP = 'openai/gpt-image-2/edit';
/** The app id without the `/edit` suffix, as status, result and cancel URLs use it. */
export const FAL_BASE_APP = 'openai/gpt-image-2';

export const FAL_IMAGE_SIZE_PRESETS = {
  square_hd: { width: 1024, height: 1024 },
  square: { width: 512, height: 512 },
  portrait_4_3: { width: 768, height: 1024 },
  portrait_16_9: { width: 576, height: 1024 },
  landscape_4_3: { width: 1024, height: 768 },
  landscape_16_9: { width: 1024, height: 576 },
} as const;
export const FAL_QUALITIES = ['auto', 'low', 'medium', 'high'] as const;
export const FAL_OUTPUT_FORMATS = ['jpeg', 'png', 'webp'] as const;
export const FAL_MAX_INPUT_IMAGES = 16;
/** Custom sizes: 655,360–8,294,400 pixels (llms.txt). */
export const FAL_MIN_PIXELS = 655_360;

const imageSize = z.union([
  z.enum(['auto', ...Object.keys(FAL_IMAGE_SIZE_PRESETS)] as [string, ...string[]]),
  z.object({ width: z.number().int().positive(), height: z.number().int().positive() }).strict(),
]);

/** Input of `openai/gpt-image-2` (text-to-image). */
export const falGenerateInputSchema = z
  .object({
    prompt: z.string().min(1),
    image_size: imageSize.optional(),
    quality: z.enum(FAL_QUALITIES).optional(),
    num_images: z.number().int().min(1).optional(),
    output_format: z.enum(FAL_OUTPUT_FORMATS).optional(),
    sync_mode: z.boolean().optional(),
  })
  .strict();

/** Input of `openai/gpt-image-2/edit`: the same plus input images and a mask (`mask_url`; seed: `mask_image_url`). */
export const falEditInputSchema = falGenerateInputSchema
  .extend({
    image_urls: z.array(z.string().min(1)).min(1).max(FAL_MAX_INPUT_IMAGES),
    mask_url: z.string().min(1).optional(),
    mask_image_url: z.string().min(1).optional(),
  })
  .strict();
export type FalEditInput = z.infer<typeof falEditInputSchema>;
export type FalGenerateInput = z.infer<typeof falGenerateInputSchema>;

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
