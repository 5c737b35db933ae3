/**
 * Per-test Redis isolation: a unique key prefix, and cleanup that deletes only keys under it (never FLUSHDB).
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { inject } from 'vitest';

/** The Redis URL found by the global setup. */
export function redisUrl(): string {
  return inject('redisUrl');
}

/** A key prefix no other test uses, under this run's stem (see global-setup's teardown). */
export function uniquePrefix(): string {
  return `ib-test-${inject('testRunId')}-${randomBytes(5).toString('hex')}`;
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
