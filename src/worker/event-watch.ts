/**
 * A worker process's part in a batch's events (src/batch/notifications): with a signing secret configured
 * (IMAGE_BATCH_NOTIFY_SECRET), it looks at the batches that send events every `config.notify.checkEveryMs` and sends
 * what their state shows, and its jobs send `provider.paused`. Without one it sends nothing (a batch's target can only
 * be opened with the secret it was sealed with).
 */
import type { Config } from '../providers/configuration.js';
import type { BatchStore } from '../batch/batch-store.js';
import { notifierFor, type Notifier } from '../batch/notifications/notifier.js';
import { watchBatches } from '../batch/notifications/batch-watch.js';
import { providerPausedEvent } from '../batch/notifications/events.js';
import type { JobRun } from './job-run.js';
import type { Logger } from '../shared/logger.js';
import type { RedisConnection } from '../shared/redis.js';

/** The events side of a worker pool. */
export interface EventWatch {
  /** Sends this process's events; undefined without a signing secret. */
  notifier: Notifier | undefined;
  /** Stop looking, look once more (a batch that just finished), and wait for the events under way. */
  stop(): Promise<void>;
}

/** Start looking at the batches that send events (nothing without a signing secret). */
export function startEventWatch(options: {
  config: Config;
  redis: RedisConnection;
  store: BatchStore;
  log: Logger;
}): EventWatch {
  const { config, redis, store, log } = options;
  const notifier = notifierFor(config, redis, log);
  if (notifier === undefined) return { notifier: undefined, stop: () => Promise.resolve() };
  const watch = {
    redis,
    prefix: config.queuePrefix,
    store,
    notifier,
    stallMs: config.notify.stallMs,
    log,
  };
  let looking: Promise<void> | undefined;
  const look = () => {
    looking ??= watchBatches(watch)
      .catch((error: unknown) => log.warn({ err: error }, 'could not look at the batches for their events'))
      .finally(() => (looking = undefined));
    return looking;
  };
  const timer = setInterval(() => void look(), config.notify.checkEveryMs);
  return {
    notifier,
    async stop() {
      clearInterval(timer);
      await looking;
      await look();
      await notifier.settled();
    },
  };
}

/**
 * Tell the batch's target that the row's host was paused (`provider.paused`), once per pause of the host.
 * `pauseMs`: how long (undefined: until resumed).
 */
export function announcePause(run: JobRun, reason: string, pauseMs: number | undefined): void {
  const { data, deps, host } = run;
  deps.notifier?.sendProviderPaused(
    data.batchId,
    host,
    providerPausedEvent(data.batchId, host, reason, pauseMs),
    pauseMs,
  );
}
