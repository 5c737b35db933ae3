/**
 * The reuse index (issue 31): for each output root, the completed rows' reuse keys (./reuse-key.ts) and where their
 * images are — one Redis hash per root, `<prefix>:reuse:<16 hex of the root's SHA-256>`, field the key, value
 * the JSON array `[batch folder, row key, image path, digest, …]` (paths relative to the batch folder; each image's
 * digest the first 16 hex digits of its SHA-256, so a copy of a file replaced since — a batch folder deleted and made
 * again — is told apart and not used).
 *
 * The results files are the truth; Redis holds a copy. A hash without its `.complete` field was never built, or was
 * lost with Redis: the first lookup rebuilds it from every results file under the root (one process at a time), so
 * rows made before the loss are still found. Completed rows are added as they are recorded.
 */
import { createHash } from 'node:crypto';
import type { RedisConnection } from '../shared/redis.js';
import type { ResultLine } from '../shared/job-definitions.js';
import type { OutputStore } from '../storage/output-store.js';

/** An earlier completed output of the same request. */
export interface ReuseSource {
  /** The folder of its batch under the root (the batch id, for every id the layout keeps as it is). */
  batch: string;
  rowKey: string;
  /** Its images, relative to the batch folder. */
  paths: string[];
  /** The first {@link DIGEST_LENGTH} hex digits of each image's SHA-256, in the order of `paths`. */
  digests: string[];
}

/** Hex digits of an image's SHA-256 kept in the index. */
export const DIGEST_LENGTH = 16;

/** The field marking a hash as holding every results file's rows. */
const COMPLETE_FIELD = '.complete';
/** How long a rebuild may hold its lock, ms; waiting processes look again every {@link REBUILD_POLL_MS}. */
const REBUILD_LOCK_MS = 120_000;
const REBUILD_POLL_MS = 200;
/** Fields written per HSET while rebuilding. */
const REBUILD_CHUNK = 500;

/** The reuse index of the output roots of one key prefix. */
export class ReuseIndex {
  constructor(
    private readonly redis: RedisConnection,
    private readonly prefix: string,
  ) {}

  /** The hash of output root `root`. */
  keyOf(root: string): string {
    return `${this.prefix}:reuse:${createHash('sha256').update(root).digest('hex').slice(0, 16)}`;
  }

  /** Record that row `rowKey` of batch folder `batch` under `root` made `paths` for `reuseKey`. */
  async record(root: string, reuseKey: string, source: ReuseSource): Promise<void> {
    await this.redis.hset(this.keyOf(root), reuseKey, encode(source));
  }

  /** Forget `reuseKey` under `root` (its images are gone). */
  async forget(root: string, reuseKey: string): Promise<void> {
    await this.redis.hdel(this.keyOf(root), reuseKey);
  }

  /**
   * The earlier output of `reuseKey` under the store's root, rebuilding the index from the results files first when it
   * is not complete. @returns undefined when there is none.
   */
  async lookup(store: OutputStore, reuseKey: string): Promise<ReuseSource | undefined> {
    const key = this.keyOf(store.root);
    const [complete, value] = await this.redis.hmget(key, COMPLETE_FIELD, reuseKey);
    if (complete === null) {
      await this.rebuild(store);
      return decode(await this.redis.hget(key, reuseKey));
    }
    return decode(value);
  }

  /** Read every results file under the store's root into the index, once (others wait for the one rebuilding). */
  async rebuild(store: OutputStore): Promise<number> {
    const key = this.keyOf(store.root);
    const lock = `${key}:rebuilding`;
    const owner = `${process.pid}:${Math.random().toString(16).slice(2)}`;
    while ((await this.redis.set(lock, owner, 'PX', REBUILD_LOCK_MS, 'NX')) === null) {
      if ((await this.redis.hexists(key, COMPLETE_FIELD)) === 1) return 0;
      await new Promise((resolve) => setTimeout(resolve, REBUILD_POLL_MS));
    }
    let added = 0;
    try {
      if ((await this.redis.hexists(key, COMPLETE_FIELD)) === 1) return 0;
      let fields: string[] = [];
      const flush = async () => {
        if (fields.length > 0) await this.redis.hset(key, ...fields);
        fields = [];
      };
      for await (const batch of store.batchFolders()) {
        for await (const text of store.resultLines(batch)) {
          const line = parseLine(text);
          if (line === undefined) continue;
          fields.push(line.reuse_key!, encode(sourceOf(batch, line)));
          added += 1;
          if (fields.length >= REBUILD_CHUNK * 2) await flush();
        }
      }
      await flush();
      await this.redis.hset(key, COMPLETE_FIELD, String(Date.now()));
    } finally {
      if ((await this.redis.get(lock)) === owner) await this.redis.del(lock);
    }
    return added;
  }
}

function parseLine(text: string): ResultLine | undefined {
  try {
    const line = JSON.parse(text) as ResultLine;
    return line.status === 'completed' && typeof line.reuse_key === 'string' && line.outputs.length > 0
      ? line
      : undefined;
  } catch {
    return undefined; // a torn last line of a killed writer
  }
}

/** The index entry of completed results line `line` of the batch in folder `batch`. */
export function sourceOf(batch: string, line: ResultLine): ReuseSource {
  return {
    batch,
    rowKey: line.row_key,
    paths: line.outputs.map((output) => output.path),
    digests: line.outputs.map((output) => output.sha256.slice(0, DIGEST_LENGTH)),
  };
}

function encode(source: ReuseSource): string {
  return JSON.stringify([
    source.batch,
    source.rowKey,
    ...source.paths.flatMap((p, i) => [p, source.digests[i]]),
  ]);
}

function decode(value: string | null | undefined): ReuseSource | undefined {
  if (value === null || value === undefined) return undefined;
  const [batch, rowKey, ...images] = JSON.parse(value) as string[];
  if (batch === undefined || rowKey === undefined || images.length === 0 || images.length % 2 !== 0)
    return undefined;
  const paths = images.filter((_, index) => index % 2 === 0);
  const digests = images.filter((_, index) => index % 2 === 1);
  return { batch, rowKey, paths, digests };
}
