/**
 * The lifecycle of a batch run in one process (`image-batch run`): start workers when rows are pending, follow the
 * batch until every row has an outcome (or the user interrupts, the budget cap holds the rest back, or a provider the
 * remaining rows need is paused for its account), stop the workers, repair results lines a stopped worker recorded but
 * never wrote, and write summary.json. Workers are started by the caller's `startWorkers` (the worker room sits above
 * this one), so the runner knows queues and batch records, never a provider.
 */
import type { RedisConnection } from '../shared/redis.js';
import { PROVIDER_NAMES } from '../shared/config.js';
import { hostsOfAll, type Config } from '../providers/configuration.js';
import type { Logger } from '../shared/logger.js';
import type { BatchStatus, BatchStore } from './batch-store.js';
import { writeBatchSummary, type BatchSummary } from './batch-summary.js';
import { ProviderHealth } from './provider-health.js';
import { storagePauseReason } from './storage-pause.js';
import { openCollectQueues, openProviderQueues, openRouteQueue } from './queues.js';
import { flushPendingResultLines } from './row-outcome.js';

/** What a run needs. */
export interface BatchRunOptions {
  redis: RedisConnection;
  store: BatchStore;
  config: Config;
  batchId: string;
  /** Where the batch's files go (its output root). */
  outputRoot: string;
  /** Start this process's workers; called only when rows are pending. */
  startWorkers(): Promise<{ close(): Promise<void> }>;
  /** Resolves when the user asks to stop. */
  stopRequested: Promise<void>;
  /** Called with rows finished and rows in all, each time the batch is read. */
  onProgress?(finished: number, total: number): void;
  /** Called once, after the last read (e.g. to stop a progress bar). */
  onProgressEnd?(): void;
  /**
   * Called once when the batch's canary rows have all finished and the rest awaits approval: approve (through the
   * store) and return `continue`, return `continue` to wait for an approval from elsewhere (`image-batch approve`, the
   * dashboard), or `stop` to end the run with the batch waiting. Without it, the run waits.
   */
  onCanaryFinished?(status: BatchStatus): Promise<'continue' | 'stop'>;
  /** How often the batch is read from Redis, ms. Default 500. */
  pollIntervalMs?: number;
  log: Logger;
}

/** How a run ended. */
export interface BatchRunOutcome {
  status: BatchStatus;
  summary: BatchSummary;
  /** The user interrupted; pending rows continue when the same run is started again. */
  interrupted: boolean;
  /** `provider: reason` for each provider paused for its account while rows wait on it. */
  pausedProviders: string[];
  /** The run ended with the batch's canary finished and the rest waiting for approval. */
  awaitingApproval: boolean;
  /** Why the batch was paused without the user asking (its output storage is full), when it was. */
  pausedReason?: string;
}

/**
 * Run batch `batchId` in this process until it is finished or cannot go on.
 * @throws when Redis stays unreachable for more than 5 minutes, or the batch has no record.
 */
export async function runBatch(options: BatchRunOptions): Promise<BatchRunOutcome> {
  let status = await options.store.status(options.batchId);
  if (status === undefined) throw new Error(`batch ${options.batchId} has no record in Redis`);
  let interrupted = false;
  let awaitingApproval = false;
  let pausedProviders: string[] = [];
  let pausedReason: string | undefined;
  // An approval a crash interrupted half-way is finished before anything else.
  if (status.canary?.state === 'approved' && status.canary.held > 0)
    await options.store.canary.approve(options.batchId);
  if (status.pending > 0) {
    const workers = await options.startWorkers();
    try {
      ({ status, interrupted, pausedProviders, awaitingApproval, pausedReason } = await followBatch(
        options,
        status,
      ));
    } finally {
      await workers.close();
    }
    // Every worker of this process has stopped; a line recorded but never written by any worker is repaired here.
    await flushPendingResultLines(options.store, options.batchId, options.outputRoot, 1000);
  } else {
    options.onProgress?.(status.completed + status.failed, status.rows);
    options.onProgressEnd?.();
  }
  const summary = await writeBatchSummary(status);
  return {
    status,
    summary,
    interrupted,
    pausedProviders,
    awaitingApproval,
    ...(pausedReason === undefined ? {} : { pausedReason }),
  };
}

