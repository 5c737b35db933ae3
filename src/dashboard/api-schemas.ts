/**
 * The HTTP API's shapes (docs/api.md), as zod schemas: the routes parse their input with them, and the OpenAPI
 * document served at `/api/openapi.json` is generated from them (`@asteasolutions/zod-to-openapi`, OpenAPI 3.1), so
 * the document cannot drift from what the server reads and answers.
 */
import { RESERVED_BATCH_IDS } from '../producer/batch-id.js';
import { MAX_WEIGHT, MIN_WEIGHT } from '../batch/priority.js';
import {
  batchStateSchema,
  finishByStatusSchema,
  priorityAnswerSchema,
  priorityField,
  priorityRequestSchema,
} from './api-priority-schemas.js';
import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { PROVIDER_NAMES } from '../shared/config.js';
import { DELIVERIES, ROUTE_POLICIES } from '../shared/job-definitions.js';

const usd = z.number().meta({ description: 'USD' });
const tierFigures = z.object({ images: z.number().int(), cost_usd: usd });
const byTier = z.object({ standard: tierFigures, 'high-resolution': tierFigures }).meta({
  id: 'CostByTier',
  description: 'Images and their estimated cost by resolution tier (docs/cost.md).',
});

/** The options of `POST /api/batches`, in its query string (the body is the manifest). */
export const newBatchQuerySchema = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,60}$/)
      .optional()
      .meta({ description: "The manifest's name: the stem of the default batch id. Default `upload`." }),
    format: z.enum(['csv', 'jsonl']).optional().meta({
      description: "The body's format; default from Content-Type (text/csv; application/x-ndjson).",
    }),
    batch_id: z
      .string()
      .regex(/^[A-Za-z0-9_+-][A-Za-z0-9_.+-]{0,79}$/)
      .refine((id) => !RESERVED_BATCH_IDS.has(id), "reserved by the dashboard's own paths (new, rows)")
      .optional()
      .meta({
        description:
          "Default `<name>-<8 hex of the manifest's sha256>`: the same manifest is the same batch. Not `new` or `rows` (the dashboard's own paths).",
      }),
    out: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}(\/[A-Za-z0-9_-]{1,64}){0,7}$/)
      .optional()
      .meta({
        description:
          "A folder under the server's output root (IMAGE_BATCH_OUTPUT_ROOT) that the batch's folder goes in; " +
          'default: the output root itself.',
      }),
    provider: z.enum(PROVIDER_NAMES).optional().meta({ description: 'Host of rows that name none.' }),
    providers: z
      .string()
      .regex(/^(auto|[a-z]+(,[a-z]+)*)$/)
      .optional()
      .meta({ description: 'Candidate hosts of rows that name none: `auto` or a comma-separated list.' }),
    route: z.enum(ROUTE_POLICIES).optional(),
    max_premium: z.coerce.number().nonnegative().optional().meta({ description: 'Percent.' }),
    delivery: z.enum(DELIVERIES).optional(),
    budget_usd: z.coerce.number().positive().optional().meta({ description: 'Budget cap, USD.' }),
    canary: z.coerce
      .number()
      .int()
      .positive()
      .optional()
      .meta({ description: 'Rows run first; the rest held.' }),
    window: z.coerce
      .number()
      .int()
      .nonnegative()
      .optional()
      .meta({ description: 'Rows in Redis at once; 0: all.' }),
    priority: priorityField.optional(),
    finish_by: z
      .string()
      .optional()
      .meta({ description: 'When it must be done: a duration (90m, 2h, 3d) or an ISO time.' }),
    weight: z.coerce
      .number()
      .int()
      .min(MIN_WEIGHT)
      .max(MAX_WEIGHT)
      .optional()
      .meta({ description: 'Share of each host among running batches of its priority; default 1.' }),
    reuse: flag('Copy earlier outputs of the same requests under the output root instead of paying again.'),
    sidecar: flag(
      'Write <image>.json beside each image (prompt, model, host, request id, cost, C2PA summary).',
    ),
  })
  .strict();

/** An on/off query parameter: `true` or `false`. */
function flag(description: string) {
  return z.enum(['true', 'false']).optional().meta({ description });
}

/** `POST /api/batches` with a JSON body: a manifest the server reads itself. */
export const manifestLocationSchema = z
  .object({
    manifest: z
      .string()
      .regex(/^(s3:\/\/[^/\s]+\/\S+\.(csv|jsonl)|https?:\/\/\S+)$/)
      .meta({
        description:
          'An S3 object the server reads where it is (`s3://bucket/key.csv` or `.jsonl`), or an http(s) URL it fetches ' +
          '(public addresses only, unless IMAGE_BATCH_ALLOWED_PRIVATE_HOSTS names the host) and keeps.',
      }),
  })
  .strict()
  .meta({ id: 'ManifestLocation' });

