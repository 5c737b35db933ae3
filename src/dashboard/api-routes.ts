/**
 * The HTTP API (docs/api.md), served by the dashboard under its rules (Host check, basic auth, CSRF for browsers) plus
 * API tokens for machines (./api-auth.ts). Every route goes through the library (src/library/image-batch.ts), so a
 * batch started here keeps every guarantee of the CLI: line-numbered rejects, the estimate, the budget cap, the
 * canary, idempotency (the same manifest posted twice is one batch). Shapes and the OpenAPI document: ./api-schemas.ts.
 */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Express, NextFunction, Request, Response } from 'express';
import express from 'express';
import type { BatchStatus } from '../batch/batch-store.js';
import { retryFailedRows } from '../batch/retry-failed.js';
import { roundUsd } from '../cost/usd.js';
import { ImageBatch } from '../library/image-batch.js';
import { spoolRootFor } from '../library/manifest-spool.js';
import { defaultBatchId } from '../producer/batch-id.js';
import { providersWithKeys } from '../providers/configuration.js';
import { UsageError } from '../shared/errors.js';
import { defaultOutputRoot } from '../storage/output-store.js';
import { outputStoreFor } from '../storage/stores.js';
import { apiWriteGuard } from './api-auth.js';
import { manifestOf, optionsOf, parsed } from './api-input.js';
import { newBatchQuerySchema, openApiDocument, retryRequestSchema } from './api-schemas.js';
import { priorityRequestSchema } from './api-priority-schemas.js';
import { retryPlanOf, wrap, type DashboardContext } from './dashboard-context.js';
import { enqueuedAnswer, estimateAnswer, statusAnswer } from './api-answers.js';

/** What the API's route groups share. */
interface ApiContext {
  dashboard: DashboardContext;
  images: ImageBatch;
  /** The output root of batches started here. */
  outputRoot: string;
  guard: ReturnType<typeof apiWriteGuard>;
}

/** Add the API routes to `app`. */
export function addApiRoutes(app: Express, context: DashboardContext): void {
  const { config, log, redis } = context.options;
  const api: ApiContext = {
    dashboard: context,
    images: new ImageBatch({ config, log, redis }),
    outputRoot: config.outputRoot ?? defaultOutputRoot(process.env),
    guard: apiWriteGuard({
      readOnly: context.options.readOnly,
      csrfToken: context.csrfToken,
      tokens: config.apiTokens,
    }),
  };
  const document = openApiDocument();
  app.get('/api/openapi.json', (_request, response) => void response.json(document));
  addStartRoutes(app, api);
  addReadRoutes(app, api);
  addActionRoutes(app, api);
  addRetryRoutes(app, api);
  // The API answers JSON, failures included: the user's mistake 400, a body too large 413, the rest 500.
  app.use(
    '/api',
    (error: Error & { status?: unknown }, _request: Request, response: Response, next: NextFunction) => {
      if (response.headersSent) return next(error);
      if (error instanceof UsageError) return void response.status(400).json({ error: error.message });
      const status =
        typeof error.status === 'number' && error.status >= 400 && error.status < 500 ? error.status : 500;
      if (status === 500) log.error({ err: error }, 'API request failed');
      response.status(status).json({ error: status === 500 ? 'internal error' : error.message });
    },
  );
}

/**
 * `POST /api/estimates` (the rows checked and priced, nothing enqueued: what the "New batch" page shows before its
 * Start) and `POST /api/batches` (the batch started, or found again for the same manifest).
 */
function addStartRoutes(app: Express, api: ApiContext): void {
  const { config, log } = api.dashboard.options;
  const manifestFor = async (request: Request, response: Response, root = spoolRootFor(api.outputRoot)) => {
    const query = parsed(newBatchQuerySchema, request.query, response);
    if (query === undefined) return undefined;
    const manifest = await manifestOf(request, response, {
      root,
      name: query.name ?? 'upload',
      format: query.format,
      maxBytes: config.apiMaxManifestBytes,
      allowedHosts: config.allowedPrivateHosts,
    });
    return manifest === undefined ? undefined : { query, manifest };
  };
  const json = express.json({ limit: '16kb' });
  app.post(
    '/api/estimates',
    api.guard,
    json,
    wrap(async (request, response) => {
      // An estimate's manifest is kept only while it is priced (gone before the answer): a batch started after it
      // uploads it again.
      const scratch = path.join(spoolRootFor(api.outputRoot), '.estimates', randomBytes(8).toString('hex'));
      let answer: ReturnType<typeof estimateAnswer> | undefined;
      try {
        const input = await manifestFor(request, response, scratch);
        if (input === undefined) return;
        const options = optionsOf(input.query);
        const report = await api.images.estimate(
          { manifests: [input.manifest] },
          { ...options, out: api.outputRoot, autoHosts: providersWithKeys(config) },
        );
        answer = estimateAnswer(report, (await api.images.pricing(undefined)).catalogue);
      } finally {
        await rm(scratch, { recursive: true, force: true });
      }
      response.json(answer);
    }),
  );
  app.post(
    '/api/batches',
    api.guard,
    json,
    wrap(async (request, response) => {
      const input = await manifestFor(request, response);
      if (input === undefined) return;
      const batchId = input.query.batch_id ?? (await defaultBatchId([input.manifest]));
      const created = (await api.images.status(batchId)) === undefined;
      const out =
        input.query.out === undefined
          ? api.outputRoot
          : `${api.outputRoot.replace(/\/+$/, '')}/${input.query.out}`;
      const options = { out, batchId, ...optionsOf(input.query) };
      const batch = await api.images.enqueue({ manifests: [input.manifest] }, options);
      log.info({ batch: batchId, enqueued: batch.report.enqueued }, 'batch started through the API');
      response.status(created ? 201 : 200).json(enqueuedAnswer(batch.report, created));
    }),
  );
}

