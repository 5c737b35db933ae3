/**
 * What every dashboard route shares: the options, the batch records, the provider queues, the CSRF token, and small
 * helpers — a batch from the URL (404 when unknown), a file path from the URL (404 when hidden or a parent), the guard
 * of every write route (read-only mode, same origin, CSRF token), and the overviews of the batch pages.
 */
import { timingSafeEqual } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { NextFunction, Request, Response } from 'express';
import type { RedisConnection } from '../shared/redis.js';
import { reportFigures } from '../batch/batch-report.js';
import type { BatchStatus, BatchStore } from '../batch/batch-store.js';
import type { ProviderHealth } from '../batch/provider-health.js';
import type { HostName } from '../shared/hosts.js';
import { createProvider, type Config } from '../providers/configuration.js';
import type { ImageJobData, ResultLine } from '../shared/job-definitions.js';
import { planRetry, type RetryPlan } from '../batch/retry-failed.js';
import { quoteRequest } from '../cost/price-catalogue.js';
import type { Logger } from '../shared/logger.js';
import { outputStoreFor } from '../storage/stores.js';
import type { BatchOverview } from './pages.js';

/** Options of the dashboard. */
export interface DashboardOptions {
  config: Config;
  redis: RedisConnection;
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

/** What the routes share. */
export interface DashboardContext {
  options: DashboardOptions;
  store: BatchStore;
  queues: ReadonlyMap<HostName, Queue>;
  /** The providers' collect queues (collection jobs of accepted async requests, src/worker/collection.ts). */
  collectQueues: ReadonlyMap<HostName, Queue>;
  health: ProviderHealth;
  /** Every write form carries it; only this server process can make it. */
  csrfToken: string;
  log: Logger;
}

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
  const finished = status.state === 'finished';
  // The rate while it ran: a finished batch's clock stops at its last outcome.
  const end = finished && status.lastOutcomeAt !== undefined ? Date.parse(status.lastOutcomeAt) : now;
  const minutes = Math.max(
    (end - Date.parse(status.createdAt || new Date(now).toISOString())) / 60_000,
    1 / 60,
  );
  const rowsPerMinute = done / minutes;
  return {
    id: status.batchId,
    state: status.state,
    createdAt: status.createdAt,
    rows: status.rows,
    done,
    completed: status.completed,
    failed: status.failed,
    rejected: status.rejected,
    pending: status.pending,
    rowsPerMinute,
    etaSeconds: finished ? null : rowsPerMinute > 0 ? (status.pending / rowsPerMinute) * 60 : null,
    finishedAt: finished ? (status.lastOutcomeAt ?? null) : null,
    costUsd: status.costUsdTotal,
    spentUsd: status.spentUsd,
    capUsd: status.budgetUsd ?? null,
    costByTier: reportFigures(status).cost_by_tier,
    ...(status.finishBy?.late === true && !finished ? { late: true } : {}),
  };
}

/** A batch's results lines from its output store, one at a time (constant memory for a directory). */
async function* resultLines(status: BatchStatus): AsyncGenerator<ResultLine> {
  for await (const text of outputStoreFor(status.outputDirectory).resultLines(status.batchId))
    yield JSON.parse(text) as ResultLine;
}

/**
 * Every results line of a batch the dashboard can find: those in its results file, then those recorded in Redis but
 * not (yet) written there — the file could not be written (a full disk, a failing S3) or a worker died in between —
 * each row once. Memory: the unwritten lines only. `onUnreadable` hears why the results file could not be read; the
 * lines from Redis follow all the same.
 */
export async function* batchResultLines(
  context: DashboardContext,
  status: BatchStatus,
  onUnreadable: (reason: string) => void,
): AsyncGenerator<ResultLine> {
  const unwritten = new Map<string, ResultLine>();
  for (const [rowKey, value] of Object.entries(await context.store.pendingResultLines(status.batchId))) {
    const line = parseRecordedLine(value);
    if (line !== undefined) unwritten.set(rowKey, line);
  }
  try {
    for await (const line of resultLines(status)) {
      unwritten.delete(line.row_key);
      yield line;
    }
  } catch (error) {
    onUnreadable(error instanceof Error ? error.message : String(error));
  }
  yield* unwritten.values();
}

