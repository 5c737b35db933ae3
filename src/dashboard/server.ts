/**
 * The queue dashboard: one express server with bull-board mounted at `/queues` for raw queue work (one BullMQ adapter
 * per provider queue; retries of paid jobs off; read-only mode available) and image-batch's own batch pages on top:
 * progress, rate, ETA, spend against the cap by tier, failures by reason, search, a thumbnail gallery, downloads.
 * It reads only Redis and the batches' output directories, so it runs anywhere beside workers and producers.
 * Security: basic auth from DASHBOARD_USER / DASHBOARD_PASSWORD (required on a non-loopback address); files and
 * thumbnails are served only from inside a batch's own directory; base64 data in job data is never shown.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, rename, stat } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { Job, Queue } from 'bullmq';
import express, { type NextFunction, type Request, type Response } from 'express';
import basicAuth from 'express-basic-auth';
import type { Redis } from 'ioredis';
import sharp from 'sharp';
import { writeReportCsv } from '../batch/batch-report.js';
import { BatchStore, type BatchStatus } from '../batch/batch-store.js';
import { reportFigures } from '../batch/batch-report.js';
import { PROVIDER_NAMES, type Config } from '../shared/config.js';
import { UsageError } from '../shared/errors.js';
import { type ImageJobData, type ResultLine } from '../shared/job-definitions.js';
import { jobIdFor, queueNameFor } from '../shared/keys.js';
import { Metrics } from '../shared/metrics.js';
import { PriceCatalogue } from '../cost/price-catalogue.js';
import { ProviderHealth } from '../batch/provider-health.js';
import type { Logger } from '../shared/logger.js';
import { bufferOf } from '../storage/output-store.js';
import { outputStoreFor } from '../storage/stores.js';
import {
  batchCards,
  batchPage,
  batchRow,
  batchesPage,
  retryConfirmationPage,
  type BatchOverview,
  type BatchPageData,
} from './pages.js';

/** Options of {@link startDashboard}. */
export interface DashboardOptions {
  config: Config;
  redis: Redis;
  log: Logger;
  /** Default 127.0.0.1. */
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Hide and refuse every write action (bull-board's and ours). */
  readOnly: boolean;
  /** Basic auth credentials; required when `host` is not a loopback address. */
  auth?: { user: string; password: string };
}

/** A running dashboard. */
export interface Dashboard {
  url: string;
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);
const GALLERY_SIZE = 48;
const THUMBNAIL_WIDTH = 256;

/** Job data as bull-board shows it: data URIs replaced by their size (never shown, and never a secret anyway). */
export function displayJobData(data: unknown): unknown {
  if (typeof data === 'string')
    return data.startsWith('data:') ? `(data URI, ${data.length} characters)` : data;
  if (Array.isArray(data)) return data.map(displayJobData);
  if (data !== null && typeof data === 'object') {
    return Object.fromEntries(Object.entries(data).map(([key, value]) => [key, displayJobData(value)]));
  }
  return data;
}

/** The overview of a batch for the pages. */
export function overviewOf(status: BatchStatus, now = Date.now()): BatchOverview {
  const done = status.completed + status.failed;
  const minutes = Math.max(
    (now - Date.parse(status.createdAt || new Date(now).toISOString())) / 60_000,
    1 / 60,
  );
  const rowsPerMinute = done / minutes;
  return {
    id: status.batchId,
    state: status.state,
    rows: status.rows,
    done,
    completed: status.completed,
    failed: status.failed,
    rejected: status.rejected,
    pending: status.pending,
    rowsPerMinute,
    etaSeconds: status.pending === 0 ? 0 : rowsPerMinute > 0 ? (status.pending / rowsPerMinute) * 60 : null,
    costUsd: status.costUsdTotal,
    spentUsd: status.spentUsd,
    capUsd: status.budgetUsd ?? null,
    costByTier: reportFigures(status).cost_by_tier,
  };
}

/** A batch's results lines from its output store, one at a time (constant memory for a directory). */
async function* resultLines(status: BatchStatus): AsyncGenerator<ResultLine> {
  for await (const text of outputStoreFor(status.outputDirectory).resultLines(status.batchId))
    yield JSON.parse(text) as ResultLine;
}

/** Start the dashboard. @throws UsageError when asked to listen beyond loopback without auth. */
export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const { config, redis, log } = options;
  if (!LOOPBACK.has(options.host) && options.auth === undefined) {
    throw new UsageError(
      `refusing to serve the dashboard on ${options.host} without authentication: set DASHBOARD_USER and DASHBOARD_PASSWORD`,
    );
  }
  const store = new BatchStore(redis, config.queuePrefix);
  const catalogue = new PriceCatalogue();
  // CSRF: every write form carries a token only this server process can make; write routes also refuse other origins.
  const csrfToken = createHmac('sha256', randomBytes(32)).update('image-batch dashboard').digest('hex');
  const app = express();
  app.disable('x-powered-by');
  if (options.auth !== undefined) {
    app.use(
      basicAuth({
        users: { [options.auth.user]: options.auth.password },
        challenge: true,
        realm: 'image-batch',
      }),
    );
  }