/** `GET /api/batches/:id`, `.../results` and `.../rejects`. */
function addReadRoutes(app: Express, { images }: ApiContext): void {
  app.get(
    '/api/batches/:id',
    wrap(async (request, response) => {
      const status = await batchOf(images, request, response);
      if (status !== undefined) response.json(statusAnswer(status));
    }),
  );
  for (const file of ['results', 'rejects'] as const)
    app.get(
      `/api/batches/:id/${file}`,
      wrap(async (request, response) => {
        const status = await batchOf(images, request, response);
        if (status === undefined) return;
        const store = outputStoreFor(status.outputDirectory);
        response.type('application/x-ndjson');
        if (file === 'results') {
          for await (const text of store.resultLines(status.batchId)) response.write(`${text}\n`);
          return void response.end();
        }
        const stream = await store.read(status.batchId, 'rejects.jsonl');
        if (stream === undefined) return void response.end();
        stream.pipe(response);
      }),
    );
}

/** `POST /api/batches/:id/approve|pause|resume|priority`. */
function addActionRoutes(app: Express, { images, guard }: ApiContext): void {
  const act = (action: (status: BatchStatus) => Promise<number | undefined>) =>
    wrap(async (request, response) => {
      const status = await batchOf(images, request, response);
      if (status === undefined) return;
      const released = await action(status);
      const after = (await images.status(status.batchId)) ?? status;
      response.json({
        batch_id: after.batchId,
        state: after.state,
        ...(released === undefined ? {} : { released }),
      });
    });
  app.post(
    '/api/batches/:id/approve',
    guard,
    act(async (status) => images.approve(status.batchId)),
  );
  app.post(
    '/api/batches/:id/pause',
    guard,
    act(async (status) => void (await images.setPaused(status.batchId, true))),
  );
  app.post(
    '/api/batches/:id/resume',
    guard,
    act(async (status) => void (await images.setPaused(status.batchId, false))),
  );
  app.post(
    '/api/batches/:id/priority',
    guard,
    express.json({ limit: '4kb' }),
    wrap(async (request, response) => {
      const body = parsed(priorityRequestSchema, request.body ?? {}, response);
      if (body === undefined) return;
      const status = await batchOf(images, request, response);
      if (status === undefined) return;
      const moved = await images.setPriority(status.batchId, body.priority);
      const after = (await images.status(status.batchId)) ?? status;
      response.json({ batch_id: after.batchId, state: after.state, priority: after.priority.level, moved });
    }),
  );
}

/** `GET|POST /api/batches/:id/retry-failed`: the failed rows priced first, retried only within `max_usd`. */
function addRetryRoutes(app: Express, { dashboard: context, images, guard }: ApiContext): void {
  const planFor = (status: BatchStatus) => retryPlanOf(context, status);
  const planAnswer = (status: BatchStatus, plan: Awaited<ReturnType<typeof planFor>>) => ({
    batch_id: status.batchId,
    rows: plan.failed.length,
    estimate_usd: roundUsd(plan.estimateUsd),
    blocked_reason: plan.blockedReason ?? null,
  });
  app.get(
    '/api/batches/:id/retry-failed',
    wrap(async (request, response) => {
      const status = await batchOf(images, request, response);
      if (status !== undefined) response.json(planAnswer(status, await planFor(status)));
    }),
  );
  app.post(
    '/api/batches/:id/retry-failed',
    guard,
    express.json({ limit: '4kb' }),
    wrap(async (request, response) => {
      const body = parsed(retryRequestSchema, request.body ?? {}, response);
      if (body === undefined) return;
      const status = await batchOf(images, request, response);
      if (status === undefined) return;
      const plan = await planFor(status);
      if (plan.blockedReason !== undefined || plan.estimateUsd > body.max_usd)
        return void response.status(409).json(planAnswer(status, plan));
      const retried = await retryFailedRows(
        context.store,
        context.queues,
        context.collectQueues,
        status,
        plan,
      );
      context.options.log.info(
        { batch: status.batchId, rows: retried.size },
        'failed rows retried through the API',
      );
      response.json({ batch_id: status.batchId, retried: retried.size });
    }),
  );
}

/** The batch the URL names, or undefined after answering 404 (400 for an id no batch can have). */
async function batchOf(
  images: ImageBatch,
  request: Request,
  response: Response,
): Promise<BatchStatus | undefined> {
  let status: BatchStatus | undefined;
  try {
    status = await images.status(String(request.params.id));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    return void response.status(400).json({ error: error.message });
  }
  if (status === undefined) response.status(404).json({ error: 'no such batch' });
  return status;
}