export const errorSchema = z
  .object({
    error: z.string(),
    issues: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
  })
  .meta({ id: 'Error' });

const rejectSchema = z
  .object({
    manifest: z.string(),
    line: z.number().int(),
    row_key: z.string().nullable(),
    field: z.string().nullable(),
    code: z.string(),
    message: z.string(),
  })
  .meta({ id: 'Reject' });

const canarySchema = z
  .object({
    size: z.number().int(),
    state: z.enum(['awaiting', 'approved']),
    rows: z.number().int(),
    held: z.number().int(),
  })
  .meta({ id: 'Canary' });

export const enqueuedSchema = z
  .object({
    batch_id: z.string(),
    created: z
      .boolean()
      .meta({ description: 'false: the same manifest made this batch before (nothing paid twice).' }),
    rows_read: z.number().int(),
    enqueued: z.number().int(),
    already_enqueued: z.number().int(),
    rejected: z.number().int(),
    reject_samples: z.array(rejectSchema),
    rejects_url: z.string().meta({ description: 'Every rejected row, JSON lines.' }),
    estimate: z.object({
      cost_usd: usd,
      by_tier: byTier,
      by_provider: z.record(z.string(), byTier),
      unpriced_rows: z.number().int(),
      unpriced_reasons: z.array(z.string()),
    }),
    warnings: z.array(z.string()),
    canary: canarySchema.nullable(),
    status_url: z.string(),
    results_url: z.string(),
  })
  .meta({ id: 'EnqueuedBatch' });

export const estimateSchema = z
  .object({
    rows_read: z.number().int(),
    rows_priced: z.number().int(),
    rejected: z.number().int(),
    reject_samples: z.array(rejectSchema),
    estimate: enqueuedSchema.shape.estimate,
    hints: z
      .array(
        z.object({
          provider: z.string(),
          resolution: z.string(),
          quality: z.string(),
          rows: z.number().int(),
          usd_per_image: usd,
          cheaper_resolution: z.string(),
          cheaper_usd_per_image: usd,
          saves_usd: usd,
        }),
      )
      .meta({ description: 'Where a size with at least as many pixels costs less at the same quality.' }),
    warnings: z.array(z.string()),
  })
  .meta({ id: 'Estimate' });

export const batchStatusSchema = z
  .object({
    batch_id: z.string(),
    state: batchStateSchema,
    created_at: z.string(),
    last_outcome_at: z.string().nullable(),
    rows: z.number().int(),
    rejected: z.number().int(),
    completed: z.number().int(),
    failed: z.number().int(),
    pending: z.number().int(),
    cost_usd: usd.meta({ description: 'Estimated cost of the images made so far, USD.' }),
    cost_by_tier: byTier,
    estimate_usd: usd
      .nullable()
      .meta({ description: 'The estimate of the rows enqueued, USD (null: unknown).' }),
    rows_with_usage: z
      .object({ estimated_usd: usd, actual_usd: usd })
      .nullable()
      .meta({ description: 'Rows whose host reported usage: their estimate against their actual cost.' }),
    budget_usd: usd.nullable(),
    spent_usd: usd,
    reserved_usd: usd,
    canary: canarySchema.nullable(),
    priority: z.object({ level: z.number().int(), name: z.string(), weight: z.number().int() }).meta({
      description: 'Level 1 (sent first) … 9 (last), its name, and the weight among batches of its level.',
    }),
    finish_by: finishByStatusSchema,
    output: z.string().meta({ description: "Where the batch's files are." }),
  })
  .meta({ id: 'BatchStatus' });

export const actionSchema = z
  .object({
    batch_id: z.string(),
    state: batchStatusSchema.shape.state,
    released: z.number().int().optional(),
  })
  .meta({ id: 'BatchAction' });

export const retryPlanSchema = z
  .object({
    batch_id: z.string(),
    rows: z.number().int(),
    estimate_usd: usd,
    blocked_reason: z.string().nullable(),
  })
  .meta({ id: 'RetryPlan' });

export const retryRequestSchema = z
  .object({
    max_usd: z.number().nonnegative().meta({ description: 'Refused (409) when the retry would cost more.' }),
  })
  .strict()
  .meta({ id: 'RetryRequest' });

export const retriedSchema = z
  .object({ batch_id: z.string(), retried: z.number().int() })
  .meta({ id: 'Retried' });

/** A JSON answer `schema` described as `description`. */
const json = (schema: z.ZodType, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});

