/**
 * Collecting an accepted asynchronous request without holding a worker slot while it runs. The submission job hands the
 * request off: it adds the row's collection job to the provider's collect queue, delayed until the request's deadline,
 * parks the request (src/batch/parked-requests.ts) and completes. The poller (./request-poller.ts) promotes the
 * collection job once the request has finished; the collection job then takes the poller's finding (or polls once
 * itself) and goes on to the storing step. The request id was saved in the job data before the hand-off, so a crash
 * anywhere in between resumes the same request: nothing is submitted twice.
 */
import { DelayedError } from 'bullmq';
import type { PendingRequest, ProviderResponse } from '../providers/provider.js';
import { NotStartedError, RateLimitedError, TimeoutError } from '../shared/errors.js';
import type { ImageJobData } from '../shared/job-definitions.js';
import { batchKeys, collectJobIdFor } from '../shared/keys.js';
import type { ImageJobResult, JobRun } from './job-run.js';
import { pollKeepingStartDeadline } from './start-deadline.js';

/** Whether `run` is a collection job (from the provider's collect queue), not a submission. */
export function isCollection(run: JobRun): boolean {
  return run.job.queueName === run.deps.collectQueueFor(run.host).name;
}

/** When `pending` stops being waited for: its submission time plus the provider's longest wait, ms since the epoch. */
function deadlineOf(run: JobRun, pending: PendingRequest): number {
  return Date.parse(pending.submittedAt) + run.timing.maxWaitMs;
}

/**
 * Hand `pending` (already saved in the submission job's data) to a collection job and park it; the submission job is
 * done. Idempotent: a submission job run again after a crash hands the same request off again; the collection job (a
 * deterministic id) is added once while it exists, and one added after it finished finds the row's outcome recorded.
 */
export async function handOff(run: JobRun, pending: PendingRequest): Promise<ImageJobResult> {
  const { deps, job, data, log } = run;
  const deadlineAt = deadlineOf(run, pending);
  const collectJobId = collectJobIdFor(job.id!);
  const collectData: ImageJobData = {
    ...data,
    providerRequest: pending,
    acceptedOnAttempt: job.attemptsMade + 1,
  };
  delete collectData.submissionStartedAt;
  // Before the collection job exists: this submission job, once finished, is removed, and a copy added again later
  // must find the row being collected rather than send it again.
  await deps.redis.hset(batchKeys(deps.queuePrefix, data.batchId).collecting, data.rowKey, run.host);
  await deps.collectQueueFor(run.host).add(job.name, collectData, {
    jobId: collectJobId,
    delay: Math.max(1000, deadlineAt - Date.now()),
    attempts: job.opts.attempts ?? 1,
    ...(job.opts.backoff === undefined ? {} : { backoff: job.opts.backoff }),
    // As the submission job: removed once finished unless IMAGE_BATCH_KEEP_COMPLETED_JOBS keeps some.
    removeOnComplete: job.opts.removeOnComplete ?? true,
    removeOnFail: job.opts.removeOnFail ?? { age: 30 * 24 * 3600 },
  });
  await deps.parked.park(
    run.host,
    { jobId: collectJobId, request: pending, deadlineAt },
    Date.now() + deps.parkedPollIntervalOf(pending),
  );
  log.info({ requestId: pending.requestIds.join(','), collectJobId }, 'request parked until it finishes');
  return { status: 'submitted', outputs: [], costUsd: 0 };
}

/**
 * The response of the collection job's request: the poller's finding, else one status poll of its own. A request still
 * running is parked again (the job moves back to delayed), unless its deadline has passed.
 * @throws the provider's error when the request failed; TimeoutError (retryable: the request is kept and resumed) past
 *   the deadline; DelayedError when parked again.
 */
export async function collect(run: JobRun, pending: PendingRequest): Promise<ProviderResponse> {
  const { deps, provider, job, log } = run;
  const finding = await deps.parked.unpark(provider.name, job.id!, pending.requestIds);
  if (finding?.kind === 'completed') return finding.response;
  if (finding?.kind === 'not-started')
    throw new NotStartedError(finding.reason, {
      provider: provider.name,
      requestId: pending.requestIds.join(','),
    });
  await deps.pollBudget.take(provider.name, deps.shutdownSignal);
  try {
    const polled = await pollKeepingStartDeadline(provider, pending, run.context);
    if (polled.kind === 'completed') return polled.response;
  } catch (error) {
    // A 429 on a status call holds every poller of the provider back; the row keeps its attempts.
    if (!(error instanceof RateLimitedError)) throw error;
    await deps.pollBudget.backOff(provider.name, error.retryAfterMs ?? run.timing.pollIntervalMs);
    log.info({ retryAfterMs: error.retryAfterMs }, 'status poll throttled; polls of this provider wait');
  }
  const deadlineAt = deadlineOf(run, pending);
  if (Date.now() > deadlineAt) {
    throw new TimeoutError(
      `${provider.name} request ${pending.requestIds.join(',')} still unfinished after ${run.timing.maxWaitMs} ms; will resume it`,
      { provider: provider.name, requestMaybeSent: true },
    );
  }
  await job.moveToDelayed(deadlineAt, run.token);
  await deps.parked.park(
    provider.name,
    { jobId: job.id!, request: pending, deadlineAt },
    Date.now() + deps.parkedPollIntervalOf(pending),
  );
  throw new DelayedError('request still running; parked again');
}
