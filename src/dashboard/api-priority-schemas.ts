/**
 * The HTTP API's shapes of priorities and finish-by times (issue 30; ./api-schemas.ts has the rest): the level a batch
 * is started at or changed to, and what its status says of its finish-by time.
 */
import { z } from 'zod';

/** A batch's state. */
export const batchStateSchema = z.enum([
  'running',
  'paused',
  'budget_reached',
  'canary',
  'awaiting_approval',
  'finished',
]);

/** A priority: `urgent`, `normal`, `background`, or a level 1 (first) … 9 (last) (src/batch/priority.ts). */
export const priorityField = z
  .union([z.enum(['urgent', 'normal', 'background']), z.coerce.number().int().min(1).max(9)])
  .meta({ description: 'urgent, normal (default), background, or 1 (sent first) … 9 (last).' });

/** `POST /api/batches/{id}/priority`. */
export const priorityRequestSchema = z
  .object({ priority: priorityField })
  .strict()
  .meta({ id: 'PriorityChange' });

export const priorityAnswerSchema = z
  .object({
    batch_id: z.string(),
    state: batchStateSchema,
    priority: z.number().int(),
    moved: z.number().int(),
  })
  .meta({ id: 'PriorityChanged', description: 'The new level, and the waiting rows moved to it.' });

/** A batch's finish-by time in its status (src/batch/finish-by.ts). */
export const finishByStatusSchema = z
  .object({
    at: z.string(),
    planned_at: z.string().nullable(),
    expected_at: z.string().nullable(),
    late: z.boolean(),
  })
  .nullable()
  .meta({
    description:
      'Its finish-by time: the plan at enqueue, the forecast from the last minutes, and whether it will miss it.',
  });
