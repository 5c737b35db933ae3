/**
 * WaveSpeedAI `openai/gpt-image-2`: paths, and the answers the adapter reads.
 *
 * Sources: wavespeed.ai/docs/shared/api-result (the `{code, message, data}` envelope), WaveSpeedAI/wavespeed-javascript
 * @ffd322a `src/api/client.ts` (submit, `GET /api/v3/predictions/{id}/result`, `upload()` through
 * `POST /api/v3/media/upload/binary` answering `data.download_url`, and its tests in `tests/test_api.ts`),
 * shared/reference/providers.md §5. The model's inputs: ./capabilities.ts.
 */
import { z } from 'zod';

export const WAVESPEED_EDIT_PATH = '/api/v3/openai/gpt-image-2/edit';
export const WAVESPEED_GENERATE_PATH = '/api/v3/openai/gpt-image-2/text-to-image';
export const WAVESPEED_UPLOAD_PATH = '/api/v3/media/upload/binary';

/**
 * The `{code, message, data}` envelope of submit and result answers. The SDKs read only `data` (and the HTTP status),
 * so `code` and `data.id` of a result are optional here too.
 */
export const wavespeedEnvelopeSchema = z.object({
  code: z.number().optional(),
  message: z.string().optional(),
  data: z
    .object({
      id: z.string().optional(),
      model: z.string().optional(),
      outputs: z.array(z.string()).default([]),
      urls: z.object({ get: z.string().optional() }).partial().optional(),
      status: z.enum(['created', 'processing', 'completed', 'failed', 'cancelled', 'timeout']),
      error: z.string().nullable().optional(),
    })
    .nullable()
    .optional(),
});

/** The answer of a media upload: `{code: 200, data: {download_url, ...}}`. */
export const wavespeedUploadSchema = z.object({
  code: z.literal(200),
  message: z.string().optional(),
  data: z.object({ download_url: z.string().min(1) }),
});
