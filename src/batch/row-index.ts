/**
 * Which rows a batch holds and which of them finished, kept small because it outlives the rows' jobs (issue 27: Redis
 * holds what is in flight, not history; 10,000,000 finished rows in ≤ 512 MiB).
 *
 * One record per row, in one of the batch's bucket hashes (`<batch base>:rows:<n>`, all in the batch's slot): the
 * field is the row key's {@link rowKeyIdentity} (what two rows must not share: job id and file names up to case), the
 * value `<state><manifest number>:<line>`, followed by `|<row key>` only when the row key is not its own identity
 * (upper case letters, characters a file name cannot hold). The state is one character: `-` not finished, `c`
 * completed, `f` failed (the outcome, folded into the record rather than a second hash keyed by row key). An outcome
 * recorded before its row was registered (a fast job racing its producer) leaves a record without a place, filled in
 * by the registration. The manifests' numbers live in the batch's meta hash (`manifest:<n>` → path,
 * `manifest-number:<path>` → n). Re-running the manifest into the batch finds the rows there and sends nothing.
 *
 * The number of buckets is fixed per batch when its first manifest is read (meta `row_buckets`, from the manifests'
 * size), so that each bucket holds a few dozen rows: Redis keeps a hash of at most 128 fields of at most 64 bytes as a
 * listpack (`hash-max-listpack-entries`, `hash-max-listpack-value`, https://redis.io/docs/latest/operate/oss_and_stack/management/optimization/memory-optimization/),
 * about 30 bytes a row here against about 130 in one big hash. Rows added later by far larger manifests, or long row
 * keys, make some buckets ordinary hashes: correct, only larger.
 */
import type { RedisConnection } from '../shared/redis.js';
import { batchKeyBase, batchKeys, rowKeyIdentity } from '../shared/keys.js';
import { LuaCommands } from '../shared/lua-commands.js';

/**
 * How an incoming row relates to the batch: not there yet; already enqueued from the same place, and `finished` or
 * not; or a row key clash with another place.
 */
export type RowClassification =
  | { kind: 'new' }
  | { kind: 'present'; finished: boolean }
  /** The row key is the batch's already, from `existingSource` (`manifest:line`). */
  | { kind: 'conflict'; existingSource: string }
  /** Another row key has the same {@link rowKeyIdentity} (job id, file names): this row cannot be told apart. */
  | { kind: 'stem-collision'; otherRowKey: string };

/** A row as the index takes it: its key and `manifest:line`. */
export interface IndexedRow {
  rowKey: string;
  source: string;
}

/** Where a row's record is: its bucket hash, its field, and what its value ends with (`|<row key>` or ''). */
export interface RowRecordLocation {
  bucket: string;
  identity: string;
  ownerSuffix: string;
}

/** A row's outcome as its record holds it. */
export type RowOutcome = 'completed' | 'failed';

/** Rows a bucket is planned to hold: well under Redis's default `hash-max-listpack-entries` of 128. */
export const ROWS_PER_BUCKET = 64;
/** Fewest manifest bytes a row takes (a CSV line like `k1,a red kite\n`): the bucket plan counts on this many. */
export const MIN_MANIFEST_BYTES_PER_ROW = 24;

const SCRIPTS = new LuaCommands(new URL('./lua/', import.meta.url), {
  classifyRows: { file: 'classify-rows.lua' },
  registerRows: { file: 'register-rows.lua' },
});

/** `<prefix>\n<batch>` → the batch's bucket count (never changes once set, so every process may keep it). */
const bucketCounts = new Map<string, number>();

/** Split `manifest:line` at its last colon (a Windows path or an S3 URL holds colons too). */
export function splitSource(source: string): { manifest: string; line: string } {
  const colon = source.lastIndexOf(':');
  return { manifest: source.slice(0, colon), line: source.slice(colon + 1) };
}

