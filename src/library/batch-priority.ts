/**
 * Setting a batch's priority and weight from the library (issue 30): at enqueue, and while it runs
 * (`image-batch priority`, the batch page, `POST /api/batches/{id}/priority`). A changed level moves the batch's
 * waiting jobs on every queue (src/batch/priority-change.ts).
 */
import type { BatchStore } from '../batch/batch-store.js';
import { changeBatchPriority } from '../batch/priority-change.js';
import { checkWeight, parsePriority, type PriorityName } from '../batch/priority.js';
import { openProviderQueues, openRouteQueue } from '../batch/queues.js';
import { hostsOfAll, type Config } from '../providers/configuration.js';
import { PROVIDER_NAMES } from '../shared/config.js';
import type { RedisConnection } from '../shared/redis.js';

/** A priority as the library takes it: a level 1 (first) … 9 (last), or `urgent`, `normal`, `background`. */
export type PriorityInput = number | PriorityName | (string & {});

/** Redis and the batch records of an {@link ImageBatch}. */
interface Target {
  redis: RedisConnection;
  store: BatchStore;
}

/**
 * Record the priority and weight a batch is enqueued with (the default, normal and 1, for a new batch that names
 * none; an existing batch keeps what it has unless they are given). A level that differs from the batch's recorded
 * one is a change: its waiting jobs move.
 * @throws UsageError for a level or weight out of range.
 */
export async function applyBatchPriority(
  config: Config,
  target: Target,
  batchId: string,
  wanted: { priority?: PriorityInput; weight?: number },
): Promise<void> {
  const level = wanted.priority === undefined ? undefined : parsePriority(String(wanted.priority));
  const weight = wanted.weight === undefined ? undefined : checkWeight(wanted.weight);
  const before = await target.store.priorities.set(batchId, {
    ...(level === undefined ? {} : { level }),
    ...(weight === undefined ? {} : { weight }),
  });
  if (level !== undefined && before !== undefined && before !== level)
    await changeLevel(config, target, batchId, level);
}

/**
 * Change batch `batchId`'s level to `level` and move its waiting jobs on every host's queue and the route queue.
 * @returns jobs moved. @throws the connection's error (the change stays recorded: workers finish it).
 */
export async function changeLevel(
  config: Config,
  target: Target,
  batchId: string,
  level: number,
): Promise<number> {
  const hosts = hostsOfAll(config, PROVIDER_NAMES);
  const queues = [
    ...openProviderQueues(target.redis, config.queuePrefix, hosts).map((entry) => entry.queue),
    openRouteQueue(target.redis, config.queuePrefix),
  ];
  try {
    return await changeBatchPriority(
      {
        redis: target.redis,
        prefix: config.queuePrefix,
        priorities: target.store.priorities,
        queues,
        batchIds: () => target.store.listBatches(),
      },
      batchId,
      level,
    );
  } finally {
    await Promise.all(queues.map((queue) => queue.close()));
  }
}
