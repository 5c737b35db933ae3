/**
 * Replicate predictions and files: the answers the adapter reads.
 *
 * Sources: replicate/replicate-javascript @2fd6f39 `index.js`, `lib/predictions.js`, `lib/files.js`, `index.d.ts`,
 * `index.test.ts` (shared/reference/providers.md §4). The model's inputs: ./capabilities.ts.
 */
import { z } from 'zod';

/** A file created through `POST /files` (replicate-javascript `lib/files.js`; its test fixture in `index.test.ts`). */
export const replicateFileSchema = z.object({
  id: z.string(),
  urls: z.object({ get: z.string().min(1) }),
});

/** A prediction. */
export const replicatePredictionSchema = z.object({
  id: z.string().min(1),
  status: z.enum(['starting', 'processing', 'succeeded', 'failed', 'canceled', 'aborted']),
  output: z.union([z.array(z.string()), z.string(), z.null()]).optional(),
  error: z.union([z.string(), z.null()]).optional(),
  model: z.string().optional(),
  urls: z.object({ get: z.string().optional(), cancel: z.string().optional() }).partial().optional(),
  /** When it started running; null while `starting` (replicate-javascript `index.d.ts` Prediction). */
  started_at: z.string().nullable().optional(),
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
