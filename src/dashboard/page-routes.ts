/**
 * The dashboard's read-only routes: the batches page and its live rows, a batch's page (failures by reason, search,
 * gallery) and live cards, the downloads of results.jsonl and the CSV report, and Prometheus metrics.
 */
import { batchHosts } from '../batch/batch-hosts.js';
import { storagePauseReason } from '../batch/storage-pause.js';
import { configuredHosts } from '../providers/configuration.js';
import { canaryReport } from '../batch/canary-report.js';
import type { Express } from 'express';
import { reportFigures, writeReportCsv } from '../batch/batch-report.js';
import type { BatchStatus } from '../batch/batch-store.js';
import type { ResultLine } from '../shared/job-definitions.js';
import { Metrics } from '../shared/metrics.js';
import { outputStoreFor } from '../storage/stores.js';
import {
  overviewOf,
  overviews,
  pausedProviders,
  batchResultLines,
  statusOf,
  wrap,
  type DashboardContext,
} from './dashboard-context.js';
import { workerCountsOf } from '../batch/autoscaling.js';
import { batchCards, batchPage, batchRows, batchesPage, newBatchPage, type BatchPageData } from './pages.js';
import { batchListPage, batchListQuery, type BatchListPage } from './batch-list.js';
import { addChartAssets } from './charts.js';
import { readTimeline, recentFinished } from '../batch/timeline.js';

const GALLERY_SIZE = 48;

/** `/batches/new`, the "New batch" page (before `/batches/:id`, which would take `new` for a batch id). */
function addNewBatchPage(app: Express, context: DashboardContext): void {
  app.get('/batches/new', (_request, response) => {
    response.type('html').send(newBatchPage(context.csrfToken, context.options.readOnly));
  });
}

/** Add the page routes to `app`. */
export function addPageRoutes(app: Express, context: DashboardContext): void {
  const { redis, config } = context.options;
  const metrics = new Metrics(
    new Map(context.queues),
    new Map(context.collectQueues),
    workerCountsOf(redis, config, context.queues, context.collectQueues),
  );
  app.get(
    '/metrics',
    wrap(async (_request, response) => {
      const { contentType, body } = await metrics.expose();
      response.type(contentType).send(body);
    }),
  );
  addChartAssets(app);
  app.get(
    '/',
    wrap(async (request, response) => {
      const list = await withRecentActivity(
        context,
        batchListPage(await overviews(context), batchListQuery(request.query)),
      );
      response.type('html').send(batchesPage(list, await pausedProviders(context)));
    }),
  );
  app.get(
    '/api/batches',
    wrap(async (_request, response) => response.json(await overviews(context))),
  );
  app.get(
    '/api/batches/rows',
    wrap(async (request, response) => {
      const list = await withRecentActivity(
        context,
        batchListPage(await overviews(context), batchListQuery(request.query)),
      );
      response.type('html').send(batchRows(list));
    }),
  );
  addNewBatchPage(app, context);
  app.get(
    '/batches/:id',
    wrap(async (request, response) => {
      const status = await statusOf(context, request, response);
      if (status === undefined) return;
      const query = typeof request.query.q === 'string' ? request.query.q.trim() : '';
      response.type('html').send(await batchPageOf(context, status, query));
    }),
  );
  app.get(
    '/api/batches/:id/timeline',
    wrap(async (request, response) => {
      const status = await statusOf(context, request, response);
      if (status === undefined) return;
      const { config } = context.options;
      const timeline = await readTimeline(
        redis,
        config.queuePrefix,
        {
          batchId: status.batchId,
          rows: status.rows,
          budgetUsd: status.budgetUsd,
          fromMs: Date.parse(status.createdAt) || Date.now(),
          toMs:
            status.state === 'finished' ? Date.parse(status.lastOutcomeAt ?? '') || Date.now() : Date.now(),
        },
        configuredHosts(config).accounts,
      );
      response.json(timeline);
    }),
  );
  app.get(
    '/batches/:id/cards',
    wrap(async (request, response) => {
      const status = await statusOf(context, request, response);
      if (status !== undefined) response.type('html').send(batchCards(overviewOf(status)));
    }),
  );
  addDownloadRoutes(app, context);
}

