/**
 * A batch paused because its outputs cannot be stored (issue 26: a full disk under `--out`): workers hold its rows back
 * before any further paid call (the admission script sees `paused`, worker/lua/admit.lua), rows already paid keep their
 * images' sources in their jobs (src/worker/storage-hold.ts), and the reason is shown by `run`, `status` and the
 * dashboard until the batch is resumed (`image-batch resume --batch <id>`, or the dashboard's Resume).
 */
import type { RedisConnection } from '../shared/redis.js';
import { batchKeys } from '../shared/keys.js';
import { StorageUnavailableError } from '../storage/output-store.js';

/** The error codes of a full file system or quota: no more bytes can be written (ENOSPC, EDQUOT, EFBIG). */
const STORAGE_FULL_CODES = new Set(['ENOSPC', 'EDQUOT', 'EFBIG']);

/** Whether `error` says the storage has no room (a Node.js system error with one of {@link STORAGE_FULL_CODES}). */
export function isStorageFull(error: unknown): boolean {
  return storageFullCode(error) !== undefined;
}

/**
 * The code of a storage-full `error` (`ENOSPC`), looking through wrapped errors (their `cause`), or undefined when it
 * is no such error.
 */
export function storageFullCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth += 1) {
    const code = (current as NodeJS.ErrnoException).code;
    if (code !== undefined && STORAGE_FULL_CODES.has(code)) return code;
    current = current.cause;
  }
  return undefined;
}

/**
 * Why `error` means the output storage cannot take the row's files now — `the output storage is full (ENOSPC)` or
 * `the output storage is unavailable (S3 PutObject failed: …)` — or undefined for any other error.
 */
export function storageProblem(error: unknown): string | undefined {
  const full = storageFullCode(error);
  if (full !== undefined) return `the output storage is full (${full})`;
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth += 1) {
    if (current instanceof StorageUnavailableError)
      return `the output storage is unavailable (${current.message.slice(0, 300)})`;
    current = current.cause;
  }
  return undefined;
}

/**
 * Why batch `batchId` is paused when it was not the user's choice (its storage: BatchStore `setPaused` with a reason),
 * or undefined.
 */
export async function storagePauseReason(
  redis: RedisConnection,
  prefix: string,
  batchId: string,
): Promise<string | undefined> {
  const [paused, reason] = await redis.hmget(batchKeys(prefix, batchId).meta, 'paused', 'paused_reason');
  return paused === '1' && reason !== null && reason !== '' ? reason : undefined;
}
