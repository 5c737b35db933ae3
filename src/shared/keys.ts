/**
 * Names image-batch gives things in Redis and on disk: BullMQ queue names and job ids, the keys of a batch's own
 * records, and the file-name-safe stem of an untrusted name (row keys, batch ids).
 */
import { createHash } from 'node:crypto';
import type { HostName } from './hosts.js';

const UNSAFE_CHARACTERS = /[^A-Za-z0-9._+-]/g;
const MAX_STEM_LENGTH = 100;
/** How a changed name ends: `-` and the first 8 hex digits of its SHA-256. */
const HASHED_ENDING = /-[0-9a-f]{8}$/;

/**
 * A file-name-safe form of an untrusted name: only `A-Z a-z 0-9 . _ + -`, no leading dot or dash, at most 100
 * characters. When the name had to change, a short hash of the original is appended, so two different names never
 * map to the same stem by sanitising alone. The result never contains a path separator, `..` at its start, or `:`.
 * Row keys, which need a one-to-one mapping, use {@link rowKeyStem}.
 */
export function safeFileStem(name: string): string {
  return stemOf(name, false);
}

/**
 * The stem of a row key in job ids and file names: {@link safeFileStem}, one-to-one. A key kept as it is never ends
 * like a changed one (`-` and 8 hex digits), so `a/b` becomes `a_b-c14cddc0` and a key written `a_b-c14cddc0` is
 * hashed too rather than taken for it (issue 18: two rows became one job). Two keys then share a stem only if their
 * SHA-256 prefixes (32 bits) collide, and the batch's records reject the second of such keys (batch-store.ts).
 */
export function rowKeyStem(rowKey: string): string {
  return stemOf(rowKey, true);
}

/**
 * What two row keys must not share: their {@link rowKeyStem} with letter case folded. Image file names differ only in
 * case for keys like `Kite` and `kite`, and the file systems of macOS and Windows do not tell such names apart — one
 * row's image would overwrite the other's. The batch's records reject the second of such keys.
 */
export function rowKeyIdentity(rowKey: string): string {
  return rowKeyStem(rowKey).toLowerCase();
}

function stemOf(name: string, oneToOne: boolean): string {
  let stem = name.replace(UNSAFE_CHARACTERS, '_').replace(/^[.-]+/, '_');
  if (stem.length > MAX_STEM_LENGTH) stem = stem.slice(0, MAX_STEM_LENGTH);
  if (stem === name && stem !== '' && !(oneToOne && HASHED_ENDING.test(name))) return stem;
  const digest = createHash('sha256').update(name).digest('hex').slice(0, 8);
  return `${stem}-${digest}`;
}

/** BullMQ job id of a row: deterministic, so re-enqueuing a row is a no-op. Never contains `:`. */
export function jobIdFor(batchId: string, rowKey: string): string {
  return `${batchId}--${rowKeyStem(rowKey)}`;
}

/**
 * A Redis Cluster hash tag (https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/#hash-tags):
 * the keys of one queue, one batch or one host share a tag, so each group sits in one slot and every script or
 * transaction on it runs on one node, while the groups spread over the cluster's slots (issue 27). BullMQ's own
 * advice: wrap the queue name in braces (https://docs.bullmq.io/patterns/redis-cluster). A name holding a brace
 * would end the tag early or open another; braces are replaced, so every key of the group still shares one tag.
 */
export function hashTag(name: string): string {
  return `{${name.replace(/[{}]/g, '_')}}`;
}

/**
 * BullMQ queue name of a host (a provider's account, src/shared/hosts.ts): `{provider-openai}`, `{provider-openai@2}`.
 * One queue per host, so each has its own rate limit and concurrency; the braces are its hash tag ({@link hashTag}).
 */
export function queueNameFor(provider: HostName): string {
  return hashTag(`provider-${provider}`);
}

/** A queue's name without its hash tag's braces, as people read it: `provider-openai`, `route`. */
export function queueTitle(queueName: string): string {
  return queueName.replace(/^\{(.*)\}$/, '$1');
}

