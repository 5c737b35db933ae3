/**
 * Start deadlines (issue 25): a routed row with another candidate host left is sent to a host with a queue (fal,
 * Replicate) with a deadline to start it. The host enforces it where it can (fal `X-Fal-Request-Timeout`: 504 with
 * `X-Fal-Request-Timeout-Type: user`; Replicate `Cancel-After`: status `aborted`, not charged) and the worker keeps it
 * too: past the deadline (and a grace for the host's own), a request the host still reports queued is cancelled before
 * it runs (`cancelIfQueued`). Either way the host reports it never started — `NotStartedError` — and the row is free to
 * go to another host (./settlement.ts). A request that started, or whose cancel raced its start, is followed to its end.
 */
import type { CallContext, ImageProvider, PendingRequest, PollResult } from '../providers/provider.js';
import { NotStartedError } from '../shared/errors.js';
import type { ImageJobData } from '../shared/job-definitions.js';
import { hostOfJob } from '../shared/hosts.js';

/** Time the host is given past a start deadline to enforce it itself before the worker cancels, ms. */
export const START_DEADLINE_GRACE_MS = 5_000;

/** The shortest start deadline a finish-by time sends: with less time left the batch is late anyway, ms. */
export const MIN_FINISH_BY_DEADLINE_MS = 10_000;

/**
 * The start deadline to send `data` with on `provider`, ms, or undefined — only for a submission not yet accepted, on
 * a host with a queue it can be cancelled from: a routed row with a candidate host left besides this one gets
 * `deadlineMs`; a row of a batch with a finish-by time (`finishBy`, ms since the epoch; issue 30) gets at most the time
 * left until then, so a request that cannot start in time is aborted unbilled rather than finished late (it fails
 * `not_started`, to be retried, unless another candidate host takes it).
 */
export function startDeadlineOf(
  data: ImageJobData,
  provider: ImageProvider,
  deadlineMs: number,
  finishBy?: number,
  now = Date.now(),
): number | undefined {
  if (data.providerRequest !== undefined || provider.cancelIfQueued === undefined) return undefined;
  const routing = data.routing;
  const others =
    routing?.candidates.filter(
      (name) => name !== hostOfJob(data) && !routing.tried.some((host) => host.provider === name),
    ) ?? [];
  const left = finishBy === undefined ? undefined : finishBy - now;
  const byFinish = left !== undefined && left >= MIN_FINISH_BY_DEADLINE_MS ? left : undefined;
  const routed = others.length > 0 ? deadlineMs : undefined;
  if (routed === undefined) return byFinish;
  return byFinish === undefined ? routed : Math.min(routed, byFinish);
}

/** `pending` with the time it must start by, when it was sent with a start deadline. */
export function withStartBy(pending: PendingRequest, context: CallContext): PendingRequest {
  if (context.startDeadlineMs === undefined) return pending;
  const startBy = Date.parse(pending.submittedAt) + context.startDeadlineMs;
  return { ...pending, startBy: new Date(startBy).toISOString() };
}

/** Whether `pending` is past its start deadline and the host's grace. */
export function pastStartDeadline(pending: PendingRequest, now = Date.now()): boolean {
  return pending.startBy !== undefined && now > Date.parse(pending.startBy) + START_DEADLINE_GRACE_MS;
}

/**
 * Poll `pending` once; a request still pending past its start deadline is cancelled if the host still has it queued.
 * @throws NotStartedError when the host reports it never started (it aborted it, or our cancel removed it); the
 *   provider's errors otherwise.
 */
export async function pollKeepingStartDeadline(
  provider: ImageProvider,
  pending: PendingRequest,
  context: CallContext,
): Promise<PollResult> {
  const polled = await provider.poll(pending, context);
  if (polled.kind !== 'pending' || !pastStartDeadline(pending) || provider.cancelIfQueued === undefined)
    return polled;
  if ((await provider.cancelIfQueued(pending, context)) === 'started') return polled;
  throw new NotStartedError(
    `${provider.name}: request ${pending.requestIds.join(',')} still queued at its start deadline ${pending.startBy}; cancelled before it started`,
    { provider: provider.name, requestId: pending.requestIds.join(',') },
  );
}
