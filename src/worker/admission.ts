/**
 * The admission step: may this row be sent to its provider now? Its outcome may already be recorded (a job run twice
 * after a crash); a 429's Retry-After may still run for its provider; its batch may be paused, or hold it until its
 * canary is approved (src/batch/canary.ts); its estimate may not fit
 * under the batch's budget cap. All of it is one Lua script (./lua/admit.lua), one round trip per job, which also
 * reserves the estimate when the row is admitted; then the host's images and tokens a minute (./host-capacity.ts).
 */
import { withinBudgetShare } from '../batch/batch-hosts.js';
import { locateRow } from '../batch/row-index.js';
import { roomProblem } from './storage-hold.js';
import { batchKeys, providerKey } from '../shared/keys.js';
import { LuaCommands } from '../shared/lua-commands.js';
import type { RedisConnection } from '../shared/redis.js';
import type { ImageJobData } from '../shared/job-definitions.js';
import type { JobRun } from './job-run.js';
import { hostOfJob } from '../shared/hosts.js';

const SCRIPTS = new LuaCommands(new URL('./lua/', import.meta.url), {
  admit: { file: 'admit.lua', numberOfKeys: 7 },
});

/** The admission's verdict. */
export type Admission =
  /** The row's outcome is recorded: nothing to do. */
  | { kind: 'finished' }
  /** Go on: a fresh submission was admitted (its estimate reserved), or a saved request is followed. */
  | { kind: 'go' }
  /** The provider's Retry-After still runs for `ms`. */
  | { kind: 'wait'; ms: number }
  /** The batch is paused. */
  | { kind: 'paused' }
  /** The batch's canary awaits approval and this row is held until then. */
  | { kind: 'canary' }
  /** The estimate would cross the batch's budget cap. */
  | { kind: 'budget' }
  /** A routed row this job's host no longer holds (src/batch/row-hosts.ts): this job must not send it. */
  | { kind: 'moved' }
  /** A collection job of this host follows the row's accepted request: this (added again) job must not send it. */
  | { kind: 'collecting' }
  /** A routed row on an account that used its share of the batch's budget cap: it goes to another candidate. */
  | { kind: 'share'; reason: string };

/**
 * Admit `run`. A run that follows a saved request, or must end as an uncertain outcome, is only checked for a recorded
 * outcome (it makes no new paid call, so it needs no reservation and waits for no Retry-After).
 */
export async function admit(run: JobRun): Promise<Admission> {
  const { data, deps } = run;
  const submits = data.providerRequest === undefined && data.submissionStartedAt === undefined;
  const admission = await admitRequest(deps.redis, deps.queuePrefix, data, run.quote.usd, {
    mode: submits ? 'submit' : 'check',
    retryAfterKey: providerKey(deps.queuePrefix, run.host, 'retry-after'),
  });
  if (admission.kind !== 'go' || !submits) return admission;
  // No room for its images under --out (./storage-hold.ts): not paid for; the batch pauses, saying why.
  const noRoom = await roomProblem(run, deps.minFreeBytes);
  if (noRoom !== undefined) {
    await deps.store.budget.release(data.batchId, data.rowKey);
    await deps.store.setPaused(data.batchId, true, noRoom);
    return { kind: 'paused' };
  }
  // An account past its share of the batch's cap (src/batch/batch-hosts.ts) sends no routed row: nothing sent yet.
  if (
    data.routing !== undefined &&
    !(await withinBudgetShare(deps.budgetShares, data.batchId, run.host, run.quote.usd))
  ) {
    await deps.store.budget.release(data.batchId, data.rowKey);
    return {
      kind: 'share',
      reason: `its budget share is used (${deps.budgetShares!.shareOf(run.host)} % of the cap)`,
    };
  }
  // The host's images and tokens a minute (./host-capacity.ts): without room, the row waits, its reservation given
  // back until it is admitted again.
  const waitMs = await deps.capacity.take(run.host, data, deps.capacityLimitsOf(run.host));
  if (waitMs === 0) return admission;
  await deps.store.budget.release(data.batchId, data.rowKey);
  return { kind: 'wait', ms: waitMs };
}

/**
 * The admission of one row's request of `usd` (see {@link admit}); `retryAfterKey` names the host's Retry-After that
 * holds it back (the Batch API, with its own rate-limit pool, passes none). The Retry-After is read just before the
 * script: it lives in the host's hash slot, the script's keys in the batch's (src/shared/keys.ts), and on a Redis
 * Cluster one script touches one slot only.
 */
export async function admitRequest(
  redis: RedisConnection,
  queuePrefix: string,
  data: ImageJobData,
  usd: number,
  options: { mode: 'submit' | 'check'; retryAfterKey?: string },
): Promise<Admission> {
  const keys = batchKeys(queuePrefix, data.batchId);
  const retryAfterMs =
    options.mode === 'submit' && options.retryAfterKey !== undefined
      ? await redis.pttl(options.retryAfterKey)
      : 0;
  const row = await locateRow(redis, queuePrefix, data.batchId, data.rowKey);
  const [verdict, ms] = (await SCRIPTS.run(
    redis,
    'admit',
    row.bucket,
    keys.meta,
    keys.budget,
    keys.reservations,
    keys.canaryRows,
    keys.hosts,
    keys.collecting,
    data.rowKey,
    usd,
    options.mode,
    data.routing === undefined ? '' : hostOfJob(data),
    hostOfJob(data),
    Math.max(0, retryAfterMs),
    row.identity,
  )) as [string, number?];
  if (
    verdict === 'finished' ||
    verdict === 'paused' ||
    verdict === 'budget' ||
    verdict === 'canary' ||
    verdict === 'moved' ||
    verdict === 'collecting'
  )
    return { kind: verdict };
  if (verdict === 'wait') return { kind: 'wait', ms: ms ?? 1 };
  return { kind: 'go' };
}
