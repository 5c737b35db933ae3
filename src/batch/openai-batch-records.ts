/**
 * The records of rows delivered through OpenAI's Batch API (`delivery: batch`), in Redis beside the batch's own:
 *
 * - `waiting`: a list of the job data (JSON) of rows waiting for a request file — the producer pushes here instead of
 *   a BullMQ queue, since rows leave in groups of up to 50,000, not one by one;
 * - `groups`: hash group id → {@link OpenAIGroup} (JSON), one per request file, its state and OpenAI ids;
 * - `group:<id>`: hash row key → job data of the rows in that group, until each row's outcome is recorded;
 * - `placed`: the set of row keys ever put on a waiting list (so a row is put there once, whatever re-runs);
 * - `<prefix>:openai-batch-active`: the set of image-batch batches with waiting rows or open groups.
 *
 * Moving rows between `waiting` and a group is one Lua script each way, so a crash never loses a row or puts it in two
 * places. The group's state is saved before every call that creates something at OpenAI (file, batch), so a restarted
 * process follows the same OpenAI batch and never submits the same rows twice (src/worker/openai-batch/).
 */
import type { RedisConnection } from '../shared/redis.js';
import type { ImageJobData } from '../shared/job-definitions.js';
import { batchKeyBase } from '../shared/keys.js';
import { LuaCommands } from '../shared/lua-commands.js';
import { releaseOwnedLock, takeOwnedLock } from './owned-lock.js';

/** How far a group (one request file, one OpenAI batch) is. */
export type GroupState =
  /** Rows taken from `waiting`; the request file is being written and uploaded. No OpenAI batch yet. */
  | 'building'
  /** The input file is uploaded (`inputFileId`); the batch is being created — it may exist at OpenAI already. */
  | 'creating'
  /** The OpenAI batch exists (`openaiBatchId`); it is followed until it ends. */
  | 'submitted'
  /** It ended; its output and error files are being read and its rows settled. */
  | 'collecting';

/** One request file and its OpenAI batch. Times in ms since the epoch. */
export interface OpenAIGroup {
  id: string;
  operation: 'generate' | 'edit';
  state: GroupState;
  rows: number;
  createdAt: number;
  inputFileId?: string;
  openaiBatchId?: string;
  /** OpenAI's status of the batch when last read, its counts, and when its 24 h window ends. */
  openaiStatus?: string;
  counts?: { total: number; completed: number; failed: number };
  expiresAt?: number;
  /** When to read the batch's status next (backoff). */
  nextPollAt?: number;
  pollIntervalMs?: number;
}

const SCRIPTS = new LuaCommands(new URL('./lua/', import.meta.url), {
  addWaiting: { file: 'openai-add-waiting.lua', numberOfKeys: 3 },
  claimGroup: { file: 'openai-claim-group.lua', numberOfKeys: 3 },
  returnGroup: { file: 'openai-return-group.lua', numberOfKeys: 3 },
  returnRows: { file: 'openai-return-rows.lua', numberOfKeys: 2 },
});

/** The Batch API records of every batch under one key prefix. */
export class OpenAIBatchRecords {
  constructor(
    private readonly redis: RedisConnection,
    private readonly prefix: string,
  ) {}

  private keys(batchId: string) {
    const base = `${batchKeyBase(this.prefix, batchId)}:openai`;
    return {
      waiting: (operation: 'generate' | 'edit') => `${base}-waiting:${operation}`,
      groups: `${base}-groups`,
      group: (groupId: string) => `${base}-group:${groupId}`,
      lock: `${base}-lock`,
      placed: `${base}-placed`,
      fallback: `${base}-fallback`,
    };
  }

  private get activeKey(): string {
    return `${this.prefix}:openai-batch-active`;
  }

