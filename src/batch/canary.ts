/**
 * The canary of a batch (`run`/`enqueue --canary N`): N rows, stratified across provider × size × quality × mode
 * (src/producer/canary-picker.ts), run first; every other row is enqueued once but held until the canary is approved.
 * A held row's job is delayed by {@link CANARY_HOLD_MS}, and the admission step (src/worker/lua/admit.lua) refuses it
 * while the canary awaits approval, so a held job promoted by hand (bull-board's "promote") still waits and pays
 * nothing. `image-batch approve <batch>` or the dashboard's button approves: the batch's canary state becomes
 * `approved`, then the held jobs are promoted. Releasing is idempotent: a crash half-way is finished by the next
 * approve, or by `run` on the same batch. Nothing is enqueued twice (the held jobs are the batch's jobs), and a canary
 * row is never paid again (its outcome is recorded once).
 *
 * Records: meta `canary_size` and `canary_state` (`awaiting` | `approved`), the sets `canaryRows` and `canaryHeld`
 * (src/shared/keys.ts).
 */
import { DelayedError, type Job, type Queue } from 'bullmq';
import type { RedisConnection } from '../shared/redis.js';
import { PROVIDER_NAMES, type ProviderName } from '../shared/config.js';
import type { ImageJobData } from '../shared/job-definitions.js';
import { batchKeys, jobIdFor, routeJobIdFor, type BatchKeys } from '../shared/keys.js';
import { openProviderQueues, openRouteQueue } from './queues.js';
import { RowIndex } from './row-index.js';

/** How long a held job is delayed, ms (a year): approval promotes it long before; the admission step guards anyway. */
export const CANARY_HOLD_MS = 365 * 24 * 3600 * 1000;

/**
 * A row's job as the canary records know it: the queue it waits in — its provider's, or `route` for a row with several
 * candidate hosts (its routing job: src/worker/router.ts, which holds it too) — and its job id there.
 */
export interface HeldJob {
  queue: ProviderName | 'route';
  jobId: string;
}

/** The first job of the row of `data` in batch `batchId`: its submission job, or its first routing job. */
export function firstJobOf(batchId: string, data: ImageJobData): HeldJob {
  return data.routing === undefined
    ? { queue: data.provider, jobId: jobIdFor(batchId, data.rowKey) }
    : { queue: 'route', jobId: routeJobIdFor(batchId, data.rowKey, 0) };
}

/** A batch's canary settings. */
export interface CanarySettings {
  /** Rows asked for (`--canary N`). */
  size: number;
  /** `awaiting`: held rows wait for approval; `approved`: they are released. */
  state: 'awaiting' | 'approved';
}

/** How far a batch's canary is. */
export interface CanaryProgress extends CanarySettings {
  /** Row keys of the canary. */
  rowKeys: string[];
  completed: number;
  failed: number;
  /** Rows held until approval. */
  held: number;
}

/** The canary records of every batch under one key prefix. */
export class CanaryLedger {
  constructor(
    private readonly redis: RedisConnection,
    private readonly prefix: string,
  ) {}

  private keys(batchId: string): BatchKeys {
    return batchKeys(this.prefix, batchId);
  }

  /** Give batch `batchId` a canary of `size` rows awaiting approval (kept when it already has one). */
  async configure(batchId: string, size: number): Promise<CanarySettings> {
    const meta = this.keys(batchId).meta;
    await this.redis
      .multi()
      .hsetnx(meta, 'canary_size', String(size))
      .hsetnx(meta, 'canary_state', 'awaiting')
      .exec();
    return (await this.settings(batchId))!;
  }

  /** The batch's canary settings, or undefined when it has no canary. */
  async settings(batchId: string): Promise<CanarySettings | undefined> {
    const [size, state] = await this.redis.hmget(this.keys(batchId).meta, 'canary_size', 'canary_state');
    if (size === null || (state !== 'awaiting' && state !== 'approved')) return undefined;
    return { size: Number(size), state };
  }

  /** Record rows as canary rows, and jobs as held. */
  async register(batchId: string, canaryRowKeys: readonly string[], held: readonly HeldJob[]): Promise<void> {
    const keys = this.keys(batchId);
    const multi = this.redis.multi();
    if (canaryRowKeys.length > 0) multi.sadd(keys.canaryRows, ...canaryRowKeys);
    if (held.length > 0) multi.sadd(keys.canaryHeld, ...held.map(heldMember));
    await multi.exec();
  }

  /** Which of `rowKeys` are canary rows. */
  async areCanaryRows(batchId: string, rowKeys: readonly string[]): Promise<boolean[]> {
    if (rowKeys.length === 0) return [];
    const flags = await this.redis.smismember(this.keys(batchId).canaryRows, ...rowKeys);
    return flags.map((flag) => flag === 1);
  }

