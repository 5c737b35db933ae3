/**
 * Moving jobs between priority levels (issue 30): a batch's priority changed while it runs, and the ageing rule.
 *
 * **A change** is recorded first (the batch's `priority` setting, and the batch in the set of changes under way), then
 * every job of the batch waiting on the queues (prioritized, delayed, and the few running: their retries come back in
 * the new level) gets a priority in the new level's band with fresh fair-share tags (BullMQ's own `changePriority`
 * script, one job at a time: https://docs.bullmq.io/guide/jobs/prioritized#change-priority). Jobs added from then on
 * read the new level. A process killed half-way leaves the batch in the set: the next sweep of any worker (or the
 * same command again) moves what is left; moving a job already in its level is skipped, so nothing moves twice and no
 * job is lost — a job only ever changes its priority.
 *
 * **Ageing**: a job that has waited longer than the ageing time (IMAGE_BATCH_AGEING_SECONDS, default 10 minutes) at
 * a level other than the first climbs one level to the front of the one above, at most {@link AGEING_ROWS} jobs per
 * level and queue each sweep (about a minute): however much work of higher priority keeps coming, lower priorities
 * keep moving — a trickle, while the higher levels keep nearly all of each host.
 */
import { Job, type Queue } from 'bullmq';
import type { RedisConnection } from '../shared/redis.js';
import { jobPrioritiesFor } from './fair-share.js';
import {
  HIGHEST_LEVEL,
  LEVEL_BAND,
  levelBase,
  levelOfJobPriority,
  LOWEST_LEVEL,
  PRIORITY_SCORE_SHIFT,
  type BatchPriorities,
  type BatchPriority,
} from './priority.js';
import { releaseOwnedLock, takeOwnedLock } from './owned-lock.js';

/** Jobs of one level and queue that climb per ageing sweep. */
export const AGEING_ROWS = 10;

/** How often workers sweep for ageing jobs and unfinished priority changes, ms: a minute, or half the ageing time. */
export function ageingSweepEveryMs(ageAfterMs: number): number {
  return Math.max(1000, Math.min(60_000, Math.floor(ageAfterMs / 2)));
}

/** Jobs whose priority is changed at once. */
const CHANGES_IN_FLIGHT = 200;

/** How long a sweep of a batch holds its lock without renewing it (it renews it every chunk of jobs), ms. */
const SWEEP_LOCK_MS = 5000;

/** What a priority sweep needs: Redis, the batches' settings, every queue a batch's jobs may wait on. */
export interface PrioritySweepTarget {
  redis: RedisConnection;
  prefix: string;
  priorities: BatchPriorities;
  /** Every provider queue and the route queue. */
  queues: readonly Queue[];
  /** Every batch id under the prefix (a batch id that extends this one with `--` shares its job-id prefix). */
  batchIds(): Promise<string[]>;
}

/** The set of batches whose priority change is under way. */
function changesKey(prefix: string): string {
  return `${prefix}:priority-changes`;
}

/**
 * Change batch `batchId` to `level`: record it, then move its waiting jobs (see the module's comment).
 * @returns jobs moved. @throws the connection's error (the change stays recorded; a later sweep finishes it).
 */
export async function changeBatchPriority(
  target: PrioritySweepTarget,
  batchId: string,
  level: number,
): Promise<number> {
  await target.redis.sadd(changesKey(target.prefix), batchId);
  await target.priorities.set(batchId, { level });
  return finishPriorityChange(target, batchId);
}

/**
 * Finish every priority change under way (a process killed during one). Never throws.
 * @returns jobs moved.
 */
export async function finishPriorityChanges(target: PrioritySweepTarget): Promise<number> {
  let moved = 0;
  const batches = await target.redis.smembers(changesKey(target.prefix)).catch(() => []);
  for (const batchId of batches) moved += await finishPriorityChange(target, batchId).catch(() => 0);
  return moved;
}

/** Move batch `batchId`'s waiting jobs into its level's band, then take it out of the changes under way. */
async function finishPriorityChange(target: PrioritySweepTarget, batchId: string): Promise<number> {
  const lockKey = `${target.prefix}:priority-changes:{${batchId}}:lock`;
  const owner = `${process.pid}-${Math.random()}`;
  if (!(await takeOwnedLock(target.redis, lockKey, owner, SWEEP_LOCK_MS))) return 0;
  try {
    const priority = await target.priorities.of(batchId);
    const others = (await target.batchIds()).filter((id) => id.startsWith(`${batchId}--`));
    let moved = 0;
    const renew = async () => {
      if (!(await takeOwnedLock(target.redis, lockKey, owner, SWEEP_LOCK_MS)))
        throw new Error(`the priority change of batch ${batchId} was taken over by another process`);
    };
    for (const queue of target.queues) {
      const ids = await batchJobsOutOfLevel(queue, batchId, others, priority.level);
      moved += await moveJobs(queue, batchId, priority, ids, renew);
    }
    await target.redis.srem(changesKey(target.prefix), batchId);
    return moved;
  } finally {
    await releaseOwnedLock(target.redis, lockKey, owner);
  }
}

/**
 * Ids of batch `batchId`'s jobs on `queue` waiting (prioritized, delayed) or running at a level other than `level`.
 * `others`: batch ids that begin with `<batchId>--`, whose jobs match the same pattern and are left out.
 */