  const queues = PROVIDER_NAMES.map(
    (name) => new Queue(queueNameFor(name), { connection: redis, prefix: config.queuePrefix }),
  );
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath('/queues');
  createBullBoard({
    queues: queues.map((queue) => {
      const adapter = new BullMQAdapter(queue, {
        readOnlyMode: options.readOnly,
        allowRetries: false,
      });
      adapter.setFormatter('data', displayJobData);
      return adapter;
    }),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'image-batch queues' } },
  });
  app.use('/queues', serverAdapter.getRouter() as express.Router);

  const health = new ProviderHealth(redis, config.queuePrefix, {
    threshold: config.breakerThreshold,
    openMs: config.breakerOpenMs,
  });
  /** Provider queues paused for their account, as `name: reason`. */
  const pausedProviders = async (): Promise<string[]> => {
    const paused: string[] = [];
    for (const [index, name] of PROVIDER_NAMES.entries()) {
      const reason = await health.pauseReason(name);
      if (reason !== undefined && (await queues[index]!.isPaused())) paused.push(`${name}: ${reason}`);
    }
    return paused;
  };
  const overviews = async (): Promise<BatchOverview[]> => {
    const result: BatchOverview[] = [];
    for (const id of await store.listBatches()) {
      const status = await store.status(id);
      if (status !== undefined) result.push(overviewOf(status));
    }
    return result;
  };
  const statusOf = async (request: Request, response: Response): Promise<BatchStatus | undefined> => {
    const status = await store.status(String(request.params.id));
    if (status === undefined) response.status(404).type('text').send('no such batch');
    return status;
  };
  /** The batch-relative path named by the rest of the URL, or undefined (answered 404) for a hidden or parent one. */
  const fileOf = (request: Request, response: Response): string | undefined => {
    const relative = (request.params as Record<string, string | string[]>).path;
    const joined = Array.isArray(relative) ? relative.join('/') : String(relative ?? '');
    if (
      joined === '' ||
      joined.split('/').some((part) => part === '' || part === '..' || part.startsWith('.'))
    ) {
      response.status(404).type('text').send('not found');
      return undefined;
    }
    return joined;
  };
  const wrap =
    (handler: (request: Request, response: Response) => Promise<unknown>) =>
    (request: Request, response: Response, next: NextFunction) => {
      handler(request, response).catch(next);
    };

  const queueOf = new Map(PROVIDER_NAMES.map((name, index) => [name, queues[index]!]));
  const writeGuard = (request: Request, response: Response, next: NextFunction) => {
    if (options.readOnly) return void response.status(403).type('text').send('read-only dashboard');
    const origin = request.get('origin');
    const sameOrigin = origin === undefined || origin === `${request.protocol}://${request.get('host')}`;
    const token = (request.body as Record<string, unknown> | undefined)?._csrf;
    if (!sameOrigin || typeof token !== 'string' || !safeEqual(token, csrfToken)) {
      return void response.status(403).type('text').send('missing or invalid CSRF token');
    }
    next();
  };
  app.use(express.urlencoded({ extended: false, limit: '16kb' }));

  const metrics = new Metrics(new Map(PROVIDER_NAMES.map((name, index) => [name, queues[index]!])));
  app.get(
    '/metrics',
    wrap(async (_request, response) => {
      const { contentType, body } = await metrics.expose();
      response.type(contentType).send(body);
    }),
  );

  app.post(
    '/batches/:id/pause',
    writeGuard,
    wrap(async (request, response) => {
      const status = await statusOf(request, response);
      if (status === undefined) return;
      await store.setPaused(status.batchId, true);
      response.redirect(303, `/batches/${encodeURIComponent(status.batchId)}`);
    }),
  );
  app.post(
    '/batches/:id/resume',
    writeGuard,
    wrap(async (request, response) => {
      const status = await statusOf(request, response);
      if (status === undefined) return;
      await store.setPaused(status.batchId, false);
      response.redirect(303, `/batches/${encodeURIComponent(status.batchId)}`);
    }),
  );
  /** The failed rows of a batch and what retrying them would cost, or why they cannot be retried now. */
  const retryPlan = async (status: BatchStatus) => {
    const failed: ResultLine[] = [];
    for await (const line of resultLines(status)) {
      if (line.status === 'failed') failed.push(line);
    }
    let estimateUsd = 0;
    for (const line of failed) {
      const [width, height] = line.resolution.split('x').map(Number) as [number, number];
      estimateUsd += catalogue.quote(line.provider, {
        operation: line.operation,
        resolution: { width, height },
        quality: 'high',
        numImages: 1,
        inputImageCount: 0,
      }).usd;
    }
    const blockedReason =
      failed.length === 0
        ? 'This batch has no failed rows.'
        : status.pending > 0
          ? `Wait until the batch has finished (${status.pending} rows pending) before retrying its failed rows.`
          : undefined;
    return { failed, estimateUsd, blockedReason };
  };
  app.get(
    '/batches/:id/retry-failed',
    wrap(async (request, response) => {
      const status = await statusOf(request, response);
      if (status === undefined) return;
      if (options.readOnly) return void response.status(403).type('text').send('read-only dashboard');
      const plan = await retryPlan(status);
      response.type('html').send(
        retryConfirmationPage({
          batchId: status.batchId,
          failedRows: plan.failed.length,
          estimateUsd: plan.estimateUsd,
          blockedReason: plan.blockedReason,
          csrfToken,
        }),
      );
    }),
  );
  app.post(
    '/batches/:id/retry-failed',
    writeGuard,
    wrap(async (request, response) => {
      const status = await statusOf(request, response);
      if (status === undefined) return;
      const plan = await retryPlan(status);
      if (plan.blockedReason !== undefined || (request.body as Record<string, unknown>).confirm !== 'yes') {
        return void response
          .status(409)
          .type('text')
          .send(plan.blockedReason ?? 'not confirmed');
      }
      const retried = new Set<string>();
      for (const line of plan.failed) {
        const queue = queueOf.get(line.provider);
        const job =
          queue === undefined
            ? undefined
            : await Job.fromId<ImageJobData>(queue, jobIdFor(status.batchId, line.row_key));
        if (job === undefined || (await job.getState()) !== 'failed') continue;
        const data = { ...job.data };
        delete data.submissionStartedAt;
        delete data.providerRequest;
        await job.updateData(data);
        if (!(await store.forgetFailure(status.batchId, line.row_key, line.error?.code ?? 'unknown')))
          continue;
        await job.retry('failed');
        retried.add(line.row_key);
      }
      // One results line per row: the failed lines of retried rows go; their new outcome is appended when it comes.
      await outputStoreFor(status.outputDirectory).removeResultLines(
        status.batchId,
        retried,
        (text) => (JSON.parse(text) as ResultLine).status === 'failed',
      );
      log.info({ batch: status.batchId, rows: retried.size }, 'retrying failed rows');
      response.redirect(303, `/batches/${encodeURIComponent(status.batchId)}`);
    }),
  );

  app.get(
    '/',
    wrap(async (_request, response) =>
      response.type('html').send(batchesPage(await overviews(), await pausedProviders())),
    ),
  );
  app.get(
    '/api/batches',
    wrap(async (_request, response) => response.json(await overviews())),
  );
  app.get(
    '/api/batches/rows',
    wrap(async (_request, response) =>
      response.type('html').send((await overviews()).map(batchRow).join('\n')),
    ),
  );
  app.get(
    '/batches/:id',
    wrap(async (request, response) => {
      const status = await statusOf(request, response);
      if (status === undefined) return;
      const query = typeof request.query.q === 'string' ? request.query.q.trim() : '';
      const failures = new Map<string, { code: string; count: number; examples: ResultLine[] }>();
      const gallery: BatchPageData['gallery'] = [];
      const matches: ResultLine[] | undefined = query === '' ? undefined : [];
      for await (const line of resultLines(status)) {
        if (line.status === 'failed') {
          const code = line.error?.code ?? 'unknown';
          const group = failures.get(code) ?? { code, count: 0, examples: [] };
          group.count += 1;
          if (group.examples.length < 5) group.examples.push(line);
          failures.set(code, group);
        }
        for (const output of line.outputs)
          if (gallery.length < GALLERY_SIZE) gallery.push({ rowKey: line.row_key, path: output.path });
        const needle = query.toLowerCase();
        if (
          matches !== undefined &&
          matches.length < 100 &&
          (line.row_key.toLowerCase().includes(needle) || (line.prompt ?? '').toLowerCase().includes(needle))
        ) {
          matches.push(line);
        }
      }
      response.type('html').send(
        batchPage({
          overview: overviewOf(status),
          figures: reportFigures(status),
          failures: [...failures.values()],
          matches,
          query,
          gallery,
          csrfToken: options.readOnly ? undefined : csrfToken,
          paused: await store.isPaused(status.batchId),
        }),
      );
    }),
  );
  app.get(
    '/batches/:id/cards',
    wrap(async (request, response) => {
      const status = await statusOf(request, response);
      if (status !== undefined) response.type('html').send(batchCards(overviewOf(status)));
    }),
  );
  app.get(
    '/batches/:id/results.jsonl',
    wrap(async (request, response) => {
      const status = await statusOf(request, response);
      if (status === undefined) return;
      response.type('application/x-ndjson').attachment(`${status.batchId}-results.jsonl`);
      for await (const text of outputStoreFor(status.outputDirectory).resultLines(status.batchId))
        response.write(`${text}\n`);
      response.end();
    }),
  );
  app.get(
    '/batches/:id/report.csv',
    wrap(async (request, response) => {
      const status = await statusOf(request, response);
      if (status === undefined) return;
      response.type('text/csv').attachment(`${status.batchId}-report.csv`);
      await writeReportCsv(outputStoreFor(status.outputDirectory).resultLines(status.batchId), (text) =>
        response.write(text),
      );
      response.end();
    }),
  );
  app.get(
    '/batches/:id/files/*path',
    wrap(async (request, response) => {
      const status = await statusOf(request, response);
      if (status === undefined) return;
      const file = fileOf(request, response);
      if (file === undefined) return;
      const stream = await outputStoreFor(status.outputDirectory).read(status.batchId, file);
      if (stream === undefined) return void response.status(404).type('text').send('not found');
      response.type(path.extname(file) || 'application/octet-stream');
      await pipeline(stream, response);
    }),
  );
  app.get(
    '/batches/:id/thumbnails/*path',
    wrap(async (request, response) => {
      const status = await statusOf(request, response);
      if (status === undefined) return;
      const file = fileOf(request, response);
      if (file === undefined) return;
      const outputStore = outputStoreFor(status.outputDirectory);
      const cached = path.join(
        outputStore.cacheDirectory(status.batchId),
        `${file.replace(/\//g, '__')}.webp`,
      );
      try {
        await stat(cached);
      } catch {
        await mkdir(path.dirname(cached), { recursive: true });
        const temporary = `${cached}.${process.pid}.tmp`;
        try {
          let source: string | Buffer | undefined = outputStore.localPath(status.batchId, file);
          if (source === undefined) {
            const stream = await outputStore.read(status.batchId, file);
            if (stream === undefined) throw new Error('no such file');
            source = await bufferOf(stream);
          }
          await sharp(source, { limitInputPixels: 4096 * 4096 })
            .resize({ width: THUMBNAIL_WIDTH })
            .webp({ quality: 70 })
            .toFile(temporary);
          await rename(temporary, cached);
        } catch {
          response.status(404).type('text').send('not found');
          return;
        }
      }
      response.type('image/webp').sendFile(cached, { dotfiles: 'allow' });
    }),
  );
  app.use((error: Error, _request: Request, response: Response, _next: NextFunction) => {
    log.error({ err: error }, 'dashboard request failed');
    if (!response.headersSent) response.status(500).type('text').send('internal error');
  });

  const server = await new Promise<Server>((resolve, reject) => {
    const listening = app.listen(options.port, options.host, (error?: Error) =>
      error ? reject(error) : resolve(listening),
    );
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all(queues.map((queue) => queue.close()));
    },
  };
}

function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}