/**
 * BullMQ queue name of the rows with several candidate hosts, waiting for a worker to choose one for them
 * (src/worker/router.ts). A row is in this queue or in one provider's queue, never in two.
 */
export const ROUTE_QUEUE_NAME = hashTag('route');

/** BullMQ job id of a routing job of a row: the row's job id and how many hosts it has left before. */
export function routeJobIdFor(batchId: string, rowKey: string, hostsLeft: number): string {
  return `${jobIdFor(batchId, rowKey)}--route-${hostsLeft}`;
}

/**
 * BullMQ queue name of a provider's collections: jobs that follow an accepted asynchronous request (parked, without a
 * worker slot, until it finishes) and store its images. Separate from the submissions, so the provider's creation rate
 * limit and concurrency count submissions only.
 */
export function collectQueueNameFor(provider: HostName): string {
  return hashTag(`provider-${provider}-collect`);
}

/** BullMQ job id of the collection job of a submission job. */
export function collectJobIdFor(submissionJobId: string): string {
  return `${submissionJobId}--collect`;
}

/** Redis keys of a batch's own records (besides the BullMQ queues). */
export interface BatchKeys {
  /**
   * Hash: batch settings (out dir, created_at, manifests, `row_buckets`) and counters rows_total, rows_rejected. The
   * row index, with each row's outcome, is in hashes `<base>:rows:<n>` besides these (batch/row-index.ts).
   */
  meta: string;
  /** Hash: counters completed, failed, cost_usd_total, and per tier `images:<tier>`, `cost_usd:<tier>`. */
  stats: string;
  /** Hash: `manifest:line:code` -> 1 for every reject already written to rejects.jsonl. */
  rejects: string;
  /** Hash: `reserved` and `spent` USD against the batch's budget cap. */
  budget: string;
  /** Hash: row key -> USD reserved for the row's paid call in flight. */
  reservations: string;
  /**
   * Hash: row key -> the host whose accepted asynchronous request of the row a collection job follows, until the row's
   * outcome is recorded. A submission job of the row on that host added again (a re-run, a routing job run twice) sends
   * nothing while it is there: the finished submission job is gone from Redis (issue 27), this record is not.
   */
  collecting: string;
  /** Hash: row key -> results line recorded in Redis but not yet confirmed in results.jsonl (crash recovery). */
  pendingLines: string;
  /** Set: row keys of the batch's canary (`--canary N`), the rows that run before approval. */
  canaryRows: string;
  /** Set: `<provider> <job id>` of every job held until the canary is approved (src/batch/canary.ts). */
  canaryHeld: string;
  /**
   * Hash: row key -> the host that holds a row with several candidate hosts now (a provider name, or `route` while it
   * waits for one): only that host's job may send it (batch/row-hosts.ts).
   */
  hosts: string;
  /**
   * Hash: host -> routed rows handed to it so far (moves included): what `fastest` spreads in proportion to each host's
   * capacity, and what `status` shows per host (batch/row-hosts.ts).
   */
  routedTo: string;
  /**
   * Hash: where the next row without a job is in the batch's manifests, and the window of rows in Redis at once
   * (batch/manifest-cursor.ts); absent when every row was added at enqueue.
   */
  cursor: string;
  /**
   * Hash: the batch's events (src/batch/notifications): `target` -> where they go, sealed with the signing secret;
   * `<event type>` -> its delivery, `sending|<ms>|<body>`, then `delivered|<ms>` or `failed|<ms>|<why>` (each event
   * once per batch, whichever process sends it).
   */
  notifications: string;
  /**
   * Hash: the batch's timeline, per minute since the epoch (`<minute>:<measure>`): rows finished, spend, failures per
   * reason, request latency per host (src/batch/timeline.ts), written with each outcome.
   */
  timeline: string;
}

/**
 * Where the keys of batch `batchId` start: `<prefix>:batch:{<batch id>}`, the batch's hash tag, so all its records
 * share a slot (its scripts touch several) and batches spread over a cluster.
 */
export function batchKeyBase(prefix: string, batchId: string): string {
  return `${prefix}:batch:${hashTag(batchId)}`;
}

