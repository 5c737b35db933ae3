/**
 * Where a batch's events come from: the producer announces `batch.started` when its rows are enqueued
 * ({@link announceBatch}); every worker process then looks at the batches that send events every few seconds
 * ({@link watchBatches}) and sends what their state shows — finished, budget reached, canary ready, stalled, late — each once
 * per batch whichever process sees it first. It also takes over an event whose sender died mid-delivery. A batch stops
 * being watched once its `batch.finished` was delivered or given up.
 */
import type { Logger } from '../../shared/logger.js';
import type { RedisConnection } from '../../shared/redis.js';
import { batchKeys, notifyingBatchesKey } from '../../shared/keys.js';
import type { BatchStatus, BatchStore } from '../batch-store.js';
import { canaryReport } from '../canary-report.js';
import {
  budgetReachedEvent,
  canaryReadyEvent,
  finishedEvent,
  stalledEvent,
  lateEvent,
  startedEvent,
  type BatchEventType,
  type EventBody,
} from './events.js';
import type { Notifier } from './notifier.js';

/** Field of a batch's notifications hash holding the estimate of its enqueued rows, USD. */
const ESTIMATE_FIELD = 'estimate_usd';

/** What {@link watchBatches} needs. */
export interface BatchWatchOptions {
  redis: RedisConnection;
  prefix: string;
  store: BatchStore;
  notifier: Notifier;
  /** No row finished for this long while rows wait (and the batch is not held): `batch.stalled`, ms. */
  stallMs: number;
  log: Logger;
}

/**
 * Send the batch's events to `url` from now on, and announce it: `batch.started` with its rows and the estimate of
 * those this enqueue added (`estimateUsd`, USD). Called by the producer once its rows are enqueued.
 */
export async function announceBatch(
  options: Pick<BatchWatchOptions, 'redis' | 'prefix' | 'store' | 'notifier'>,
  batchId: string,
  url: string,
  estimateUsd: number,
): Promise<void> {
  const { redis, prefix, store, notifier } = options;
  await notifier.setTarget(batchId, url);
  await redis.hincrbyfloat(batchKeys(prefix, batchId).notifications, ESTIMATE_FIELD, estimateUsd);
  const status = await store.status(batchId);
  if (status !== undefined) notifier.send(batchId, startedEvent(status, estimateUsd));
}

/** One look at every batch that sends events. Never throws: a batch that cannot be read is logged and skipped. */
export async function watchBatches(options: BatchWatchOptions): Promise<void> {
  const batchIds = await options.redis.smembers(notifyingBatchesKey(options.prefix));
  for (const batchId of batchIds) {
    await watchBatch(options, batchId).catch((error: unknown) =>
      options.log.warn({ err: error, batchId }, 'could not look at the batch for its events'),
    );
  }
}

/** One look at one batch: send what its state shows, take over stale deliveries, stop watching it once finished. */
export async function watchBatch(options: BatchWatchOptions, batchId: string): Promise<void> {
  const { redis, prefix, store, notifier } = options;
  const key = batchKeys(prefix, batchId).notifications;
  const status = await store.status(batchId);
  if (status === undefined) {
    await redis.srem(notifyingBatchesKey(prefix), batchId);
    return;
  }
  const records = await redis.hgetall(key);
  const untaken = (type: BatchEventType) => records[type] === undefined;
  takeOverStale(options, batchId, records);
  if (status.state === 'budget_reached' && untaken('batch.budget_reached'))
    notifier.send(batchId, budgetReachedEvent(status));
  if (status.state === 'awaiting_approval' && untaken('batch.canary_ready')) {
    const report = await canaryReport(status);
    if (report !== undefined) notifier.send(batchId, canaryReadyEvent(status, report));
  }
  const idleMs = idleFor(status);
  if (
    status.state === 'running' &&
    status.pending > 0 &&
    idleMs >= options.stallMs &&
    untaken('batch.stalled')
  )
    notifier.send(batchId, stalledEvent(status, idleMs));
  if (status.finishBy?.late === true && status.state !== 'finished' && untaken('batch.late'))
    notifier.send(batchId, lateEvent(status));
  if (status.state === 'finished') {
    const finished = records['batch.finished'];
    if (finished === undefined) notifier.send(batchId, finishedEvent(status, estimateOf(records)));
    else if (!finished.startsWith('sending|')) await redis.srem(notifyingBatchesKey(prefix), batchId);
  }
}

/** Resume each event whose sender took it longer than the lease ago and did not finish (it died). */
function takeOverStale(options: BatchWatchOptions, batchId: string, records: Record<string, string>): void {
  const lease = options.notifier.leaseMs;
  for (const [type, value] of Object.entries(records)) {
    const match = /^sending\|(\d+)\|(.*)$/s.exec(value);
    if (match === null || Number(match[1]) > Date.now() - lease) continue;
    options.notifier.resume(batchId, type as EventBody['type'], match[2]!);
  }
}

/** How long no row of the batch finished, ms: since its latest outcome, or since it was made. */
function idleFor(status: BatchStatus): number {
  const since = Date.parse(status.lastOutcomeAt ?? status.createdAt);
  return Number.isFinite(since) ? Date.now() - since : 0;
}

function estimateOf(records: Record<string, string>): number | undefined {
  const value = records[ESTIMATE_FIELD];
  return value === undefined ? undefined : Number(value);
}
