/**
 * Fair share of a host among the batches of one priority level (issue 30): start-time fair queuing on BullMQ's
 * priorities. Each job gets a tag, and a level's jobs are served in tag order (./priority.ts puts the tag in the job's
 * BullMQ priority). A batch's tags advance by 1/weight a job from where its last ones ended, but never start behind the
 * level's front (the lowest tag waiting there): so batches of a level that all have work interleave in proportion to
 * their weights, whatever order and size they were enqueued in, and a batch that arrives while another has a window of
 * rows waiting gets its share at once instead of waiting behind them. A batch that cannot use its share (paused, at
 * its budget cap, held for a canary) leaves the queue's front to the others: its jobs go back to BullMQ's delayed set.
 *
 * The tags live per queue (`<queue>:fair-share`, in the queue's hash-tag slot, so one script reads the queue's front
 * and moves the batch's tag in one step, on a Redis Cluster too). A level whose band of tags is used up (about 233,000
 * tags without the level's queue ever running empty) keeps its last tag: FIFO from there until it empties.
 */
import type { Job, JobsOptions, Queue } from 'bullmq';
import { LuaCommands } from '../shared/lua-commands.js';
import type { RedisConnection } from '../shared/redis.js';
import { jobPriority, LEVEL_BAND, levelBase, type BatchPriorities, type BatchPriority } from './priority.js';

const SCRIPTS = new LuaCommands(new URL('./lua/', import.meta.url), {
  tags: { file: 'fair-share-tags.lua', numberOfKeys: 2 },
});

/** The queue's fair-share hash (in the queue's hash-tag slot). */
export function fairShareKey(queue: Queue): string {
  return `${queue.qualifiedName}:fair-share`;
}

/**
 * The BullMQ priorities of `count` new jobs of batch `batchId` on `queue`, in the order they are added: its level's
 * band, its fair-share tags. One round trip.
 * @throws the connection's error.
 */
export async function jobPrioritiesFor(
  queue: Queue,
  batchId: string,
  priority: BatchPriority,
  count: number,
): Promise<number[]> {
  if (count === 0) return [];
  const redis = (await queue.backend.client) as unknown as RedisConnection;
  const first = Number(
    await SCRIPTS.run(
      redis,
      'tags',
      queue.keys.prioritized!,
      fairShareKey(queue),
      batchId,
      levelBase(priority.level),
      LEVEL_BAND,
      priority.weight,
      count,
    ),
  );
  return Array.from({ length: count }, (_, index) =>
    jobPriority(priority.level, first + index / priority.weight),
  );
}

/** A job to add: its name, data and options (without a priority: {@link addBatchJobs} gives it). */
export interface JobToAdd<Data> {
  name: string;
  data: Data;
  opts: JobsOptions;
}

/**
 * Add jobs of batch `batchId` to `queue`, in order, each with its BullMQ priority: the batch's level (read now, so a
 * priority changed while the batch runs holds for every job added after it) and its fair-share tags. Every path that
 * adds a submission or routing job goes through here. A job whose id is in the queue already stays as it is.
 * @returns the jobs (BullMQ `addBulk`). @throws the connection's error.
 */
export async function addBatchJobs<Data>(
  queue: Queue,
  priorities: BatchPriorities,
  batchId: string,
  jobs: ReadonlyArray<JobToAdd<Data>>,
): Promise<Job[]> {
  if (jobs.length === 0) return [];
  const priority = await priorities.of(batchId);
  const values = await jobPrioritiesFor(queue, batchId, priority, jobs.length);
  return queue.addBulk(
    jobs.map((job, index) => ({ ...job, opts: { ...job.opts, priority: values[index]! } })),
  );
}
