/**
 * Per-test Redis isolation: a unique key prefix, and cleanup that deletes only keys under it (never FLUSHDB).
 */
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, inject } from 'vitest';
import {
  openRedis,
  scanKeys,
  type ConnectionSettings,
  type RedisConnection,
} from '../../src/shared/redis.js';
import { batchKeys } from '../../src/shared/keys.js';
import { rowBucketKey } from '../../src/batch/row-index.js';

/** The Redis URL found by the global setup: one Redis, or a `redis+cluster://` one in the cluster project. */
export function redisUrl(): string {
  return inject('redisUrl');
}

/** A connection to the tests' Redis (or cluster) with `options`; disconnect it when done. */
export function openTestRedis(options: ConnectionSettings = {}): RedisConnection {
  const redis = openRedis(redisUrl(), options);
  redis.on('error', () => undefined);
  return redis;
}

/** Every key matching a SCAN pattern: on a cluster, from each master (src/shared/redis.ts). */
export const keysMatching = scanKeys;

/**
 * Every record of batch `batchId`'s row index, by row identity (`<state><manifest>:<line>[|<row key>]`, state `-`, `c`
 * or `f`: src/batch/row-index.ts), gathered from its bucket hashes.
 */
export async function rowRecords(
  redis: RedisConnection,
  prefix: string,
  batchId: string,
): Promise<Record<string, string>> {
  const records: Record<string, string> = {};
  const buckets = Number(await redis.hget(batchKeys(prefix, batchId).meta, 'row_buckets'));
  for (let bucket = 0; bucket < buckets; bucket += 1)
    Object.assign(records, await redis.hgetall(rowBucketKey(prefix, batchId, bucket)));
  return records;
}

/** A key prefix no other test uses, under this run's stem (see global-setup's teardown). */
export function uniquePrefix(): string {
  return `ib-test-${inject('testRunId')}-${randomBytes(5).toString('hex')}`;
}

/**
 * Give each test of the calling file its own key prefix, its keys deleted after it (hooks registered here).
 * @returns the running test's prefix.
 */
export function prefixPerTest(): () => string {
  let prefix = '';
  beforeEach(() => {
    prefix = uniquePrefix();
  });
  afterEach(async () => {
    await deleteKeysWithPrefix(prefix);
  });
  return () => prefix;
}

/** Delete every key under `prefix`. */
export async function deleteKeysWithPrefix(prefix: string): Promise<void> {
  const redis = openTestRedis();
  try {
    // One DEL per key: a cluster refuses one command on keys of several slots.
    await Promise.all((await keysMatching(redis, `${prefix}:*`)).map((key) => redis.del(key)));
  } finally {
    redis.disconnect();
  }
}

/**
 * Every value stored under `prefix`, as text (hashes, strings, lists, sets, sorted sets, and streams such as BullMQ's
 * events): to search for what must never be stored, e.g. a secret.
 */
export async function storedText(prefix: string): Promise<string> {
  const redis = openTestRedis();
  try {
    const parts: string[] = [];
    for (const key of await keysMatching(redis, `${prefix}:*`)) {
      const type = await redis.type(key);
      if (type === 'hash') parts.push(JSON.stringify(await redis.hgetall(key)));
      else if (type === 'string') parts.push((await redis.get(key)) ?? '');
      else if (type === 'list') parts.push(JSON.stringify(await redis.lrange(key, 0, -1)));
      else if (type === 'zset') parts.push(JSON.stringify(await redis.zrange(key, '0', '-1')));
      else if (type === 'set') parts.push(JSON.stringify(await redis.smembers(key)));
      else if (type === 'stream') parts.push(JSON.stringify(await redis.xrange(key, '-', '+')));
    }
    return parts.join('\n');
  } finally {
    redis.disconnect();
  }
}