  /**
   * Move held rows into the canary (the picker's top-up): recorded as canary rows, no longer held, their jobs
   * promoted. @returns how many jobs were promoted.
   */
  async moveIntoCanary(batchId: string, rows: ReadonlyArray<HeldJob & { rowKey: string }>): Promise<number> {
    if (rows.length === 0) return 0;
    const keys = this.keys(batchId);
    await this.redis
      .multi()
      .sadd(keys.canaryRows, ...rows.map((row) => row.rowKey))
      .srem(keys.canaryHeld, ...rows.map(heldMember))
      .exec();
    return this.promote(rows);
  }

  /** How far the canary of `batchId` is, or undefined when it has none. */
  async progress(batchId: string): Promise<CanaryProgress | undefined> {
    const settings = await this.settings(batchId);
    if (settings === undefined) return undefined;
    const keys = this.keys(batchId);
    const [rowKeys, held] = await Promise.all([
      this.redis.smembers(keys.canaryRows),
      this.redis.scard(keys.canaryHeld),
    ]);
    const outcomes = await new RowIndex(this.redis, this.prefix).outcomes(batchId, rowKeys);
    return {
      ...settings,
      rowKeys,
      completed: outcomes.filter((outcome) => outcome === 'completed').length,
      failed: outcomes.filter((outcome) => outcome === 'failed').length,
      held,
    };
  }

  /**
   * Approve the canary and release every held row (promote its job). Safe to call again: it finishes a release a crash
   * interrupted. @returns `approved` false when the batch has no canary; `released`, jobs promoted by this call.
   */
  async approve(batchId: string): Promise<{ approved: boolean; released: number }> {
    const keys = this.keys(batchId);
    if ((await this.settings(batchId)) === undefined) return { approved: false, released: 0 };
    await this.redis.hset(keys.meta, 'canary_state', 'approved');
    let released = 0;
    let cursor = '0';
    do {
      const [next, members] = await this.redis.sscan(keys.canaryHeld, cursor, 'COUNT', 500);
      cursor = next;
      const rows = members.map(parseHeldMember).filter((row) => row !== undefined);
      released += await this.promote(rows);
      if (members.length > 0) await this.redis.srem(keys.canaryHeld, ...members);
    } while (cursor !== '0');
    return { approved: true, released };
  }

  /** Promote the delayed jobs of `rows` (a job already running, finished or gone is left alone). */
  private async promote(rows: readonly HeldJob[]): Promise<number> {
    const providers = [...new Set(rows.map((row) => row.queue))].filter(
      (queue): queue is ProviderName => queue !== 'route',
    );
    const queues = new Map<string, Queue>(
      openProviderQueues(this.redis, this.prefix, providers).map(({ name, queue }) => [name, queue]),
    );
    if (rows.some((row) => row.queue === 'route'))
      queues.set('route', openRouteQueue(this.redis, this.prefix));
    let promoted = 0;
    try {
      for (const row of rows) {
        const job = await queues.get(row.queue)!.getJob(row.jobId);
        if (job === undefined || !(await job.isDelayed())) continue;
        // Another releaser may promote it first: then this promote fails, which is fine.
        promoted += await job.promote().then(
          () => 1,
          () => 0,
        );
      }
    } finally {
      await Promise.all([...queues.values()].map((queue) => queue.close()));
    }
    return promoted;
  }
}

/**
 * Hold `job` (being processed with lock `token`) until its batch's canary is approved: delayed by
 * {@link CANARY_HOLD_MS}. Approval sets the state, then promotes the held jobs that are delayed; this job was active
 * then, so once it is delayed it looks at the state again and promotes itself if the approval came in between.
 * @throws DelayedError always (BullMQ: the job was moved to delayed).
 */
export async function holdUntilApproved(
  ledger: CanaryLedger,
  job: Job<ImageJobData>,
  token: string | undefined,
): Promise<never> {
  await job.moveToDelayed(Date.now() + CANARY_HOLD_MS, token);
  if ((await ledger.settings(job.data.batchId))?.state === 'approved')
    await job.promote().catch(() => undefined);
  throw new DelayedError('held until the canary is approved');
}

/** The held-set member of a job: `<provider or route> <job id>` (job ids never contain a space: src/shared/keys.ts). */
function heldMember(row: HeldJob): string {
  return `${row.queue} ${row.jobId}`;
}

function parseHeldMember(member: string): HeldJob | undefined {
  const space = member.indexOf(' ');
  const queue = member.slice(0, space) as HeldJob['queue'];
  if (space < 0 || (queue !== 'route' && !PROVIDER_NAMES.includes(queue))) return undefined;
  return { queue, jobId: member.slice(space + 1) };
}