/** Buckets for manifests of `manifestBytes` bytes in all: at least one. */
export function bucketsFor(manifestBytes: number): number {
  return Math.max(1, Math.ceil(manifestBytes / (MIN_MANIFEST_BYTES_PER_ROW * ROWS_PER_BUCKET)));
}

/** The bucket of an identity among `buckets` (32-bit FNV-1a of its UTF-16 code units). */
export function bucketOf(identity: string, buckets: number): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < identity.length; index += 1) {
    hash ^= identity.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % buckets;
}

/** The key of bucket `bucket` of batch `batchId` (in the batch's slot). */
export function rowBucketKey(prefix: string, batchId: string, bucket: number): string {
  return `${batchKeyBase(prefix, batchId)}:rows:${bucket}`;
}

/**
 * Fix the batch's bucket count for manifests of `manifestBytes` bytes, unless it has one (the first plan wins).
 * @returns the batch's bucket count.
 */
export async function planRowBuckets(
  redis: RedisConnection,
  prefix: string,
  batchId: string,
  manifestBytes: number,
): Promise<number> {
  await redis.hsetnx(batchKeys(prefix, batchId).meta, 'row_buckets', String(bucketsFor(manifestBytes)));
  return rowBuckets(redis, prefix, batchId);
}

/**
 * The batch's bucket count; a batch without one (written by a caller that never read a manifest) gets one bucket.
 * @throws the connection's error.
 */
export async function rowBuckets(redis: RedisConnection, prefix: string, batchId: string): Promise<number> {
  const cacheKey = `${prefix}\n${batchId}`;
  const known = bucketCounts.get(cacheKey);
  if (known !== undefined) return known;
  const meta = batchKeys(prefix, batchId).meta;
  let count = Number(await redis.hget(meta, 'row_buckets'));
  if (!Number.isInteger(count) || count < 1) {
    await redis.hsetnx(meta, 'row_buckets', '1');
    count = Number(await redis.hget(meta, 'row_buckets'));
  }
  bucketCounts.set(cacheKey, count);
  return count;
}

/** Forget the bucket count this process keeps for a batch (the key-layout upgrade sets it). */
export function forgetRowBuckets(prefix: string, batchId: string): void {
  bucketCounts.delete(`${prefix}\n${batchId}`);
}

/** Where the record of `rowKey` in batch `batchId` is. @throws the connection's error. */
export async function locateRow(
  redis: RedisConnection,
  prefix: string,
  batchId: string,
  rowKey: string,
): Promise<RowRecordLocation> {
  return locationIn(prefix, batchId, rowKey, await rowBuckets(redis, prefix, batchId));
}

function locationIn(prefix: string, batchId: string, rowKey: string, buckets: number): RowRecordLocation {
  const identity = rowKeyIdentity(rowKey);
  return {
    bucket: rowBucketKey(prefix, batchId, bucketOf(identity, buckets)),
    identity,
    ownerSuffix: identity === rowKey ? '' : `|${rowKey}`,
  };
}

/** The outcome a record's value holds, if any. */
export function outcomeOfRecord(value: string | null | undefined): RowOutcome | undefined {
  if (value?.startsWith('c') === true) return 'completed';
  if (value?.startsWith('f') === true) return 'failed';
  return undefined;
}

/** The row indexes of every batch under one key prefix. */
export class RowIndex {
  /** `<batch>\n<manifest>` → the manifest's number in that batch (numbers never change once given). */
  private readonly numbers = new Map<string, number>();

  constructor(
    private readonly redis: RedisConnection,
    private readonly prefix: string,
  ) {}

