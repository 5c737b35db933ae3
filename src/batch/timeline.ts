/**
 * A batch's timeline for the dashboard's charts: per minute, rows finished (completed, failed by reason), USD spent, and
 * request latency per host as bucket counts; beside it, per host, queue depth and parked requests sampled by the
 * workers. The batch's part is written by the outcome script in the same call that records a row
 * (./lua/record-outcome.lua: no extra round trip), into the hash `BatchKeys.timeline`, fields `<minute>:<measure>`:
 *
 *   `<m>:c`, `<m>:f`           rows completed, failed in minute m (minutes since the epoch, UTC)
 *   `<m>:usd`                  USD counted as spent
 *   `<m>:f:<reason>`           failed rows by error code
 *   `<m>:l:<host>:<bucket>`    completed rows whose request took the bucket's latency ({@link LATENCY_BOUNDS_MS})
 *
 * Hosts' samples are hashes per host per UTC day (`provider:{<host>}:timeline:<yyyymmdd>`, kept 8 days), fields
 * `<m>:q` (jobs waiting in the host's queue) and `<m>:p` (requests parked), the latest sample of the minute.
 */
import type { RedisConnection } from '../shared/redis.js';
import type { HostName } from '../shared/hosts.js';
import { batchKeys, providerItemKey } from '../shared/keys.js';

/**
 * Upper bounds of the latency buckets, ms (the last bucket is everything above the last bound). Percentiles read from
 * them are the bound of the bucket where the rank falls: p95 "≤ 30 s" means between 15 and 30 s.
 */
export const LATENCY_BOUNDS_MS = [
  250, 500, 1000, 2000, 4000, 8000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000,
] as const;

/** How long hosts' samples are kept, s. */
const HOST_SAMPLES_TTL_SECONDS = 8 * 24 * 3600;

/** The latency bucket of a request that took `ms`: the index of the first bound ≥ ms, or the count of bounds. */
export function latencyBucketOf(ms: number): number {
  const index = LATENCY_BOUNDS_MS.findIndex((bound) => ms <= bound);
  return index === -1 ? LATENCY_BOUNDS_MS.length : index;
}

/** The minute of `ms` (since the epoch). */
export function minuteOf(ms: number): number {
  return Math.floor(ms / 60_000);
}

/** The charts' data: one value per minute from the batch's first minute to its last (or now). */
export interface BatchTimeline {
  /** Start of each minute, s since the epoch (what uPlot takes on its x axis). */
  minutes: number[];
  completed: number[];
  failed: number[];
  /** USD spent up to the end of each minute. */
  spentUsd: number[];
  /** The batch's budget cap, USD, or null. */
  budgetUsd: number | null;
  /** Failed rows per minute by error code. */
  failuresByReason: Record<string, number[]>;
  /** Per host: p50 and p95 request latency of the rows completed in each minute, ms (null: none that minute). */
  latency: Record<string, { p50: Array<number | null>; p95: Array<number | null> }>;
  /** Per host: jobs waiting in its queue and requests parked, as sampled in each minute (null: no sample). */
  hosts: Record<string, { waiting: Array<number | null>; parked: Array<number | null> }>;
  /** Rows pending at the end of each minute (the batch's rows less those finished so far). */
  pending: number[];
}

/** Most minutes a timeline shows (the latest ones): a week. */
const MAX_MINUTES = 7 * 24 * 60;
/** Fewest minutes a timeline shows. */
const MIN_MINUTES = 10;

/**
 * Read the batch's timeline from `fromMs` to `toMs` (its creation and its last outcome, or now), with the samples of
 * `hosts`. `rows`: the batch's rows, for the pending line; `budgetUsd`: its cap.
 */
