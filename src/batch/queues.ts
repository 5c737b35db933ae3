/**
 * The providers' BullMQ queues, for the rooms above that need them without knowing BullMQ: follow a batch, resume a
 * provider paused for its account.
 */
import {
  Queue,
  Worker,
  type ConnectionOptions,
  type JobsOptions,
  type Processor,
  type WorkerOptions,
} from 'bullmq';
import { clusterSettingsOf, openRedis, sentinelOptionsOf, type RedisConnection } from '../shared/redis.js';
import { PROVIDER_BACKOFF_TYPE } from '../shared/job-definitions.js';
import type { HostName } from '../shared/hosts.js';
import type { Config } from '../providers/configuration.js';
import { collectQueueNameFor, queueNameFor, ROUTE_QUEUE_NAME } from '../shared/keys.js';
import { ProviderHealth } from './provider-health.js';

/** What a row's jobs are made with: attempts, the backoff's base delay (ms), completed jobs kept per queue. */
export interface RowJobSettings {
  attempts: number;
  backoffDelayMs: number;
  /** Completed jobs a queue keeps, newest first (IMAGE_BATCH_KEEP_COMPLETED_JOBS); 0 or unset: none. */
  keepCompletedJobs?: number;
}

/**
 * The options of a row's job in any queue (a provider's, the route queue): attempts and image-batch's backoff; removed
 * as soon as it completes (issue 27: Redis holds what is in flight — the row's outcome is recorded by then, in the
 * batch's records), unless some completed jobs are to be kept; kept a month once failed (retrying a failed row starts
 * from its job).
 */
export function rowJobOptions(settings: RowJobSettings): JobsOptions {
  const keep = settings.keepCompletedJobs ?? 0;
  return {
    attempts: settings.attempts,
    backoff: { type: PROVIDER_BACKOFF_TYPE, delay: settings.backoffDelayMs },
    removeOnComplete: keep > 0 ? { count: keep } : true,
    removeOnFail: { age: 30 * 24 * 3600 },
  };
}

/**
 * The collect queue of each provider (collection jobs of accepted asynchronous requests, src/worker/collection.ts), on
 * `redis` under `prefix`. Close them when done.
 */
export function openCollectQueues(redis: RedisConnection, prefix: string, providers: readonly HostName[]) {
  return openQueues(redis, prefix, providers, collectQueueNameFor);
}

/** The route queue (rows with several candidate hosts waiting for one, src/worker/router.ts). Close it when done. */
export function openRouteQueue(redis: RedisConnection, prefix: string): Queue {
  return new Queue(ROUTE_QUEUE_NAME, { connection: redis, prefix });
}

/** One queue per host (its submissions; a provider's further accounts have their own), on `redis` under `prefix`. Close them when done. */
export function openProviderQueues(redis: RedisConnection, prefix: string, providers: readonly HostName[]) {
  return openQueues(redis, prefix, providers, queueNameFor);
}

function openQueues(
  redis: RedisConnection,
  prefix: string,
  providers: readonly HostName[],
  queueName: (provider: HostName) => string,
): Array<{ name: HostName; queue: Queue }> {
  return providers.map((name) => ({
    name,
    queue: new Queue(queueName(name), { connection: redis, prefix }),
  }));
}

/**
 * Resume `provider`'s queue paused for its account (credit out, authentication failed) and clear the reason and its
 * circuit breaker. @returns the reason it was paused, when one was recorded.
 */
export async function resumeProviderQueue(
  redis: RedisConnection,
  config: Config,
  provider: HostName,
): Promise<string | undefined> {
  const queue = new Queue(queueNameFor(provider), { connection: redis, prefix: config.queuePrefix });
  try {
    const health = new ProviderHealth(redis, config.queuePrefix, {
      threshold: config.breakerThreshold,
      openMs: config.breakerOpenMs,
    });
    const reason = await health.pauseReason(provider);
    await queue.resume();
    await health.clearPauseReason(provider);
    await health.recordSuccess(provider);
    return reason;
  } finally {
    await queue.close();
  }
}

/**
 * BullMQ's connection options for the Redis at `url` — a plain URL, or a `redis+sentinel://` one
 * (src/shared/redis.ts) — with `maxRetriesPerRequest: null`, as BullMQ workers require.
 */
function bullConnection(url: string): ConnectionOptions {
  const sentinel = sentinelOptionsOf(url);
  const options = sentinel === undefined ? { url } : sentinel;
  return { ...options, maxRetriesPerRequest: null };
}

/**
 * A BullMQ worker of queue `name` under `redis.prefix`, with a connection of its own to the Redis at `redis.url`.
 * BullMQ opens a connection from options only to a single Redis; for a `redis+cluster://` URL it takes an ioredis
 * Cluster (https://docs.bullmq.io/patterns/redis-cluster), which this opens and closes when the worker has closed.
 */
export function openWorker<Data, Result>(
  redis: { url: string; prefix: string },
  name: string,
  processor: Processor<Data, Result>,
  options: Omit<WorkerOptions, 'connection' | 'prefix'>,
): Worker<Data, Result> {
  const cluster =
    clusterSettingsOf(redis.url) === undefined
      ? undefined
      : openRedis(redis.url, { maxRetriesPerRequest: null });
  cluster?.on('error', () => undefined);
  const worker = new Worker<Data, Result>(name, processor, {
    ...options,
    connection: cluster ?? bullConnection(redis.url),
    prefix: redis.prefix,
  });
  if (cluster !== undefined) worker.once('closed', () => cluster.disconnect());
  return worker;
}
