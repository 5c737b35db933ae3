/**
 * Schedules: cron-driven batches built on BullMQ job schedulers (`upsertJobScheduler`) on one `schedules` queue.
 * Each tick is one job, `repeat:<name>:<slot millis>`; `image-batch scheduler` (any number of copies) turns it into a
 * batch whose id derives from the schedule name and the slot, under a per-tick lock, so a tick delivered twice
 * enqueues nothing twice. A directory source is an inbox: manifests found there are ingested once and moved to a
 * `done/` folder beside them.
 */
import { openWorker } from '../batch/queues.js';
import { mkdir, readdir, rename, stat } from 'node:fs/promises';
import path from 'node:path';
import { Queue, type Job } from 'bullmq';
import type { RedisConnection } from '../shared/redis.js';
import type { ProviderName } from '../shared/config.js';
import type { Config } from '../providers/configuration.js';
import { UsageError } from '../shared/errors.js';
import { hashTag } from '../shared/keys.js';
import type { Logger } from '../shared/logger.js';
import { manifestFormat } from './manifest-reader.js';

/** The queue of schedule ticks (its own hash tag, src/shared/keys.ts). */
export const SCHEDULES_QUEUE = hashTag('schedules');

/** What a tick enqueues (stored in the scheduler's job template; no secret). */
export interface ScheduleTemplate {
  schedule: string;
  /** Absolute path of a manifest file or of an inbox directory. */
  source: string;
  out: string;
  provider?: ProviderName;
  budgetUsd?: number;
  /** Priority level (1 first … 9 last) and weight of each batch (src/batch/priority.ts). */
  priority?: number;
  weight?: number;
  /** Each batch's finish-by time, as given: a duration counts from the tick (src/batch/finish-by.ts). */
  finishBy?: string;
  /** `--reuse` and `--sidecar` of each batch (src/worker/reuse.ts, src/storage/sidecar.ts). */
  reuse?: boolean;
  sidecar?: boolean;
  /** Where the batches' events go, sealed with the signing secret (src/batch/notifications/sealed-target.ts). */
  notifySealed?: string;
}

/** A schedule as `schedule list` shows it. */
export interface ScheduleInfo {
  name: string;
  cron: string | undefined;
  timezone: string | undefined;
  /** Next run (ms since epoch), when known. */
  next: number | undefined;
  source: string | undefined;
}

/** Schedule names: letters, digits, `_ -`, at most 60 characters (they start batch ids). */
export function checkScheduleName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,59}$/.test(name)) {
    throw new UsageError(
      `invalid schedule name "${name}": use letters, digits, _ and - (at most 60 characters)`,
    );
  }
  return name;
}

/** The batch id of a schedule's tick at `slotMillis`: `<name>-<UTC yyyymmddThhmmss>`. */
export function batchIdForTick(name: string, slotMillis: number): string {
  const stamp = new Date(slotMillis)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, '');
  return `${name}-${stamp}`;
}

/** Add or replace a schedule. @throws UsageError for a cron expression or time zone BullMQ rejects. */
export async function upsertSchedule(
  redis: RedisConnection,
  prefix: string,
  input: { name: string; cron: string; timezone?: string; template: ScheduleTemplate },
): Promise<ScheduleInfo> {
  const queue = new Queue(SCHEDULES_QUEUE, { connection: redis, prefix });
  try {
    await queue.upsertJobScheduler(
      checkScheduleName(input.name),
      { pattern: input.cron, ...(input.timezone === undefined ? {} : { tz: input.timezone }) },
      {
        name: 'tick',
        data: input.template,
        opts: { removeOnComplete: { age: 7 * 24 * 3600 }, removeOnFail: { age: 30 * 24 * 3600 } },
      },
    );
  } catch (error) {
    throw new UsageError(`schedule ${input.name}: ${(error as Error).message} (cron "${input.cron}")`);
  } finally {
    await queue.close();
  }
  return (await listSchedules(redis, prefix)).find((schedule) => schedule.name === input.name)!;
}

/** Every schedule, with its next run time. */
export async function listSchedules(redis: RedisConnection, prefix: string): Promise<ScheduleInfo[]> {
  const queue = new Queue(SCHEDULES_QUEUE, { connection: redis, prefix });
  try {
    return (await queue.getJobSchedulers(0, -1, true)).map((scheduler) => ({
      name: scheduler.id ?? scheduler.key,
      cron: scheduler.pattern,
      timezone: scheduler.tz,
      next: scheduler.next,
      source: (scheduler.template?.data as ScheduleTemplate | undefined)?.source,
    }));
  } finally {
    await queue.close();
  }
}

/** Remove a schedule. @returns false when there was none of that name. */
export async function removeSchedule(redis: RedisConnection, prefix: string, name: string): Promise<boolean> {
  const queue = new Queue(SCHEDULES_QUEUE, { connection: redis, prefix });
  try {
    return await queue.removeJobScheduler(name);
  } finally {
    await queue.close();
  }
}

/** What the scheduler calls to enqueue a tick's manifests as one batch. */
export type IngestTick = (input: {
  batchId: string;
  manifests: string[];
  template: ScheduleTemplate;
}) => Promise<void>;

/** The manifests of a source: the file itself, or the manifests waiting in an inbox directory. */
export async function manifestsOf(source: string): Promise<{ manifests: string[]; inbox: boolean }> {
  const info = await stat(source);
  if (!info.isDirectory()) return { manifests: [source], inbox: false };
  const names = (await readdir(source)).filter((name) => manifestFormat(name) !== undefined).sort();
  return { manifests: names.map((name) => path.join(source, name)), inbox: true };
}

/**
 * Run the scheduler: turn every tick into a batch, once. Any number of scheduler processes may run.
 * @returns a function that stops it.
 */
export function startScheduler(options: {
  config: Config;
  redis: RedisConnection;
  log: Logger;
  ingest: IngestTick;
}): {
  close(): Promise<void>;
} {
  const { config, redis, log } = options;
  const worker = openWorker<ScheduleTemplate, unknown>(
    { url: config.redisUrl, prefix: config.queuePrefix },
    SCHEDULES_QUEUE,
    async (job: Job<ScheduleTemplate>) => {
      const template = job.data;
      const slot = Number(/:(\d+)$/.exec(job.id ?? '')?.[1] ?? job.timestamp);
      const batchId = batchIdForTick(template.schedule, slot);
      // One scheduler handles a tick, however often it is delivered (duplicate scheduler jobs, several processes).
      const claimed = await redis.set(
        `${config.queuePrefix}:schedule-tick:${batchId}`,
        String(process.pid),
        'EX',
        7 * 24 * 3600,
        'NX',
      );
      if (claimed === null) {
        log.info({ batchId }, 'tick already handled');
        return { batchId, skipped: true };
      }
      const { manifests, inbox } = await manifestsOf(template.source);
      if (manifests.length === 0) {
        log.info({ batchId, source: template.source }, 'inbox empty; nothing to enqueue');
        return { batchId, manifests: 0 };
      }
      await options.ingest({ batchId, manifests, template });
      if (inbox) {
        const done = path.join(template.source, 'done');
        await mkdir(done, { recursive: true });
        for (const manifest of manifests) await rename(manifest, path.join(done, path.basename(manifest)));
      }
      log.info({ batchId, manifests: manifests.length }, 'tick enqueued');
      return { batchId, manifests: manifests.length };
    },
    { concurrency: 1 },
  );
  worker.on('error', (error) => log.error({ err: error }, 'scheduler error'));
  return { close: () => worker.close() };
}
