/**
 * The workers' share of priorities (issue 30): every {@link ageingSweepEveryMs}, finish the priority changes a killed
 * process left half-way, and let jobs that waited past the ageing time climb a level (src/batch/priority-change.ts),
 * on this process's provider queues and the route queue. One sweep at a time; never throws.
 */
import type { Queue } from 'bullmq';
import type { BatchStore } from '../batch/batch-store.js';
import { ageingSweepEveryMs, ageWaitingJobs, finishPriorityChanges } from '../batch/priority-change.js';
import type { Logger } from '../shared/logger.js';
import type { RedisConnection } from '../shared/redis.js';

/** Start the sweeps. @returns a stop that waits for a sweep under way. */
export function startPrioritySweeps(options: {
  redis: RedisConnection;
  prefix: string;
  store: BatchStore;
  queues: readonly Queue[];
  ageAfterMs: number;
  log: Logger;
}): { stop(): Promise<void> } {
  const target = {
    redis: options.redis,
    prefix: options.prefix,
    priorities: options.store.priorities,
    queues: options.queues,
    batchIds: () => options.store.listBatches(),
  };
  let running: Promise<unknown> | undefined;
  const sweep = async () => {
    await finishPriorityChanges(target);
    for (const queue of options.queues) {
      const climbed = await ageWaitingJobs(queue, options.ageAfterMs).catch((error: unknown) => {
        options.log.warn({ err: error, queue: queue.name }, 'ageing sweep failed; tried again later');
        return 0;
      });
      if (climbed > 0)
        options.log.debug({ queue: queue.name, climbed }, 'waiting jobs climbed a priority level');
    }
  };
  const timer = setInterval(() => {
    running ??= sweep()
      .catch(() => undefined)
      .finally(() => (running = undefined));
  }, ageingSweepEveryMs(options.ageAfterMs));
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
