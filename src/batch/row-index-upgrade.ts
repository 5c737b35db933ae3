/**
 * Upgrading a batch's row index from one hash with a second hash of outcomes (layout 2: `<batch base>:row-index`,
 * identity → `<reference>[|<row key>]`, and `<batch base>:outcomes`, row key → `completed`/`failed`) to bucket hashes
 * holding both (layout 3, ./row-index.ts). Without it a re-run after upgrading would not see the rows already paid for
 * and would pay for them again.
 */
import type { RedisConnection } from '../shared/redis.js';
import { batchKeyBase, batchKeys, rowKeyIdentity } from '../shared/keys.js';
import { bucketOf, forgetRowBuckets, ROWS_PER_BUCKET, rowBucketKey } from './row-index.js';

/** Fields read per HSCAN step. */
const SCAN_COUNT = 1_000;

/** The layout-2 keys of a batch's row index and outcomes. */
export function layoutTwoRowKeys(prefix: string, batchId: string): { rowIndex: string; outcomes: string } {
  const base = batchKeyBase(prefix, batchId);
  return { rowIndex: `${base}:row-index`, outcomes: `${base}:outcomes` };
}

/**
 * Fold the layout-2 row index and outcomes of every batch under `prefix` into bucket hashes, then delete them.
 * A record already in a bucket (written by this version meanwhile) is kept. Safe to run again after a crash.
 * @returns how many batches were upgraded. @throws the connection's error.
 */
export async function foldRowIndexes(redis: RedisConnection, prefix: string): Promise<number> {
  let upgraded = 0;
  for (const batchId of await redis.smembers(`${prefix}:batches`)) {
    const old = layoutTwoRowKeys(prefix, batchId);
    const [indexed, finished] = await Promise.all([redis.hlen(old.rowIndex), redis.hlen(old.outcomes)]);
    if (indexed + finished === 0) continue;
    const meta = batchKeys(prefix, batchId).meta;
    await redis.hsetnx(meta, 'row_buckets', String(Math.max(1, Math.ceil(indexed / ROWS_PER_BUCKET))));
    forgetRowBuckets(prefix, batchId);
    const buckets = Number(await redis.hget(meta, 'row_buckets'));
    const write = async (records: Array<[identity: string, record: string]>) => {
      const pipeline = redis.pipeline();
      for (const [identity, record] of records)
        pipeline.hsetnx(rowBucketKey(prefix, batchId, bucketOf(identity, buckets)), identity, record);
      await pipeline.exec();
    };
    await scanHash(redis, old.rowIndex, async (fields) => {
      const owners = fields.map(([identity, entry]) => {
        const bar = entry.indexOf('|');
        return bar < 0 ? identity : entry.slice(bar + 1);
      });
      const outcomes = await redis.hmget(old.outcomes, ...owners);
      await write(fields.map(([identity, entry], index) => [identity, stateOf(outcomes[index]) + entry]));
    });
    // An outcome whose row was not registered yet (a job faster than its producer): a record without a place.
    await scanHash(redis, old.outcomes, async (fields) => {
      await write(
        fields.map(([rowKey, outcome]) => {
          const identity = rowKeyIdentity(rowKey);
          return [identity, stateOf(outcome) + (identity === rowKey ? '' : `|${rowKey}`)];
        }),
      );
    });
    await redis.del(old.rowIndex);
    await redis.del(old.outcomes);
    upgraded += 1;
  }
  return upgraded;
}

function stateOf(outcome: string | null | undefined): string {
  if (outcome === 'completed') return 'c';
  if (outcome === 'failed') return 'f';
  return '-';
}

async function scanHash(
  redis: RedisConnection,
  key: string,
  onFields: (fields: Array<[string, string]>) => Promise<void>,
): Promise<void> {
  let cursor = '0';
  do {
    const [next, flat] = await redis.hscan(key, cursor, 'COUNT', SCAN_COUNT);
    cursor = next;
    const fields: Array<[string, string]> = [];
    for (let index = 0; index + 1 < flat.length; index += 2) fields.push([flat[index]!, flat[index + 1]!]);
    if (fields.length > 0) await onFields(fields);
  } while (cursor !== '0');
}
