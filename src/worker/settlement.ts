/**
 * The last steps of a job: store a completed row's images and record its outcome, or carry out the error policy's
 * decision for a failed attempt (src/worker/error-policy.ts) — pause the provider's queue, retry, or fail the row with
 * its one results line. A row's budget reservation is given back when nothing can have been billed, and counted as
 * spent when it may have been.
 */
import { DelayedError, UnrecoverableError, Worker } from 'bullmq';
import { completedLine, failedLine } from '../batch/results-line.js';
import { recordRowOutcome } from '../batch/row-outcome.js';
import { roundUsd } from '../cost/usd.js';
import type { ProviderResponse } from '../providers/provider.js';
import { ProviderError } from '../shared/errors.js';
import type { StoredOutput } from '../shared/job-definitions.js';
import { outputImagePath } from '../storage/output-layout.js';
import { storeOutputImage } from '../storage/store-image.js';
import { outputStoreFor } from '../storage/stores.js';
import {
  countsTowardBreaker,
  decideOnError,
  UncertainOutcomeError,
  type ErrorDecision,
} from './error-policy.js';
import type { ImageJobResult, JobRun } from './job-run.js';
import { withoutSubmissionMarker } from './provider-call.js';

/** Store the images of `response`, then record the row completed with its one results line. */
export async function completeRow(run: JobRun, response: ProviderResponse): Promise<ImageJobResult> {
  const { data, deps, log, timing } = run;
  const requestId = response.requestId ?? run.job.data.providerRequest?.requestIds.join(',') ?? null;
  // An async request's latency runs from its submission (the collection job starts only once it has finished).
  const submitted =
    data.providerRequest === undefined ? run.startedAt : Date.parse(data.providerRequest.submittedAt);
  deps.metrics.providerLatency.observe(
    { provider: data.provider, operation: data.operation, outcome: 'completed' },
    (Date.now() - submitted) / 1000,
  );
  await deps.health.recordSuccess(data.provider);
  if (response.throttleMs !== undefined && response.throttleMs > 0) {
    log.info(
      { delayMs: response.throttleMs },
      'provider reports its quota nearly used; slowing down before a 429',
    );
    await deps.queueFor(data.provider).rateLimit(response.throttleMs);
  }
  const outputs: StoredOutput[] = [];
  for (const [index, image] of response.images.entries()) {
    const relativePath = outputImagePath(data.rowKey, index, response.images.length, data.outputFormat);
    outputs.push(
      await storeOutputImage(
        image,
        outputStoreFor(run.outputRoot),
        data.batchId,
        relativePath,
        data.outputFormat,
        {
          provider: data.provider,
          timeoutMs: timing.timeoutMs,
          maxBytes: deps.maxOutputBytes,
          signal: AbortSignal.timeout(timing.timeoutMs),
          // A job started before and cut off (a killed worker) may have left `*.part` files: older than its lock, they
          // are no one's.
          ...(run.job.attemptsStarted > 1 ? { removeStagingOlderThanMs: deps.lockDurationMs } : {}),
        },
      ),
    );
  }
  const { quote } = run;
  const inputsUsd = quote.usd - quote.usdPerImage * data.numImages;
  const costUsd = roundUsd(quote.usdPerImage * outputs.length + inputsUsd);
  const actualUsd = run.catalogue.actualUsd(data.provider, response.usage);
  const line = completedLine(run.base, {
    model: response.model,
    outputs,
    requestId,
    costUsd,
    actualUsd,
    usage: response.usage,
  });
  await recordRowOutcome(deps.store, data, line, run.outputRoot);
  deps.metrics.rows.inc({ provider: data.provider, status: 'completed' });
  deps.metrics.spentUsd.inc({ provider: data.provider, tier: line.resolution_tier }, actualUsd ?? costUsd);
  log.info({ outputs: outputs.length, costUsd, requestId }, 'row completed');
  return { status: 'completed', outputs, costUsd };
}

/**
 * Carry out the error policy for an attempt that threw `error`. Never returns: it throws what tells BullMQ what to
 * do (DelayedError, a rate-limit error, the error itself to retry, or UnrecoverableError once the row's failed line is
 * recorded).
 */
