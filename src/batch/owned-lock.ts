/**
 * A lock in Redis held by one owner for a time (SET NX PX, extended by its owner, deleted only by its owner): one
 * process at a time drives a batch's OpenAI Batch API files (./openai-batch-records.ts) or refills it from its
 * manifest cursor (./manifest-cursor.ts).
 */
import type { RedisConnection } from '../shared/redis.js';

/** Take or extend the lock at `key` for `ttlMs`. @returns whether `owner` holds it now. */
export async function takeOwnedLock(
  redis: RedisConnection,
  key: string,
  owner: string,
  ttlMs: number,
): Promise<boolean> {
  if ((await redis.set(key, owner, 'PX', ttlMs, 'NX')) === 'OK') return true;
  if ((await redis.get(key)) !== owner) return false;
  await redis.pexpire(key, ttlMs);
  return true;
}

/** Release the lock at `key` if `owner` holds it. */
export async function releaseOwnedLock(redis: RedisConnection, key: string, owner: string): Promise<void> {
  if ((await redis.get(key)) === owner) await redis.del(key);
}
