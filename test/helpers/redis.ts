/**
 * Per-test Redis isolation: a unique key prefix, and cleanup that deletes only keys under it (never FLUSHDB).
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, inject } from 'vitest';

/** The Redis URL found by the global setup. */
export function redisUrl(): string {
  return inject('redisUrl');
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
  const redis = new Redis(redisUrl());
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/**
 * Every value stored under `prefix`, as text (hashes, strings, lists, sets, sorted sets, and streams such as BullMQ's
 * events): to search for what must never be stored, e.g. a secret.
 */
export async function storedText(prefix: string): Promise<string> {
  const redis = new Redis(redisUrl());
  try {
    const parts: string[] = [];
    for (const key of await redis.keys(`${prefix}:*`)) {
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
