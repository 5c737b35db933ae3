/**
 * The key layout's version, and the upgrade of records written before hash tags (issue 27). Until then a queue's keys
 * were `<prefix>:provider-openai:…`, a batch's `<prefix>:batch:<id>:…`, a host's `<prefix>:provider:<host>:…`; now
 * each name carries its hash tag (`{provider-openai}`, `batch:{<id>}`, `provider:{<host>}`, src/shared/keys.ts).
 * Records under the old names would be invisible to this version: a re-run would not see the rows already paid for
 * and would pay for them again, and queued jobs would wait forever. So the first command that connects renames every
 * such key once (RENAMENX: nothing is overwritten), then marks the prefix as upgraded.
 *
 * Stop workers of the earlier version first: they would go on writing the old names.
 */
import { scanKeys, type RedisConnection } from '../shared/redis.js';
import { takeOwnedLock, releaseOwnedLock } from './owned-lock.js';
import { foldRowIndexes } from './row-index-upgrade.js';

/**
 * The layout this version writes: 2 = hash-tagged names; 3 = a batch's row index and outcomes in bucket hashes
 * (./row-index.ts, upgraded by ./row-index-upgrade.ts).
 */
export const KEY_LAYOUT_VERSION = '3';

/** How long one process may hold the upgrade before another takes over, ms. */
const UPGRADE_LOCK_MS = 60_000;

/** A BullMQ queue name image-batch used before hash tags: `provider-<host>[-collect]`, `route`, `schedules`. */
const OLD_QUEUE = /^(provider-[a-z]+(?:@\d+)?(?:-collect)?|route|schedules)$/;

/**
 * The name the key `key` under `prefix` has in the current layout, or undefined when it is not one of the old layout
 * (already tagged, or not ours).
 */
export function currentKeyName(prefix: string, key: string): string | undefined {
  if (!key.startsWith(`${prefix}:`)) return undefined;
  const [first, second, ...rest] = key.slice(prefix.length + 1).split(':');
  if (first === undefined || second === undefined) return undefined;
  if ((first === 'batch' || first === 'provider') && rest.length > 0 && !second.startsWith('{'))
    return [prefix, first, `{${second}}`, ...rest].join(':');
  if (OLD_QUEUE.test(first)) return [prefix, `{${first}}`, second, ...rest].join(':');
  return undefined;
}

/**
 * Rename every key of the old layout under `prefix` to its current name, once per prefix (a marker key remembers it).
 * Then folds each batch's row index and outcomes into bucket hashes (./row-index-upgrade.ts).
 * @returns how many keys were renamed (0 on every later call). Never renames over an existing key.
 * @throws the connection's error.
 */
export async function upgradeKeyLayout(redis: RedisConnection, prefix: string): Promise<number> {
  const marker = `${prefix}:key-layout`;
  const written = await redis.get(marker);
  if (written === KEY_LAYOUT_VERSION) return 0;
  // Nothing written before under this prefix (no batch listed, no schedule): no keyspace scan needed.
  const [batches, schedules] = await Promise.all([
    redis.exists(`${prefix}:batches`),
    redis.exists(`${prefix}:schedules:repeat`),
  ]);
  if (batches + schedules === 0) {
    await redis.set(marker, KEY_LAYOUT_VERSION);
    return 0;
  }
  const owner = `${process.pid}-${Date.now()}`;
  const lock = `${marker}-lock`;
  if (!(await takeOwnedLock(redis, lock, owner, UPGRADE_LOCK_MS))) return 0;
  try {
    let renamed = 0;
    if (written !== '2')
      for (const key of await scanKeys(redis, `${prefix}:*`)) {
        const target = currentKeyName(prefix, key);
        // RENAMENX within one node: old keys of one queue or batch shared a slot (a cluster needed `{…}` in the prefix).
        if (target !== undefined && (await redis.renamenx(key, target)) === 1) renamed += 1;
      }
    await foldRowIndexes(redis, prefix);
    await redis.set(marker, KEY_LAYOUT_VERSION);
    return renamed;
  } finally {
    await releaseOwnedLock(redis, lock, owner);
  }
}