export async function settleError(run: JobRun, error: unknown): Promise<never> {
  if (error instanceof DelayedError) throw error;
  const { job, data, deps } = run;
  const accepted = job.data.providerRequest !== undefined;
  const uncertain = error instanceof UncertainOutcomeError;
  // Nothing accepted and the row goes back or fails unbilled: give its reservation back (an uncertain outcome keeps
  // it; recording the outcome settles it as spent).
  if (!accepted && !uncertain) await deps.store.budget.release(data.batchId, data.rowKey);
  const breakerOpenMs = countsTowardBreaker(error)
    ? await deps.health.recordFailure(data.provider)
    : undefined;
  const attempts = {
    attemptsMade: job.attemptsMade,
    attemptsStarted: job.attemptsStarted,
    attempts: job.opts.attempts ?? 1,
  };
  const decision = decideOnError(error, attempts, {
    accepted,
    ...(breakerOpenMs === undefined ? {} : { breakerOpenMs }),
  });
  return carryOut(run, error, decision, accepted || uncertain);
}

async function carryOut(
  run: JobRun,
  error: unknown,
  decision: ErrorDecision,
  billed: boolean,
): Promise<never> {
  const { job, data, deps, log, token } = run;
  const queue = deps.queueFor(data.provider);
  switch (decision.action) {
    case 'pause-account': {
      // The account, not the row, is at fault: pause the provider's queue for every worker and keep the row.
      log.error({ reason: decision.reason }, 'pausing the provider queue');
      await deps.health.setPauseReason(data.provider, decision.reason);
      await queue.pause();
      if (decision.resubmit) {
        // The accepted request itself failed for want of credit: after `resume` it must be submitted anew.
        const fresh = withoutSubmissionMarker(job.data);
        delete fresh.providerRequest;
        await job.updateData(fresh);
      }
      await job.moveToDelayed(Date.now() + 1000, token);
      throw new DelayedError(decision.reason);
    }
    case 'breaker-open':
      log.warn(
        { openMs: decision.pauseMs, reason: (error as Error).message },
        'circuit breaker open: pausing the provider queue, no attempt used',
      );
      await queue.rateLimit(decision.pauseMs);
      throw Worker.RateLimitError();
    case 'rate-limit':
      deps.metrics.rateLimited.inc({ provider: data.provider });
      log.warn({ delayMs: decision.delayMs }, 'provider rate limited us; pausing its queue');
      await deps.health.noteRetryAfter(data.provider, decision.delayMs);
      await queue.rateLimit(decision.delayMs);
      throw Worker.RateLimitError();
    case 'retry':
      deps.metrics.retries.inc({
        provider: data.provider,
        code: error instanceof ProviderError ? error.code : 'internal_error',
      });
      log.warn({ err: error, attempt: job.attemptsMade + 1 }, 'attempt failed; will retry');
      throw error;
    case 'fail':
      return failRow(run, error, decision, billed);
  }
}

/** Record the row failed with its one results line; a request that may have been billed counts as spent. */
async function failRow(
  run: JobRun,
  error: unknown,
  decision: { code: string; message: string },
  billed: boolean,
): Promise<never> {
  const { data, deps, log } = run;
  const savedRequestId = run.job.data.providerRequest?.requestIds.join(',') ?? null;
  const requestId = (error instanceof ProviderError ? error.requestId : undefined) ?? savedRequestId;
  const line = failedLine(run.base, { code: decision.code, message: decision.message, requestId });
  await recordRowOutcome(deps.store, data, line, run.outputRoot, billed ? run.quote.usd : 0);
  if (run.job.attemptsStarted > 1) await removeStaleStagingOfRow(run);
  deps.metrics.rows.inc({ provider: data.provider, status: 'failed' });
  if (billed)
    deps.metrics.spentUsd.inc({ provider: data.provider, tier: run.base.resolution_tier }, run.quote.usd);
  log.warn({ code: decision.code, reason: decision.message }, 'row failed');
  throw new UnrecoverableError(decision.message);
}

/**
 * A failed row that an earlier attempt started (a killed worker) may have left half-written `*.part` files of its
 * images: older than the lock, they are no one's (issue 18.7). Completed rows remove them as they store each image.
 */
async function removeStaleStagingOfRow(run: JobRun): Promise<void> {
  const store = outputStoreFor(run.outputRoot);
  if (store.removeStaleStaging === undefined) return;
  const { data } = run;
  const paths = new Set([outputImagePath(data.rowKey, 0, 1, data.outputFormat)]);
  for (let index = 0; index < data.numImages; index += 1)
    paths.add(outputImagePath(data.rowKey, index, data.numImages, data.outputFormat));
  for (const relativePath of paths)
    await store.removeStaleStaging(data.batchId, relativePath, run.deps.lockDurationMs);
}