/** The keys of batch `batchId` under `prefix` (all in the batch's slot, {@link batchKeyBase}). */
export function batchKeys(prefix: string, batchId: string): BatchKeys {
  const base = batchKeyBase(prefix, batchId);
  return {
    meta: `${base}:meta`,
    stats: `${base}:stats`,
    rejects: `${base}:rejects`,
    budget: `${base}:budget`,
    reservations: `${base}:reservations`,
    pendingLines: `${base}:pending-lines`,
    collecting: `${base}:collecting`,
    canaryRows: `${base}:canary-rows`,
    canaryHeld: `${base}:canary-held`,
    hosts: `${base}:hosts`,
    routedTo: `${base}:routed-to`,
    cursor: `${base}:cursor`,
    notifications: `${base}:notifications`,
    timeline: `${base}:timeline`,
  };
}

/** Set: ids of the batches whose events are still to be sent (src/batch/notifications/batch-watch.ts). */
export function notifyingBatchesKey(prefix: string): string {
  return `${prefix}:notifying-batches`;
}

/** What is kept in Redis about one provider, shared by every worker. */
export type ProviderRecord =
  | 'failures'
  | 'opens'
  /** Set while the circuit breaker's current pause runs (batch/provider-health.ts). */
  | 'open-until'
  | 'retry-after'
  | 'paused-reason'
  /** Set while a `provider.paused` event for the host's current pause was sent (src/batch/notifications). */
  | 'paused-notified'
  /** The status-poll token bucket, shared by every worker (worker/poll-budget.ts). */
  | 'poll-bucket'
  /** Set while a 429 answered to a status poll holds every poller back. */
  | 'poll-retry-after'
  /** Sorted set: job id -> when its parked request is next due for a status poll, ms (batch/parked-requests.ts). */
  | 'parked'
  /** Hash: job id -> the parked request (its saved provider request and deadline), JSON. */
  | 'parked-requests'
  /** Hash: the provider's request id -> job id of a parked request (webhooks name the request, not the job). */
  | 'parked-by-request'
  /**
   * Hash: `ratio@tier` -> `WIDTHxHEIGHT`, the smallest image the host delivered for that aspect ratio and resolution
   * tier (hosts that take those instead of pixels; batch/tier-size-book.ts).
   */
  | 'tier-sizes'
  /** Hash: what the host's usage showed of how it bills, e.g. `input-billing` once|per-image (batch/billing-facts.ts). */
  | 'billing'
  /** Hashes `tokens`, `at`: the requests, images and tokens a minute buckets of the host (worker/host-capacity.ts). */
  | 'requests-bucket'
  | 'images-bucket'
  | 'tokens-bucket'
  /** Hash: the limits a minute the host announced in its rate-limit headers (`requestsPerMinute`, `tokensPerMinute`). */
  | 'announced-limits';

/** Records kept per item of a provider: one key each, with its own expiry. */
export type ProviderItemRecord =
  /** What the poller found for a parked job (its finished response, or "look yourself"), until the job takes it. */
  | 'finished'
  /** Set once a webhook for the request was accepted: deduplicates deliveries and tells a late parker it is done. */
  | 'delivered'
  /** Hash per UTC day (`yyyymmdd`): the host's queue depth and parked requests per minute (batch/timeline.ts). */
  | 'timeline';

/**
 * The key of a host's record (`<prefix>:provider:{<host>}:<record>`): circuit breaker, Retry-After, pause reason. Each
 * account of a provider has its own (`provider:{openai@2}:…`); a host's records share its hash tag, so its scripts
 * (rate buckets, poll budget, breaker) run on one node.
 */
export function providerKey(prefix: string, provider: HostName, record: ProviderRecord): string {
  return `${prefix}:provider:${hashTag(provider)}:${record}`;
}

/** The key of one item's record (`<prefix>:provider:{<name>}:<record>:<id>`); `id` is a job id or a request id. */
export function providerItemKey(
  prefix: string,
  provider: HostName,
  record: ProviderItemRecord,
  id: string,
): string {
  return `${prefix}:provider:${hashTag(provider)}:${record}:${id}`;
}
