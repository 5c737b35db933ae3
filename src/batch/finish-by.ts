/**
 * A batch's finish-by time (issue 30): when the user needs it done. At enqueue image-batch plans when the batch would
 * finish at the configured request rates of its hosts (rows queued ahead of it at a higher priority included) and says
 * whether the time can be met; while it runs, the rate of the last minutes says when it will finish, and a batch that
 * will miss its time is late (status, dashboard, the `batch.late` event). Rows for OpenAI that can wait for its Batch
 * API (finish-by at least 24 hours away: OpenAI's completion window, https://platform.openai.com/docs/guides/batch)
 * go through it at half price unless `--delivery realtime` is given.
 */
import { UsageError } from '../shared/errors.js';
import type { RedisConnection } from '../shared/redis.js';
import { recentFinished } from './timeline.js';

/** OpenAI's Batch API completion window, ms (https://platform.openai.com/docs/api-reference/batch/create: `24h`). */
export const BATCH_API_WINDOW_MS = 24 * 3600_000;

/** Minutes of recent outcomes whose rate says when a running batch will finish. */
export const RECENT_MINUTES = 5;

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3600_000, d: 86_400_000 };

/**
 * The time `text` names, ms since the epoch: a duration from `now` (`90m`, `2h`, `1h30m`, `3d`) or an ISO 8601 time
 * (`2026-12-04T06:00:00Z`; without a zone, local time).
 * @throws UsageError for anything else, or a time not in the future.
 */
export function parseFinishBy(text: string, now = Date.now()): number {
  const trimmed = text.trim();
  const parts = [...trimmed.matchAll(/(\d+(?:\.\d+)?)\s*([smhd])/gi)];
  let at: number;
  if (parts.length > 0 && parts.map((part) => part[0]).join('') === trimmed.replace(/\s+/g, ''))
    at = now + parts.reduce((sum, part) => sum + Number(part[1]) * UNIT_MS[part[2]!.toLowerCase()]!, 0);
  else if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/.test(trimmed))
    at = Date.parse(trimmed);
  else
    throw new UsageError(
      `finish-by "${text}" is neither a duration (90m, 2h, 1h30m, 3d) nor an ISO time (2026-12-04T06:00:00Z)`,
    );
  if (!Number.isFinite(at)) throw new UsageError(`finish-by "${text}" is not a valid time`);
  if (at <= now) throw new UsageError(`finish-by ${new Date(at).toISOString()} is not in the future`);
  return at;
}

/** What the plan of a batch counts on one host: its rows, the rows ahead of them, its request rate. */
export interface HostLoad {
  host: string;
  /** The batch's rows that can only go to this host (realtime). */
  rows: number;
  /** Rows waiting on the host's queue at a higher priority: sent before the batch's. */
  ahead: number;
  /** Configured requests a minute; 0: no limit (not a bottleneck, as far as the plan can tell). */
  requestsPerMinute: number;
}

/** The plan of a batch: when it would finish, and whether that meets its finish-by time. */
export interface FinishPlan {
  /** ms since the epoch; undefined when no host it uses has a rate limit to plan with. */
  expectedAt: number | undefined;
  meets: boolean;
  /** Hosts without a rate limit (the plan cannot say how fast they go). */
  unlimited: string[];
}

/**
 * When the rows would finish at the hosts' configured rates: each host's own rows (and those ahead) at its rate, and
 * rows with several candidate hosts (`spread`) over the spare capacity of all of them — the fluid bound
 * max(max_h own_h / rate_h, Σ rows / Σ rate). Rows through the Batch API (`batchApiRows`) take up to 24 hours.
 */
export function planFinish(
  loads: readonly HostLoad[],
  spread: number,
  batchApiRows: number,
  finishBy: number,
  now = Date.now(),
): FinishPlan {
  const limited = loads.filter((load) => load.requestsPerMinute > 0);
  const unlimited = loads.filter((load) => load.requestsPerMinute <= 0).map((load) => load.host);
  let minutes = 0;
  for (const load of limited) minutes = Math.max(minutes, (load.rows + load.ahead) / load.requestsPerMinute);
  const rate = limited.reduce((sum, load) => sum + load.requestsPerMinute, 0);
  const total = limited.reduce((sum, load) => sum + load.rows + load.ahead, 0) + spread;
  if (rate > 0) minutes = Math.max(minutes, total / rate);
  let expectedAt = limited.length === 0 ? undefined : now + minutes * 60_000;
  if (batchApiRows > 0) expectedAt = Math.max(expectedAt ?? now, now + BATCH_API_WINDOW_MS);
  return { expectedAt, meets: expectedAt === undefined || expectedAt <= finishBy, unlimited };
}

/**
 * When a running batch will finish at the rate of its last {@link RECENT_MINUTES} minutes (`finishedRecently` rows),
 * ms since the epoch; undefined when nothing finished lately (no rate to go by).
 */
export function expectedFinish(
  pending: number,
  finishedRecently: number,
  now = Date.now(),
): number | undefined {
  if (pending <= 0) return now;
  if (finishedRecently <= 0) return undefined;
  return now + (pending / (finishedRecently / RECENT_MINUTES)) * 60_000;
}

/** A batch's finish-by as status shows it. */
export interface FinishByStatus {
  /** ISO time it must be done by. */
  at: string;
  /** ISO time the plan at enqueue said it would finish (absent: no rate to plan with). */
  plannedAt?: string;
  /** ISO time the rate of the last minutes says it will finish (absent: nothing finished lately). */
  expectedAt?: string;
  /** It has rows left and will not (or did not) make it. */
  late: boolean;
}

/**
 * The finish-by status of a batch due at `at` with `pending` rows: late once the time has passed with rows left, or
 * when the recent rate (else the plan) puts its end after it.
 */
export function finishByStatus(
  at: number,
  plannedAt: number | undefined,
  pending: number,
  finishedRecently: number,
  now = Date.now(),
): FinishByStatus {
  const expected = pending > 0 ? expectedFinish(pending, finishedRecently, now) : undefined;
  const forecast = expected ?? plannedAt;
  const late = pending > 0 && (now > at || (forecast !== undefined && forecast > at));
  return {
    at: new Date(at).toISOString(),
    ...(plannedAt === undefined ? {} : { plannedAt: new Date(plannedAt).toISOString() }),
    ...(expected === undefined ? {} : { expectedAt: new Date(expected).toISOString() }),
    late,
  };
}

/**
 * The finish-by status of batch `batchId` from its settings (`meta`: `finish_by`, `finish_planned`, `rows_total`) and
 * its timeline's last minutes (one read); `pending` counts its rows not finished.
 */
export async function finishByOf(
  redis: RedisConnection,
  prefix: string,
  batchId: string,
  meta: Record<string, string>,
  pending: number,
  now = Date.now(),
): Promise<FinishByStatus> {
  const recent = await recentFinished(redis, prefix, batchId, now, RECENT_MINUTES);
  const planned = meta.finish_planned === undefined ? undefined : Number(meta.finish_planned);
  return finishByStatus(
    Number(meta.finish_by),
    planned,
    pending,
    recent.reduce((sum, rows) => sum + rows, 0),
    now,
  );
}