const failures = {
  400: json(errorSchema, 'The request is invalid (`issues` names each field).'),
  401: json(
    errorSchema,
    'The API token is missing (tokens are configured) or not one of IMAGE_BATCH_API_TOKENS.',
  ),
  403: json(errorSchema, 'Read-only dashboard, or a browser request without the CSRF token.'),
  404: json(errorSchema, 'No such batch.'),
};
const security = [{ token: [] }];
const id = z.object({ id: z.string() });

/** `POST /api/estimates` and `POST /api/batches`: a manifest in, checked and priced (and enqueued). */
function registerStartPaths(registry: OpenAPIRegistry): void {
  const request = {
    query: newBatchQuerySchema,
    body: {
      content: {
        'text/csv': { schema: z.string() },
        'application/x-ndjson': { schema: z.string() },
        'application/json': { schema: manifestLocationSchema },
      },
    },
  };
  const bodyFailures = {
    ...failures,
    413: json(errorSchema, 'The manifest is larger than IMAGE_BATCH_API_MAX_MANIFEST_BYTES.'),
    415: json(errorSchema, 'The body is neither CSV, JSON lines nor a JSON manifest location.'),
    507: json(errorSchema, 'The server has no room to keep the manifest.'),
  };
  registry.registerPath({
    method: 'post',
    path: '/api/estimates',
    summary: 'Check and price a manifest without enqueuing it: rejects with their lines, the estimate, hints',
    security,
    request,
    responses: { 200: json(estimateSchema, 'The estimate.'), ...bodyFailures },
  });
  registry.registerPath({
    method: 'post',
    path: '/api/batches',
    summary:
      'Start (or find again) a batch from a manifest: CSV or JSONL streamed in the body, or an S3 location',
    security,
    request,
    responses: {
      201: json(enqueuedSchema, 'The batch was made.'),
      200: json(enqueuedSchema, 'The same manifest made this batch before: its rows are not enqueued twice.'),
      ...bodyFailures,
    },
  });
}

/** The routes of one batch: status, results, rejects, approve, pause, resume, retry. */
function registerBatchPaths(registry: OpenAPIRegistry): void {
  registry.registerPath({
    method: 'get',
    path: '/api/batches/{id}',
    summary: "A batch's status: counts, costs, estimate against actual",
    security,
    request: { params: id },
    responses: { 200: json(batchStatusSchema, 'The batch.'), ...failures },
  });
  for (const [name, summary] of [
    ['results', 'The results lines written so far (JSON lines, streamed)'],
    ['rejects', 'The rejected rows (JSON lines, streamed)'],
  ] as const)
    registry.registerPath({
      method: 'get',
      path: `/api/batches/{id}/${name}`,
      summary,
      security,
      request: { params: id },
      responses: {
        200: { description: 'JSON lines.', content: { 'application/x-ndjson': { schema: z.string() } } },
        ...failures,
      },
    });
  for (const [name, summary] of [
    ['approve', "Approve the batch's canary: its held rows go to the queues"],
    ['pause', 'Pause the batch: no new call starts for it'],
    ['resume', 'Resume the batch'],
  ] as const)
    registry.registerPath({
      method: 'post',
      path: `/api/batches/{id}/${name}`,
      summary,
      security,
      request: { params: id },
      responses: {
        200: json(actionSchema, 'Done.'),
        ...failures,
        409: json(errorSchema, 'The batch has no canary.'),
      },
    });
  registry.registerPath({
    method: 'post',
    path: '/api/batches/{id}/priority',
    summary: "Change the batch's priority while it runs: its waiting rows move to the new level",
    security,
    request: { params: id, body: { content: { 'application/json': { schema: priorityRequestSchema } } } },
    responses: { 200: json(priorityAnswerSchema, 'Changed.'), ...failures },
  });
  registry.registerPath({
    method: 'get',
    path: '/api/batches/{id}/retry-failed',
    summary: 'What retrying the failed rows would cost',
    security,
    request: { params: id },
    responses: { 200: json(retryPlanSchema, 'The plan.'), ...failures },
  });
  registry.registerPath({
    method: 'post',
    path: '/api/batches/{id}/retry-failed',
    summary: 'Retry the failed rows, priced first: refused when over `max_usd`',
    security,
    request: { params: id, body: { content: { 'application/json': { schema: retryRequestSchema } } } },
    responses: {
      200: json(retriedSchema, 'The rows retried.'),
      ...failures,
      409: json(retryPlanSchema, 'Over `max_usd`, or blocked (budget reached): nothing retried.'),
    },
  });
}

/** The OpenAPI 3.1 document of the API, generated from the schemas above. */
export function openApiDocument(): object {
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'token', { type: 'http', scheme: 'bearer' });
  registerStartPaths(registry);
  registerBatchPaths(registry);
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'image-batch',
      version: '1',
      description: 'Start and follow GPT Image 2 batches without a shell (docs/api.md).',
    },
  });
}
