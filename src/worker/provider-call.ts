/**
 * The paid call: submit the row once, or follow the request an earlier attempt saved in the job (so a crashed or
 * retried job resumes instead of paying again), and wait for an asynchronous request until it completes.
 *
 * A submission is marked in the job (`submissionStartedAt`) before it is sent and unmarked once its answer is known;
 * a job that finds the mark set on start, or a submission that was sent and got no answer (a timeout, a dropped
 * connection), ends as an uncertain outcome: no provider offers an idempotency key, so it is never sent again on a
 * guess — synchronous or not.
 */
import { DelayedError } from 'bullmq';
import type { PendingRequest, ProviderResponse, SubmitResult } from '../providers/provider.js';
import { ProviderError, RateLimitedError, TimeoutError } from '../shared/errors.js';
import type { ImageJobData } from '../shared/job-definitions.js';
import { truncateForLog } from '../shared/logger.js';
import { UncertainOutcomeError } from './error-policy.js';
import type { JobRun } from './job-run.js';
import { sleep } from './poll-budget.js';

/** The job data without the "submission sent" mark. */
export function withoutSubmissionMarker(data: ImageJobData): ImageJobData {
  const copy = { ...data };
  delete copy.submissionStartedAt;
  return copy;
}

/**
 * The provider's answer for the run's row: from the saved request, or from a new submission.
 * @throws UncertainOutcomeError when a submission may have been made without its answer being recorded; the
 *   provider's errors otherwise; DelayedError when the worker shuts down while waiting (the request stays saved).
 */
export async function obtainResponse(run: JobRun): Promise<ProviderResponse> {
  const { data, job, log } = run;
  if (data.providerRequest !== undefined) {
    log.info(
      { requestId: data.providerRequest.requestIds.join(',') },
      'resuming the saved provider request; not submitting again',
    );
    return waitFor(run, data.providerRequest);
  }
  if (data.submissionStartedAt !== undefined) {
    throw new UncertainOutcomeError(
      `an earlier attempt sent this row to ${data.provider} at ${data.submissionStartedAt} and stopped before ` +
        'the answer was recorded; it may have been billed, so it is not sent again',
    );
  }
  await job.updateData({ ...data, submissionStartedAt: new Date().toISOString() });
  log.debug({ prompt: truncateForLog(data.prompt), operation: data.operation }, 'submitting');
  let submitted: SubmitResult;
  try {
    submitted = await run.provider.submit(data, run.context);
  } catch (error) {
    // Sent, then no answer: the provider may have made — and billed — it, synchronous or not.
    if (error instanceof ProviderError && error.withoutAnswer) {
      throw new UncertainOutcomeError(
        `${error.message}; the submission may have been accepted and billed, so it is not sent again`,
      );
    }
    await job.updateData(withoutSubmissionMarker(data));
    throw error;
  }
  if (submitted.kind === 'completed') return submitted.response;
  await job.updateData({ ...withoutSubmissionMarker(data), providerRequest: submitted.request });
  log.info({ requestId: submitted.request.requestIds.join(',') }, 'provider accepted the request');
  return waitFor(run, submitted.request);
}

/** Poll `pending` until it completes, the wait runs out (retryable; the request is resumed), or the worker stops. */
async function waitFor(run: JobRun, pending: PendingRequest): Promise<ProviderResponse> {
  const { provider, timing, deps, job, token } = run;
  const deadline = Date.parse(pending.submittedAt) + timing.maxWaitMs;
  for (;;) {
    await deps.pollBudget.take(provider.name, deps.shutdownSignal);
    let polled: Awaited<ReturnType<typeof provider.poll>> | undefined;
    try {
      polled = await provider.poll(pending, {
        ...run.context,
        signal: AbortSignal.timeout(timing.timeoutMs),
      });
    } catch (error) {
      // A 429 on a status call holds every poller of the provider back; the row keeps its attempts.
      if (!(error instanceof RateLimitedError)) throw error;
      await deps.pollBudget.backOff(provider.name, error.retryAfterMs ?? timing.pollIntervalMs);
      run.log.info(
        { retryAfterMs: error.retryAfterMs },
        'status poll throttled; polls of this provider wait',
      );
    }
    if (polled?.kind === 'completed') return polled.response;
    if (Date.now() > deadline) {
      throw new TimeoutError(
        `${provider.name} request ${pending.requestIds.join(',')} still unfinished after ${timing.maxWaitMs} ms; will resume it`,
        { provider: provider.name, requestMaybeSent: true },
      );
    }
    if (deps.shutdownSignal.aborted) {
      await job.moveToDelayed(Date.now() + timing.pollIntervalMs, token);
      throw new DelayedError('worker shutting down; the request is followed up by the next worker');
    }
    await sleep(timing.pollIntervalMs, deps.shutdownSignal);
  }
}
