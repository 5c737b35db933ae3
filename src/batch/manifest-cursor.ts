/**
 * A batch's manifest cursor (issue 27, windowed ingest): Redis holds the jobs of at most a window of rows; the rest of
 * the batch's rows stay in their manifests, registered in the row index (./row-index.ts) but without a job, and are
 * added as rows finish. The cursor says where in the manifests the next row without a job is (manifest, byte offset,
 * line), which files those are (size, modification time and, once read to the end, SHA-256: an edited file is refused,
 * not read at a shifted offset), how they were enqueued (the settings a refilling process checks rows with) and how
 * many rows were added from them. Any producer or worker that can read the manifests refills, one at a time per batch
 * (a lock), so a killed producer loses nothing: the next refill starts at the cursor.
 *
 * Crash safety: the position moves only after the jobs of the rows before it were added. A crash in between leaves
 * it behind; the next refill reads those rows again and adding their jobs again is a no-op (job ids derive from the
 * row key), and finished rows are skipped (the row index).
 */
import type { RedisConnection } from '../shared/redis.js';
import { batchKeys } from '../shared/keys.js';
import { releaseOwnedLock, takeOwnedLock } from './owned-lock.js';

/** One manifest of a batch, as the cursor knows it. */
export interface CursorManifest {
  /** The path as the user gave it: what rejects and the row index name rows by. */
  name: string;
  /** Absolute path, for a process in another working directory. */
  path: string;
  /** Bytes, and modification time in ms, when it was first read: a refill refuses a file whose either changed. */
  size: number;
  modifiedMs: number;
  /** SHA-256 (hex) of the whole file, once a producer read it to the end. */
  sha256?: string;
}

/** Where the next row without a job is: a row's start in manifest `manifest` (an index into the list). */
export interface CursorPosition {
  manifest: number;
  byteOffset: number;
  line: number;
}

/** A batch's cursor. */
export interface ManifestCursorState {
  /** Rows whose jobs may be in Redis at once (unfinished rows added from the manifests). */
  window: number;
  manifests: CursorManifest[];
  /** Undefined once every manifest was read to its end. */
  position: CursorPosition | undefined;
  /** Rows added from the manifests so far (a row counts once, when the cursor passes it). */
  added: number;
  /** The enqueue settings rows are checked with (JSON of the producer's options, no secret among them). */
  settings: string;
  /** Set once a producer read (validated, priced, registered) every row of every manifest. */
  validated: boolean;
}

/** The cursors of every batch under one key prefix. */
export class ManifestCursors {
  constructor(
    private readonly redis: RedisConnection,
    private readonly prefix: string,
  ) {}

  private key(batchId: string): string {
    return batchKeys(this.prefix, batchId).cursor;
  }

  /** The batch's cursor, or undefined when its rows were all added at enqueue (no window). */
  async read(batchId: string): Promise<ManifestCursorState | undefined> {
    const fields = await this.redis.hgetall(this.key(batchId));
    if (fields.window === undefined) return undefined;
    return {
      window: Number(fields.window),
      manifests: JSON.parse(fields.manifests ?? '[]') as CursorManifest[],
      position:
        fields.position === undefined || fields.position === ''
          ? undefined
          : (JSON.parse(fields.position) as CursorPosition),
      added: Number(fields.added ?? 0),
      settings: fields.settings ?? '{}',
      validated: fields.validated === '1',
    };
  }

  /** Save a whole cursor (a producer starting or resuming). */
  async save(batchId: string, state: ManifestCursorState): Promise<void> {
    await this.redis.hset(this.key(batchId), {
      window: String(state.window),
      manifests: JSON.stringify(state.manifests),
      position: state.position === undefined ? '' : JSON.stringify(state.position),
      added: String(state.added),
      settings: state.settings,
      validated: state.validated ? '1' : '0',
    });
  }

  /** Move the position on, counting `added` more rows (the jobs of the rows before it are in Redis). */
  async advance(batchId: string, position: CursorPosition | undefined, added: number): Promise<void> {
    await this.redis
      .multi()
      .hset(this.key(batchId), 'position', position === undefined ? '' : JSON.stringify(position))
      .hincrby(this.key(batchId), 'added', added)
      .exec();
  }

  /** Record a manifest's SHA-256 and that every row was read (the end of a producer's pass). */
  async markValidated(batchId: string, manifests: CursorManifest[]): Promise<void> {
    await this.redis.hset(this.key(batchId), { manifests: JSON.stringify(manifests), validated: '1' });
  }

  /**
   * Take (or extend) the batch's refill lock for `ttlMs`: one process adds rows from the cursor at a time.
   * @returns whether `owner` holds it now.
   */
  async lock(batchId: string, owner: string, ttlMs: number): Promise<boolean> {
    return takeOwnedLock(this.redis, `${this.key(batchId)}-lock`, owner, ttlMs);
  }

  /** Release the refill lock if `owner` holds it. */
  async unlock(batchId: string, owner: string): Promise<void> {
    await releaseOwnedLock(this.redis, `${this.key(batchId)}-lock`, owner);
  }

  /** Batches with a cursor not at its end (what refilling processes look at). */
  async open(): Promise<string[]> {
    return this.redis.smembers(`${this.prefix}:cursors-open`);
  }

  /** Mark the batch's cursor open (rows wait in its manifests) or closed. */
  async setOpen(batchId: string, open: boolean): Promise<void> {
    const key = `${this.prefix}:cursors-open`;
    await (open ? this.redis.sadd(key, batchId) : this.redis.srem(key, batchId));
  }
}
