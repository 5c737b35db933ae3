/**
 * The BullMQ Worker of one host's queues (a provider's account, src/shared/hosts.ts): its concurrency — per process
 * and, through BullMQ's global concurrency, across every worker process — and its rate limit.
 */
import { openWorker } from '../batch/queues.js';
import { Worker, type Queue } from 'bullmq';
import { settingsOfHost } from '../providers/configuration.js';
import { accountOf, providerOf, type HostName } from '../shared/hosts.js';
import type { ImageJobData } from '../shared/job-definitions.js';
import { workerNameFor } from '../batch/autoscaling.js';
import { queueNameFor } from '../shared/keys.js';
import { providerBackoffStrategy } from './backoff.js';
import type { createProcessor, ImageJobResult } from './processor.js';
import { recordUnhandledFailure } from './worker-support.js';
import type { Config } from '../providers/configuration.js';
import type { BatchStore } from '../batch/batch-store.js';
import type { Logger } from '../shared/logger.js';

/** What a host's worker needs of the pool's options (./worker-pool.ts). */
export interface HostWorkerOptions {
  config: Config;
  store: BatchStore;
  log: Logger;
  /** Jobs run at once per host in this process; default: the host's configured concurrency. */
  concurrency?: number;
}

/**
 * The BullMQ Worker of one of a provider's queues, with its concurrency and backoff — and, on the submission queue,
 * the provider's creation rate limit; not yet running.
 */
export function providerWorker(
  queueName: string,
  name: HostName,
  processor: ReturnType<typeof createProcessor>,
  options: HostWorkerOptions,
): Worker<ImageJobData, ImageJobResult> {
  const { config, store, log } = options;
  const settings = settingsOfHost(config, name);
  const limited = queueName === queueNameFor(name) && settings.requestsPerMinute > 0;
  const worker = openWorker<ImageJobData, ImageJobResult>(
    { url: config.redisUrl, prefix: config.queuePrefix },
    queueName,
    processor,
    {
      concurrency: options.concurrency ?? settings.concurrency,
      // Its slots in its name (`c<N>`, in Redis CLIENT LIST): the autoscaling signal counts them (src/batch/autoscaling.ts).
      name: workerNameFor(options.concurrency ?? settings.concurrency),
      ...(limited ? { limiter: limiterFor(settings.requestsPerMinute) } : {}),
      ...jobLockSettings(config),
      settings: {
        backoffStrategy: providerBackoffStrategy({
          baseDelayMs: config.backoffDelayMs,
          maxDelayMs: config.backoffMaxDelayMs,
        }),
      },
      autorun: false,
    },
  );
  worker.on('failed', (job, error) => {
    if (job !== undefined) void recordUnhandledFailure(job, error, store, log);
  });
  worker.on('error', (error) => log.error({ err: error, provider: name }, 'worker error'));
  return worker;
}

/** Concurrent requests per host across every worker process (BullMQ global concurrency). */
export async function applyGlobalConcurrency(
  queues: Map<HostName, Queue>,
  hosts: readonly HostName[],
  options: HostWorkerOptions,
): Promise<void> {
  const { config, log } = options;
  for (const name of hosts) {
    const allowed = settingsOfHost(config, name).concurrency;
    if (options.concurrency !== undefined && options.concurrency > allowed) {
      log.warn(
        { provider: name, concurrency: options.concurrency, globalConcurrency: allowed },
        `at most ${allowed} ${name} jobs run at once across all workers (${concurrencyVariable(name)}); ` +
          `raise it for more than that`,
      );
    }
  }
  await Promise.all(
    hosts.map((name) => queues.get(name)!.setGlobalConcurrency(settingsOfHost(config, name).concurrency)),
  );
}

/** The variable of `host`'s concurrency: `OPENAI_CONCURRENCY`, `OPENAI_CONCURRENCY_2` for its second account. */
function concurrencyVariable(host: HostName): string {
  const account = accountOf(host);
  return `${providerOf(host).toUpperCase()}_CONCURRENCY${account > 1 ? `_${account}` : ''}`;
}

/**
 * BullMQ limiter options for a rate in requests per minute, never more than the rate in any sliding minute (which
 * providers may enforce): up to 1,200/min one request per interval with 1 % headroom (an even pace); above that,
 * per-second buckets with 2 % headroom (a sliding minute can span 61 buckets). The limiter is global across workers.
 */
/**
 * A worker's job lock and stalled-job recovery (IMAGE_BATCH_LOCK_DURATION_MS, _STALLED_INTERVAL_MS, _MAX_STALLED_COUNT):
 * how soon a killed worker's jobs return to the queue, and how often.
 */
export function jobLockSettings(config: Config): {
  lockDuration: number;
  stalledInterval: number;
  maxStalledCount: number;
} {
  return {
    lockDuration: config.lockDurationMs,
    stalledInterval: config.stalledIntervalMs,
    maxStalledCount: config.maxStalledCount,
  };
}

export function limiterFor(requestsPerMinute: number): { max: number; duration: number } {
  if (requestsPerMinute > 1200) return { max: Math.floor((requestsPerMinute / 60) * 0.98), duration: 1000 };
  return { max: 1, duration: Math.ceil((60_000 * 1.01) / requestsPerMinute) };
}