/** A results line as Redis keeps it until written (`<recorded at, ms>|<line JSON>`), or undefined when unreadable. */
function parseRecordedLine(value: string): ResultLine | undefined {
  try {
    return JSON.parse(value.slice(value.indexOf('|') + 1)) as ResultLine;
  } catch {
    return undefined;
  }
}

/** Every batch's overview. */
export async function overviews(context: DashboardContext): Promise<BatchOverview[]> {
  const result: BatchOverview[] = [];
  for (const id of await context.store.listBatches()) {
    const status = await context.store.status(id);
    if (status !== undefined) result.push(overviewOf(status));
  }
  return result;
}

/** Provider queues paused for their account, as `name: reason`. */
export async function pausedProviders(context: DashboardContext): Promise<string[]> {
  const paused: string[] = [];
  for (const [name, queue] of context.queues) {
    const reason = await context.health.pauseReason(name);
    if (reason !== undefined && (await queue.isPaused())) paused.push(`${name}: ${reason}`);
  }
  return paused;
}

/** The batch named by the URL, or undefined (answered 404). */
export async function statusOf(
  context: DashboardContext,
  request: Request,
  response: Response,
): Promise<BatchStatus | undefined> {
  const status = await context.store.status(String(request.params.id));
  if (status === undefined) response.status(404).type('text').send('no such batch');
  return status;
}

/** The batch-relative path named by the rest of the URL, or undefined (answered 404) for a hidden or parent one. */
export function fileOf(request: Request, response: Response): string | undefined {
  const relative = (request.params as Record<string, string | string[]>).path;
  const joined = Array.isArray(relative) ? relative.join('/') : String(relative ?? '');
  if (
    joined === '' ||
    joined.split('/').some((part) => part === '' || part === '..' || part.startsWith('.')) ||
    // A NUL or other control character names no file we wrote (and makes the file system throw).
    [...joined].some((character) => character.charCodeAt(0) < 0x20)
  ) {
    response.status(404).type('text').send('not found');
    return undefined;
  }
  return joined;
}

/** An async route handler whose errors go to express's error handler. */
export const wrap =
  (handler: (request: Request, response: Response) => Promise<unknown>) =>
  (request: Request, response: Response, next: NextFunction) => {
    handler(request, response).catch(next);
  };

/** The guard of every write route: refused in read-only mode, from another origin, or without the CSRF token. */
export function writeGuard(context: DashboardContext) {
  return (request: Request, response: Response, next: NextFunction) => {
    if (context.options.readOnly) return void response.status(403).type('text').send('read-only dashboard');
    const origin = request.get('origin');
    const sameOrigin = origin === undefined || origin === `${request.protocol}://${request.get('host')}`;
    const token = (request.body as Record<string, unknown> | undefined)?._csrf;
    if (!sameOrigin || typeof token !== 'string' || !safeEqual(token, context.csrfToken)) {
      return void response.status(403).type('text').send('missing or invalid CSRF token');
    }
    next();
  };
}

function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/**
 * What retrying batch `status`'s failed rows would cost: each failed row priced from its own job (its size, quality —
 * else the provider's default —, images and inputs) with the batch's own catalogue (its pricing file, as the workers
 * price it). Shared by the batch page's confirmation and the API.
 */
export async function retryPlanOf(context: DashboardContext, status: BatchStatus): Promise<RetryPlan> {
  const { config } = context.options;
  const catalogue = await context.store.catalogue(status.batchId);
  const quote = (data: ImageJobData) =>
    quoteRequest(catalogue, data.provider, data, createProvider(data.provider, config).defaultQuality).usd;
  return planRetry(status, context.queues, context.collectQueues, quote);
}