/** The page of the list with each batch's last hour of finished rows (one read per batch shown). */
async function withRecentActivity(context: DashboardContext, list: BatchListPage): Promise<BatchListPage> {
  const { redis, config } = context.options;
  const batches = await Promise.all(
    list.batches.map(async (batch) => ({
      ...batch,
      recent: await recentFinished(
        redis,
        config.queuePrefix,
        batch.id,
        batch.finishedAt === null ? Date.now() : Date.parse(batch.finishedAt),
      ),
    })),
  );
  return { ...list, batches };
}

/** A batch's page: failures grouped by reason, the rows matching `query`, a gallery. */
async function batchPageOf(context: DashboardContext, status: BatchStatus, query: string): Promise<string> {
  const failures = new Map<string, { code: string; count: number; examples: ResultLine[] }>();
  const gallery: BatchPageData['gallery'] = [];
  const matches: ResultLine[] | undefined = query === '' ? undefined : [];
  const needle = query.toLowerCase();
  let resultsProblem: string | undefined;
  const lines = batchResultLines(context, status, (reason) => {
    resultsProblem = reason;
  });
  for await (const line of lines) {
    if (line.status === 'failed') {
      const code = line.error?.code ?? 'unknown';
      const group = failures.get(code) ?? { code, count: 0, examples: [] };
      group.count += 1;
      if (group.examples.length < 5) group.examples.push(line);
      failures.set(code, group);
    }
    for (const output of line.outputs)
      if (gallery.length < GALLERY_SIZE) gallery.push({ rowKey: line.row_key, path: output.path });
    const found =
      line.row_key.toLowerCase().includes(needle) || (line.prompt ?? '').toLowerCase().includes(needle);
    if (matches !== undefined && matches.length < 100 && found) matches.push(line);
  }
  return batchPage({
    overview: overviewOf(status),
    figures: reportFigures(status),
    failures: [...failures.values()],
    ...(resultsProblem === undefined ? {} : { resultsProblem }),
    matches,
    query,
    gallery,
    csrfToken: context.options.readOnly ? undefined : context.csrfToken,
    paused: await context.store.isPaused(status.batchId),
    priority: status.priority,
    ...(status.finishBy === undefined ? {} : { finishBy: status.finishBy }),
    ...(await pausedReasonOf(context, status.batchId)),
    canary: status.canary?.state === 'awaiting' ? await canaryReport(status) : undefined,
    hosts: await batchHosts(
      context.options.redis,
      context.options.config.queuePrefix,
      { batchId: status.batchId, counters: status.counters, capUsd: status.budgetUsd },
      context.health,
      configuredHosts(context.options.config),
    ),

    openaiBatches: {
      waiting:
        (await context.store.openaiBatches.waitingCount(status.batchId, 'generate')) +
        (await context.store.openaiBatches.waitingCount(status.batchId, 'edit')),
      groups: await context.store.openaiBatches.groups(status.batchId),
    },
  });
}

/** results.jsonl and the CSV report, streamed. */
function addDownloadRoutes(app: Express, context: DashboardContext): void {
  app.get(
    '/batches/:id/results.jsonl',
    wrap(async (request, response) => {
      const status = await statusOf(context, request, response);
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
      const status = await statusOf(context, request, response);
      if (status === undefined) return;
      response.type('text/csv').attachment(`${status.batchId}-report.csv`);
      const lines = outputStoreFor(status.outputDirectory).resultLines(status.batchId);
      await writeReportCsv(lines, (text) => response.write(text));
      response.end();
    }),
  );
}

/** `{ pausedReason }` when the batch was paused without the user asking (a full disk), else `{}`. */
async function pausedReasonOf(
  context: DashboardContext,
  batchId: string,
): Promise<{ pausedReason?: string }> {
  const reason = await storagePauseReason(context.options.redis, context.options.config.queuePrefix, batchId);
  return reason === undefined ? {} : { pausedReason: reason };
}