/** Jobs waiting or running in the queues not paused for their account, and `provider: reason` of those paused. */
async function queuedJobs(
  queues: ReturnType<typeof openProviderQueues>,
  collectQueues: ReturnType<typeof openCollectQueues>,
  routeQueue: ReturnType<typeof openRouteQueue>,
  health: ProviderHealth,
): Promise<{ queued: number; pausedProviders: string[] }> {
  let queued = 0;
  const pausedProviders: string[] = [];
  for (const { name, queue } of queues) {
    const reason = await health.pauseReason(name);
    if (reason !== undefined && (await queue.isPaused())) {
      pausedProviders.push(`${name}: ${reason}`);
      continue;
    }
    queued += await unfinishedJobs(queue);
  }
  // Collection jobs follow requests already accepted: they count whatever the submission queue's state; routed rows
  // wait for a host in the route queue.
  for (const { queue } of collectQueues) queued += await unfinishedJobs(queue);
  queued += await unfinishedJobs(routeQueue);
  return { queued, pausedProviders };
}

/** The submission and collect queue of every host, and the route queue. Close them when done. */
function openEveryQueue(redis: BatchRunOptions['redis'], config: Config) {
  const hosts = hostsOfAll(config, PROVIDER_NAMES);
  return {
    queues: openProviderQueues(redis, config.queuePrefix, hosts),
    collectQueues: openCollectQueues(redis, config.queuePrefix, hosts),
    routeQueue: openRouteQueue(redis, config.queuePrefix),
  };
}

/** Jobs of `queue` not yet completed or failed. */
async function unfinishedJobs(queue: ReturnType<typeof openRouteQueue>): Promise<number> {
  const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children');
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

/**
 * Read the batch until every row has an outcome, the user interrupts, the budget cap holds the remaining rows back, a
 * provider they need is paused for its account, or they have no job left in the queues (removed by hand). Redis being
 * briefly unreachable (a restart) is waited out.
 */
async function followBatch(
  options: BatchRunOptions,
  initial: BatchStatus,
): Promise<{
  status: BatchStatus;
  interrupted: boolean;
  pausedProviders: string[];
  awaitingApproval: boolean;
  pausedReason?: string;
}> {
  const { config, redis, log } = options;
  const health = new ProviderHealth(redis, config.queuePrefix, {
    threshold: config.breakerThreshold,
    openMs: config.breakerOpenMs,
  });
  const { queues, collectQueues, routeQueue } = openEveryQueue(redis, config);
  let interrupted = false;
  void options.stopRequested.then(() => {
    interrupted = true;
  });
  let status = initial;
  let idlePolls = 0;
  let unreachableSince: number | undefined;
  let budgetHits = 0;
  let pausedProviders: string[] = [];
  let canaryAsked = false;
  let awaitingApproval = false;
  let pausedReason: string | undefined;
  try {
    for (;;) {
      try {
        status = (await options.store.status(options.batchId)) ?? status;
        unreachableSince = undefined;
        options.onProgress?.(status.completed + status.failed, status.rows);
        if (status.pending === 0 || interrupted) break;
        if (status.state === 'awaiting_approval' && !canaryAsked) {
          canaryAsked = true;
          options.onProgressEnd?.();
          const decision = (await options.onCanaryFinished?.(status)) ?? 'continue';
          if (decision === 'stop') {
            awaitingApproval = true;
            break;
          }
        }
        budgetHits = status.state === 'budget_reached' && status.reservedUsd === 0 ? budgetHits + 1 : 0;
        if (budgetHits >= 3) break;
        // Paused for its storage (a full disk): nothing more is paid for until it is resumed.
        pausedReason = await storagePauseReason(redis, config.queuePrefix, options.batchId);
        if (pausedReason !== undefined) break;
        let queued: number;
        ({ queued, pausedProviders } = await queuedJobs(queues, collectQueues, routeQueue, health));
        queued += await options.store.openaiBatches.inFlight(options.batchId);
        idlePolls = queued === 0 ? idlePolls + 1 : 0;
        if (idlePolls >= 10) {
          if (pausedProviders.length === 0)
            log.error({ pending: status.pending }, 'rows are pending but no job is left in the queues');
          break;
        }
      } catch (error) {
        unreachableSince ??= Date.now();
        if (Date.now() - unreachableSince > 5 * 60_000) throw error;
        log.warn({ reason: (error as Error).message }, 'Redis unavailable; waiting for it to come back');
      }
      await Promise.race([
        new Promise((resolve) => setTimeout(resolve, options.pollIntervalMs ?? 500)),
        options.stopRequested,
      ]);
    }
  } finally {
    options.onProgressEnd?.();
    await Promise.all([...queues, ...collectQueues, { queue: routeQueue }].map(({ queue }) => queue.close()));
  }
  return {
    status,
    interrupted,
    pausedProviders,
    awaitingApproval,
    ...(pausedReason === undefined ? {} : { pausedReason }),
  };
}