  /**
   * Add rows to the waiting list of their operation, each row once ever (the producer; a row already placed is left
   * where it is). @returns how many were added.
   */
  async addWaiting(batchId: string, rows: readonly ImageJobData[]): Promise<number> {
    if (rows.length === 0) return 0;
    const keys = this.keys(batchId);
    // The active set lives in its own slot (a cluster runs a script on one slot), so the batch is listed before the
    // rows go in (a crash between leaves a listed batch with nothing waiting, which the driver drops, never waiting
    // rows nobody looks at) and again after, in case the driver dropped it meanwhile ({@link dropIfIdle}).
    await this.redis.sadd(this.activeKey, batchId);
    const added = (await SCRIPTS.run(
      this.redis,
      'addWaiting',
      keys.placed,
      keys.waiting('generate'),
      keys.waiting('edit'),
      ...rows.flatMap((row) => [row.rowKey, row.operation, JSON.stringify(row)]),
    )) as number;
    if (added > 0) await this.redis.sadd(this.activeKey, batchId);
    return added;
  }

  /** Forget that a row is placed (it moves to the realtime queue), so it is not counted here any more. */
  async unplace(batchId: string, rowKeys: readonly string[]): Promise<void> {
    if (rowKeys.length > 0) await this.redis.srem(this.keys(batchId).placed, ...rowKeys);
  }

  /** Batches with waiting rows or open groups. */
  async activeBatches(): Promise<string[]> {
    return this.redis.smembers(this.activeKey);
  }

  /** Rows waiting for a request file, by operation. */
  async waitingCount(batchId: string, operation: 'generate' | 'edit'): Promise<number> {
    return this.redis.llen(this.keys(batchId).waiting(operation));
  }

  /** Rows of a batch waiting for a file or in an open group (what the Batch API still has to do). */
  async inFlight(batchId: string): Promise<number> {
    const keys = this.keys(batchId);
    const groups = await this.redis.hkeys(keys.groups);
    const counts = await Promise.all([
      this.redis.llen(keys.waiting('generate')),
      this.redis.llen(keys.waiting('edit')),
      ...groups.map((id) => this.redis.hlen(keys.group(id))),
    ]);
    return counts.reduce((sum, count) => sum + count, 0);
  }

  /**
   * Take up to `max` waiting rows of `operation` into a new group in state `building`, in one step.
   * @returns the rows taken (none: nothing waiting).
   */
  async claimGroup(
    batchId: string,
    group: Pick<OpenAIGroup, 'id' | 'operation'>,
    max: number,
  ): Promise<ImageJobData[]> {
    const keys = this.keys(batchId);
    const state: OpenAIGroup = { ...group, state: 'building', rows: 0, createdAt: Date.now() };
    const taken = (await SCRIPTS.run(
      this.redis,
      'claimGroup',
      keys.waiting(group.operation),
      keys.groups,
      keys.group(group.id),
      group.id,
      JSON.stringify(state),
      String(max),
    )) as string[];
    return taken.map((text) => JSON.parse(text) as ImageJobData);
  }

  /** Put every row of a group back in `waiting` and forget the group (it never reached OpenAI, or it expired). */
  async returnGroup(batchId: string, group: Pick<OpenAIGroup, 'id' | 'operation'>): Promise<number> {
    const keys = this.keys(batchId);
    const groupId = group.id;
    return (await SCRIPTS.run(
      this.redis,
      'returnGroup',
      keys.waiting(group.operation),
      keys.groups,
      keys.group(groupId),
      groupId,
    )) as number;
  }

  /** Put some rows of a group being built back in `waiting` (held back by the admission). */
  async returnRows(
    batchId: string,
    group: Pick<OpenAIGroup, 'id' | 'operation'>,
    rowKeys: readonly string[],
  ) {
    if (rowKeys.length === 0) return 0;
    const keys = this.keys(batchId);
    return (await SCRIPTS.run(
      this.redis,
      'returnRows',
      keys.waiting(group.operation),
      keys.group(group.id),
      ...rowKeys,
    )) as number;
  }