  /** Classify rows before enqueuing them (reads only, besides numbering a manifest new to the batch). */
  async classify(batchId: string, rows: IndexedRow[]): Promise<RowClassification[]> {
    if (rows.length === 0) return [];
    const locations = await this.locate(batchId, rows);
    const references = await this.references(batchId, rows);
    const reply = (await SCRIPTS.run(
      this.redis,
      'classifyRows',
      rows.length,
      ...locations.map((location) => location.bucket),
      ...rows.flatMap((row, index) => [row.rowKey, references[index]!, locations[index]!.identity]),
    )) as string[];
    const classifications: RowClassification[] = [];
    for (const value of reply) {
      if (value === '') classifications.push({ kind: 'new' });
      else if (value.startsWith('!'))
        classifications.push({ kind: 'stem-collision', otherRowKey: value.slice(1) });
      else if (value === '=' || value === '~')
        classifications.push({ kind: 'present', finished: value === '=' });
      else classifications.push({ kind: 'conflict', existingSource: await this.sourceOf(batchId, value) });
    }
    return classifications;
  }

  /** Register rows as the batch's (after their jobs were added). @returns how many were new. */
  async register(batchId: string, rows: IndexedRow[]): Promise<number> {
    if (rows.length === 0) return 0;
    const locations = await this.locate(batchId, rows);
    const references = await this.references(batchId, rows);
    return (await SCRIPTS.run(
      this.redis,
      'registerRows',
      rows.length + 1,
      batchKeys(this.prefix, batchId).meta,
      ...locations.map((location) => location.bucket),
      ...locations.flatMap((location, index) => [
        location.identity,
        `${references[index]!}${location.ownerSuffix}`,
      ]),
    )) as number;
  }

  /** The recorded outcome of each row key (undefined: none yet). */
  async outcomes(batchId: string, rowKeys: string[]): Promise<Array<RowOutcome | undefined>> {
    if (rowKeys.length === 0) return [];
    const buckets = await rowBuckets(this.redis, this.prefix, batchId);
    const pipeline = this.redis.pipeline();
    for (const rowKey of rowKeys) {
      const location = locationIn(this.prefix, batchId, rowKey, buckets);
      pipeline.hget(location.bucket, location.identity);
    }
    const replies = (await pipeline.exec()) ?? [];
    return replies.map(([error, value]) => {
      if (error) throw error;
      return outcomeOfRecord(value as string | null);
    });
  }

  private async locate(batchId: string, rows: IndexedRow[]): Promise<RowRecordLocation[]> {
    const buckets = await rowBuckets(this.redis, this.prefix, batchId);
    return rows.map((row) => locationIn(this.prefix, batchId, row.rowKey, buckets));
  }

  /** `<manifest number>:<line>` of each row. */
  private async references(batchId: string, rows: IndexedRow[]): Promise<string[]> {
    const references: string[] = [];
    for (const row of rows) {
      const { manifest, line } = splitSource(row.source);
      references.push(`${await this.numberOf(batchId, manifest)}:${line}`);
    }
    return references;
  }

  /** The manifest's number in the batch, given once (two producers racing agree: the first HSETNX wins). */
  private async numberOf(batchId: string, manifest: string): Promise<number> {
    const cacheKey = `${batchId}\n${manifest}`;
    const known = this.numbers.get(cacheKey);
    if (known !== undefined) return known;
    const meta = batchKeys(this.prefix, batchId).meta;
    let number = Number(await this.redis.hget(meta, `manifest-number:${manifest}`));
    if (!Number.isInteger(number) || number < 1) {
      const candidate = await this.redis.hincrby(meta, 'manifests_numbered', 1);
      if ((await this.redis.hsetnx(meta, `manifest-number:${manifest}`, String(candidate))) === 1) {
        await this.redis.hset(meta, `manifest:${candidate}`, manifest);
        number = candidate;
      } else number = Number(await this.redis.hget(meta, `manifest-number:${manifest}`));
    }
    this.numbers.set(cacheKey, number);
    return number;
  }

  /** `manifest:line` of a stored reference. */
  private async sourceOf(batchId: string, reference: string): Promise<string> {
    const { manifest: number, line } = splitSource(reference);
    const manifest = await this.redis.hget(batchKeys(this.prefix, batchId).meta, `manifest:${number}`);
    return `${manifest ?? `manifest #${number}`}:${line}`;
  }
}