async function batchJobsOutOfLevel(
  queue: Queue,
  batchId: string,
  others: readonly string[],
  level: number,
): Promise<string[]> {
  const redis = (await queue.backend.client) as unknown as RedisConnection;
  const pattern = `${batchId}--*`;
  const ours = (id: string) =>
    id.startsWith(`${batchId}--`) && !others.some((other) => id.startsWith(`${other}--`));
  const out: string[] = [];
  for await (const ids of scanSortedSet(redis, queue.keys.prioritized!, pattern)) {
    for (let index = 0; index < ids.length; index += 2) {
      const id = ids[index]!;
      const priority = Math.floor(Number(ids[index + 1]) / PRIORITY_SCORE_SHIFT);
      if (ours(id) && levelOfJobPriority(priority) !== level) out.push(id);
    }
  }
  const elsewhere: string[] = [];
  for await (const ids of scanSortedSet(redis, queue.keys.delayed!, pattern))
    elsewhere.push(...ids.filter((_, index) => index % 2 === 0));
  elsewhere.push(
    ...(await redis.lrange(queue.keys.active!, 0, -1)).filter((id) => id.startsWith(`${batchId}--`)),
  );
  const candidates = elsewhere.filter(ours);
  const priorities = await Promise.all(
    candidates.map((id) => redis.hget(`${queue.qualifiedName}:${id}`, 'priority')),
  );
  candidates.forEach((id, index) => {
    if (levelOfJobPriority(Number(priorities[index] ?? 0)) !== level) out.push(id);
  });
  return out;
}

/** ZSCAN `key` for members matching `pattern`: pages of `[member, score, …]`. */
async function* scanSortedSet(
  redis: RedisConnection,
  key: string,
  pattern: string,
): AsyncGenerator<string[]> {
  let cursor = '0';
  do {
    const [next, page] = await redis.zscan(key, cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (page.length > 0) yield page;
  } while (cursor !== '0');
}

/** Give the jobs `ids` of `queue` priorities of `priority`'s level with fresh tags. @returns jobs moved. */
async function moveJobs(
  queue: Queue,
  batchId: string,
  priority: BatchPriority,
  ids: readonly string[],
  renew: () => Promise<void>,
): Promise<number> {
  let moved = 0;
  for (let start = 0; start < ids.length; start += CHANGES_IN_FLIGHT) {
    await renew();
    const chunk = ids.slice(start, start + CHANGES_IN_FLIGHT);
    const values = await jobPrioritiesFor(queue, batchId, priority, chunk.length);
    await Promise.all(
      chunk.map((id, index) => new Job(queue, '', {}, {}, id).changePriority({ priority: values[index]! })),
    );
    moved += chunk.length;
  }
  return moved;
}

/**
 * One ageing sweep of `queue` (see the module's comment): jobs waiting longer than `ageAfterMs` at levels 2 … 9 climb
 * one level, to the front of the level above, {@link AGEING_ROWS} per level at most. One process at a time per queue.
 * @returns jobs that climbed. @throws the connection's error.
 */
export async function ageWaitingJobs(queue: Queue, ageAfterMs: number, now = Date.now()): Promise<number> {
  const redis = (await queue.backend.client) as unknown as RedisConnection;
  const lockKey = `${queue.qualifiedName}:ageing`;
  // Taken for most of a sweep's interval and not released: one sweep per queue per interval, whichever process.
  const lockMs = Math.max(500, ageingSweepEveryMs(ageAfterMs) - 500);
  if ((await redis.set(lockKey, String(process.pid), 'PX', lockMs, 'NX')) !== 'OK') return 0;
  let climbed = 0;
  // From the top: a job climbs one level per sweep, not several.
  for (let level = HIGHEST_LEVEL + 1; level <= LOWEST_LEVEL; level += 1) {
    const front = await frontOf(redis, queue, level, AGEING_ROWS);
    if (front.length === 0) continue;
    const stamps = await Promise.all(
      front.map((id) => redis.hget(`${queue.qualifiedName}:${id}`, 'timestamp')),
    );
    const old = front.filter((_, index) => now - Number(stamps[index] ?? now) > ageAfterMs);
    if (old.length === 0) continue;
    const [above] = await frontOf(redis, queue, level - 1, 1, true);
    const target = above === undefined ? levelBase(level - 1) : Number(above);
    await Promise.all(old.map((id) => new Job(queue, '', {}, {}, id).changePriority({ priority: target })));
    climbed += old.length;
  }
  return climbed;
}

/** The first `count` job ids waiting at `level` on `queue` (or, with `priorities`, their BullMQ priorities). */
async function frontOf(
  redis: RedisConnection,
  queue: Queue,
  level: number,
  count: number,
  priorities = false,
): Promise<string[]> {
  const low = levelBase(level) * PRIORITY_SCORE_SHIFT;
  const high = (levelBase(level) + LEVEL_BAND) * PRIORITY_SCORE_SHIFT;
  const page = await redis.zrangebyscore(
    queue.keys.prioritized!,
    low.toFixed(0),
    `(${high.toFixed(0)}`,
    'WITHSCORES',
    'LIMIT',
    0,
    count,
  );
  const out: string[] = [];
  for (let index = 0; index < page.length; index += 2)
    out.push(priorities ? String(Math.floor(Number(page[index + 1]) / PRIORITY_SCORE_SHIFT)) : page[index]!);
  return out;
}