  /** Save a group's state (before and after every call that creates something at OpenAI). */
  async saveGroup(batchId: string, group: OpenAIGroup): Promise<void> {
    await this.redis.hset(this.keys(batchId).groups, group.id, JSON.stringify(group));
  }

  /** Every group of a batch. */
  async groups(batchId: string): Promise<OpenAIGroup[]> {
    const values = await this.redis.hvals(this.keys(batchId).groups);
    return values.map((text) => JSON.parse(text) as OpenAIGroup);
  }

  /** The job data of the rows of a group still unsettled, by row key. */
  async groupRows(batchId: string, groupId: string): Promise<Map<string, ImageJobData>> {
    const entries = await this.redis.hgetall(this.keys(batchId).group(groupId));
    return new Map(Object.entries(entries).map(([key, text]) => [key, JSON.parse(text) as ImageJobData]));
  }

  /** Forget a row of a group once its outcome is recorded (or it went to the realtime queue). */
  async dropRows(batchId: string, groupId: string, rowKeys: readonly string[]): Promise<void> {
    if (rowKeys.length > 0) await this.redis.hdel(this.keys(batchId).group(groupId), ...rowKeys);
  }

  /** Forget a finished group; the batch leaves the active set when nothing waits and no group is open. */
  async finishGroup(batchId: string, groupId: string): Promise<void> {
    const keys = this.keys(batchId);
    await this.redis.multi().hdel(keys.groups, groupId).del(keys.group(groupId)).exec();
    await this.dropIfIdle(batchId);
  }

  /**
   * Take the batch off the active list when no row waits and no group is open. Looked at again after: rows added
   * meanwhile ({@link addWaiting} lists the batch after adding) put it back.
   */
  async dropIfIdle(batchId: string): Promise<void> {
    if (!(await this.idle(batchId))) return;
    await this.redis.srem(this.activeKey, batchId);
    if (!(await this.idle(batchId))) await this.redis.sadd(this.activeKey, batchId);
  }

  private async idle(batchId: string): Promise<boolean> {
    const keys = this.keys(batchId);
    const [generate, edit, groups] = await Promise.all([
      this.redis.llen(keys.waiting('generate')),
      this.redis.llen(keys.waiting('edit')),
      this.redis.hlen(keys.groups),
    ]);
    return generate + edit === 0 && groups === 0;
  }

  /**
   * Hold the batch's lock for `ttlMs` (one driver per batch at a time: a second process would build the same rows
   * into another file). @returns whether this `owner` holds it now.
   */
  async lock(batchId: string, owner: string, ttlMs: number): Promise<boolean> {
    return takeOwnedLock(this.redis, this.keys(batchId).lock, owner, ttlMs);
  }

  /** Release the lock if `owner` holds it. */
  async unlock(batchId: string, owner: string): Promise<void> {
    await releaseOwnedLock(this.redis, this.keys(batchId).lock, owner);
  }

  /** What to do with the unfinished rows of an expired or cancelled OpenAI batch: `wait` (default) or `realtime`. */
  async setFallback(batchId: string, fallback: 'wait' | 'realtime'): Promise<void> {
    await this.redis.set(this.keys(batchId).fallback, fallback);
  }

  async fallback(batchId: string): Promise<'wait' | 'realtime'> {
    return (await this.redis.get(this.keys(batchId).fallback)) === 'realtime' ? 'realtime' : 'wait';
  }

  /** Every key of a batch's Batch API records (for deleting a batch). */
  async keysOf(batchId: string): Promise<string[]> {
    const keys = this.keys(batchId);
    const groups = await this.redis.hkeys(keys.groups);
    return [
      keys.waiting('generate'),
      keys.waiting('edit'),
      keys.groups,
      keys.lock,
      keys.placed,
      keys.fallback,
      ...groups.map((id) => keys.group(id)),
    ];
  }
}
