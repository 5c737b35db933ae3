/**
 * Names image-batch gives things in Redis and on disk: BullMQ queue names and job ids, the keys of a batch's own
 * records, and the file-name-safe stem of an untrusted name (row keys, batch ids).
 */
import { createHash } from 'node:crypto';
import type { ProviderName } from './config.js';

const UNSAFE_CHARACTERS = /[^A-Za-z0-9._+-]/g;
const MAX_STEM_LENGTH = 100;

/**
 * A file-name-safe form of an untrusted name: only `A-Z a-z 0-9 . _ + -`, no leading dot or dash, at most 100
 * characters. When the name had to change, a short hash of the original is appended, so two different names never
 * map to the same stem. The result never contains a path separator, `..` at its start, or `:`.
 */
export function safeFileStem(name: string): string {
  let stem = name.replace(UNSAFE_CHARACTERS, '_').replace(/^[.-]+/, '_');
  if (stem.length > MAX_STEM_LENGTH) stem = stem.slice(0, MAX_STEM_LENGTH);
  if (stem === name && stem !== '') return stem;
  const digest = createHash('sha256').update(name).digest('hex').slice(0, 8);
  return `${stem}-${digest}`;
}

/** BullMQ job id of a row: deterministic, so re-enqueuing a row is a no-op. Never contains `:`. */
export function jobIdFor(batchId: string, rowKey: string): string {
  return `${batchId}--${safeFileStem(rowKey)}`;
}

/** BullMQ queue name of a provider. One queue per provider, so each has its own rate limit. */
export function queueNameFor(provider: ProviderName): string {
  return `provider-${provider}`;
}

/** Redis keys of a batch's own records (besides the BullMQ queues). */
export interface BatchKeys {
  /** Hash: batch settings (out dir, created_at, manifests) and counters rows_total, rows_rejected. */
  meta: string;
  /** Hash: row key -> source (`manifest:line`) of every enqueued row; detects duplicate row keys. */
  rows: string;
  /** Hash: row key -> final status; a row's outcome is recorded once. */
  outcomes: string;
  /** Hash: counters completed, failed, cost_usd_total, and per tier `images:<tier>`, `cost_usd:<tier>`. */
  stats: string;
  /** Hash: `manifest:line` -> 1 for every rejected row already written to rejects.jsonl. */
  rejects: string;
  /** Hash: `reserved` and `spent` USD against the batch's budget cap. */
  budget: string;
  /** Hash: row key -> USD reserved for the row's paid call in flight. */
  reservations: string;
  /** Hash: row key -> results line recorded in Redis but not yet confirmed in results.jsonl (crash recovery). */
  pendingLines: string;
  /** Set: row keys of the batch's canary (`--canary N`), the rows that run before approval. */
  canaryRows: string;
  /** Set: `<provider> <job id>` of every job held until the canary is approved (src/batch/canary.ts). */
  canaryHeld: string;
}

/** The keys of batch `batchId` under `prefix`. */
export function batchKeys(prefix: string, batchId: string): BatchKeys {
  const base = `${prefix}:batch:${batchId}`;
  return {
    meta: `${base}:meta`,
    rows: `${base}:rows`,
    outcomes: `${base}:outcomes`,
    stats: `${base}:stats`,
    rejects: `${base}:rejects`,
    budget: `${base}:budget`,
    reservations: `${base}:reservations`,
    pendingLines: `${base}:pending-lines`,
    canaryRows: `${base}:canary-rows`,
    canaryHeld: `${base}:canary-held`,
  };
}

/** What is kept in Redis about one provider, shared by every worker. */
export type ProviderRecord =
  | 'failures'
  | 'opens'
  | 'retry-after'
  | 'paused-reason'
  /** The status-poll token bucket, shared by every worker (worker/poll-budget.ts). */
  | 'poll-bucket'
  /** Set while a 429 answered to a status poll holds every poller back. */
  | 'poll-retry-after';

/** The key of a provider's record (`<prefix>:provider:<name>:<record>`): circuit breaker, Retry-After, pause reason. */
export function providerKey(prefix: string, provider: ProviderName, record: ProviderRecord): string {
  return `${prefix}:provider:${provider}:${record}`;
}