export async function readTimeline(
  redis: RedisConnection,
  prefix: string,
  batch: { batchId: string; rows: number; budgetUsd: number | undefined; fromMs: number; toMs: number },
  hosts: readonly HostName[],
): Promise<BatchTimeline> {
  const fields = await redis.hgetall(batchKeys(prefix, batch.batchId).timeline);
  let last = minuteOf(batch.toMs);
  for (const field of Object.keys(fields)) {
    const minute = Number(field.slice(0, field.indexOf(':')));
    if (Number.isFinite(minute) && minute > last) last = minute;
  }
  // At least ten minutes, so a batch done within a minute still reads as a chart (its first minutes are zeros).
  const first = Math.max(Math.min(minuteOf(batch.fromMs), last - MIN_MINUTES + 1), last - MAX_MINUTES + 1);
  const count = last - first + 1;
  const series = () => new Array<number>(count).fill(0);
  const timeline: BatchTimeline = {
    minutes: Array.from({ length: count }, (_, index) => (first + index) * 60),
    completed: series(),
    failed: series(),
    spentUsd: series(),
    budgetUsd: batch.budgetUsd ?? null,
    failuresByReason: {},
    latency: {},
    hosts: {},
    pending: series(),
  };
  const latencyCounts: Record<string, number[][]> = {};
  for (const [field, value] of Object.entries(fields)) {
    const [minuteText, measure, ...rest] = field.split(':');
    const index = Number(minuteText) - first;
    if (!(index >= 0 && index < count)) continue;
    const amount = Number(value);
    if (measure === 'c') timeline.completed[index] = amount;
    else if (measure === 'usd') timeline.spentUsd[index] = amount;
    else if (measure === 'f' && rest.length === 0) timeline.failed[index] = amount;
    else if (measure === 'f') (timeline.failuresByReason[rest.join(':')] ??= series())[index] = amount;
    else if (measure === 'l' && rest.length >= 2) {
      const bucket = Number(rest.pop());
      const host = rest.join(':');
      const minutes = (latencyCounts[host] ??= Array.from({ length: count }, () => []));
      minutes[index]![bucket] = amount;
    }
  }
  let spent = 0;
  let finished = 0;
  for (let index = 0; index < count; index += 1) {
    spent += timeline.spentUsd[index]!;
    timeline.spentUsd[index] = Math.round(spent * 1e6) / 1e6;
    finished += timeline.completed[index]! + timeline.failed[index]!;
    timeline.pending[index] = Math.max(0, batch.rows - finished);
  }
  for (const [host, minutes] of Object.entries(latencyCounts))
    timeline.latency[host] = {
      p50: minutes.map((buckets) => percentileOf(buckets, 0.5)),
      p95: minutes.map((buckets) => percentileOf(buckets, 0.95)),
    };
  for (const host of hosts) timeline.hosts[host] = await hostSamples(redis, prefix, host, first, count);
  return timeline;
}

/**
 * The latency at quantile `q` (0..1) of the requests counted in `buckets` (index: bucket, value: requests), as the
 * upper bound of its bucket, ms; the open last bucket reads as twice the last bound. Null when nothing was counted.
 */
export function percentileOf(buckets: readonly (number | undefined)[], q: number): number | null {
  const total = buckets.reduce<number>((sum, value) => sum + (value ?? 0), 0);
  if (total === 0) return null;
  const rank = Math.ceil(q * total);
  let seen = 0;
  for (let bucket = 0; bucket < buckets.length; bucket += 1) {
    seen += buckets[bucket] ?? 0;
    if (seen >= rank) return LATENCY_BOUNDS_MS[bucket] ?? LATENCY_BOUNDS_MS.at(-1)! * 2;
  }
  return LATENCY_BOUNDS_MS.at(-1)! * 2;
}

function dayOf(minute: number): string {
  return new Date(minute * 60_000).toISOString().slice(0, 10).replace(/-/g, '');
}

async function hostSamples(
  redis: RedisConnection,
  prefix: string,
  host: HostName,
  first: number,
  count: number,
): Promise<{ waiting: Array<number | null>; parked: Array<number | null> }> {
  const samples = {
    waiting: new Array<number | null>(count).fill(null),
    parked: new Array<number | null>(count).fill(null),
  };
  const days = new Set<string>();
  for (let minute = first; minute < first + count; minute += 24 * 60) days.add(dayOf(minute));
  days.add(dayOf(first + count - 1));
  for (const day of days) {
    const fields = await redis.hgetall(providerItemKey(prefix, host, 'timeline', day));
    for (const [field, value] of Object.entries(fields)) {
      const [minuteText, measure] = field.split(':');
      const index = Number(minuteText) - first;
      if (!(index >= 0 && index < count)) continue;
      if (measure === 'q') samples.waiting[index] = Number(value);
      else if (measure === 'p') samples.parked[index] = Number(value);
    }
  }
  return samples;
}

/** Rows of the batch finished in each of the `minutes` minutes up to `endMs`, oldest first (one read). */
export async function recentFinished(
  redis: RedisConnection,
  prefix: string,
  batchId: string,
  endMs: number,
  minutes = 60,
): Promise<number[]> {
  const last = minuteOf(endMs);
  const fields: string[] = [];
  for (let minute = last - minutes + 1; minute <= last; minute += 1)
    fields.push(`${minute}:c`, `${minute}:f`);
  const values = await redis.hmget(batchKeys(prefix, batchId).timeline, ...fields);
  return Array.from(
    { length: minutes },
    (_, index) => Number(values[index * 2] ?? 0) + Number(values[index * 2 + 1] ?? 0),
  );
}

/** Record a sample of `host`: `waiting` jobs in its queue and `parked` requests, now (the latest of the minute wins). */
export async function sampleHost(
  redis: RedisConnection,
  prefix: string,
  host: HostName,
  sample: { waiting: number; parked: number },
): Promise<void> {
  const minute = minuteOf(Date.now());
  const key = providerItemKey(prefix, host, 'timeline', dayOf(minute));
  await redis
    .multi()
    .hset(key, `${minute}:q`, String(sample.waiting), `${minute}:p`, String(sample.parked))
    .expire(key, HOST_SAMPLES_TTL_SECONDS)
    .exec();
}
