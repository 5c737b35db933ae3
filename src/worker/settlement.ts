/**
 * The last steps of a job: store a completed row's images and record its outcome, or carry out the error policy's
 * decision for a failed attempt (src/worker/error-policy.ts) — pause the provider's queue, retry, or fail the row with
 * its one results line. A row's budget reservation is given back when nothing can have been billed, and counted as
 * spent when it may have been.
 */
import { reuseKeyOfRun } from './reuse.js';
import { inSpan } from '../shared/tracing.js';
import { announcePause } from './event-watch.js';
import { useLateResult } from '../batch/late-result.js';
import { storageProblem } from '../batch/storage-pause.js';
import { holdForStorage, withoutHeldResponse } from './storage-hold.js';
import { DelayedError, UnrecoverableError, Worker, type Job, type Queue } from 'bullmq';
import { completedLine, failedLine } from '../batch/results-line.js';
import { recordRowOutcome } from '../batch/row-outcome.js';
import { roundUsd } from '../cost/usd.js';
import { inputBillingShownBy } from '../batch/billing-facts.js';
import type { ProviderImage, ProviderResponse } from '../providers/provider.js';
import { NotStartedError, ProviderError } from '../shared/errors.js';
import type { ImageJobData, StoredOutput } from '../shared/job-definitions.js';
import type { HostName } from '../shared/hosts.js';
import { parseResolution } from '../shared/resolution.js';
import { tierSizeKey } from '../providers/tier-sizes.js';
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
import { withoutSubmissionMarker } from './job-run.js';
import { sendBackToRoute, type RouteBack } from './router.js';

/**
 * Store image `index` of the row's `count` (`images/<row key>[-<n>].<ext>`), atomically, and describe it.
 * @throws what the download or the check of the image throws (src/storage/store-image.ts).
 */
export async function storeRowImage(
  run: JobRun,
  image: ProviderImage,
  index: number,
  count: number,
): Promise<StoredOutput> {
  const { data, deps, timing } = run;
  const relativePath = outputImagePath(data.rowKey, index, count, data.outputFormat);
  const attributes = { 'image_batch.image': index, 'image_batch.images': count };
  return inSpan('image_batch.store', { attributes, parent: run.context.trace }, (_span, trace) =>
    storeOutputImage(image, outputStoreFor(run.outputRoot), data.batchId, relativePath, data.outputFormat, {
      provider: data.provider,
      timeoutMs: timing.timeoutMs,
      maxBytes: deps.maxOutputBytes,
      signal: AbortSignal.timeout(timing.timeoutMs),
      trace,
      ...(run.provider.convertsOutputFormat === true ? { convertFormat: true } : {}),
      c2paTrustAnchorsPath: deps.c2paTrustAnchorsPath,
      // A job started before and cut off (a killed worker) may have left `*.part` files: older than its lock, they are
      // no one's.
      ...(run.job.attemptsStarted > 1 ? { removeStagingOlderThanMs: deps.lockDurationMs } : {}),
    }),
  );
}

/**
 * Store the images of `response` (after `stored`, the images a row made in parts already has), then record the row
 * completed with its one results line.
 */
export async function completeRow(
  run: JobRun,
  response: ProviderResponse,
  stored: readonly StoredOutput[] = [],
): Promise<ImageJobResult> {
  const { data, deps, log } = run;
  const requestId = response.requestId ?? run.job.data.providerRequest?.requestIds.join(',') ?? null;
  // An async request's latency runs from its submission (the collection job starts only once it has finished).
  const submitted =
    data.providerRequest === undefined ? run.startedAt : Date.parse(data.providerRequest.submittedAt);
  const latencyMs = Date.now() - submitted;
  deps.metrics.providerLatency.observe(
    { provider: run.host, operation: data.operation, outcome: 'completed' },
    latencyMs / 1000,
  );
  await deps.health.recordSuccess(run.host);
  if (response.announcedLimits !== undefined)
    await deps.capacity.learn(run.host, response.announcedLimits).catch(() => undefined);
  if (response.throttleMs !== undefined && response.throttleMs > 0) {
    log.info(
      { delayMs: response.throttleMs },
      'provider reports its quota nearly used; slowing down before a 429',
    );
    await deps.queueFor(run.host).rateLimit(response.throttleMs);
  }
  const outputs: StoredOutput[] = [...stored];
  const count = stored.length + response.images.length;
  try {
    for (const image of response.images) outputs.push(await storeRowImage(run, image, outputs.length, count));
  } catch (error) {
    const problem = storageProblem(error);
    if (problem !== undefined) return holdForStorage(run, response, stored, problem);
    throw error;
  }
  await learnDeliveredSize(run, outputs);
  const { quote } = run;
  const inputsUsd = quote.usd - quote.usdPerImage * data.numImages;
  const costUsd = roundUsd(quote.usdPerImage * outputs.length + inputsUsd);
  const actualUsd = run.catalogue.actualUsd(data.provider, response.usage);
  await learnInputBilling(run, response);
  const line = completedLine(run.base, {
    model: response.model,
    outputs,
    requestId,
    costUsd,
    actualUsd,
    usage: response.usage,
    reuseKey: await reuseKeyOfRun(run),
  });
  if (
    !(await recordRowOutcome(deps.store, data, line, run.outputRoot, { latencyMs, trace: run.context.trace }))
  ) {
    // Another worker recorded the row while this one was cut off from Redis (./../batch/late-result.ts).
    const used = await useLateResult(deps.store, data, line, run.outputRoot);
    log.warn(
      { used },
      used ? 'late result used: the row is completed' : 'late result not used: the row has an outcome',
    );
  }
  if (data.heldResponse !== undefined) await run.job.updateData(withoutHeldResponse(data));
  deps.metrics.rows.inc({ provider: run.host, status: 'completed' });
  deps.metrics.spentUsd.inc({ provider: run.host, tier: line.resolution_tier }, actualUsd ?? costUsd);
  log.info({ outputs: outputs.length, costUsd, requestId }, 'row completed');
  return { status: 'completed', outputs, costUsd };
}

/**
 * A request of several images whose usage the host reported shows how it bills the input side of n images (once per
 * request, or per image: src/batch/billing-facts.ts): recorded the first time, or when it differs from what was known,
 * so later estimates follow it.
 */
async function learnInputBilling(run: JobRun, response: ProviderResponse): Promise<void> {
  const { data, deps, log } = run;
  const shown = inputBillingShownBy(response.usage, {
    numImages: response.images.length,
    promptCharacters: data.prompt.length,
  });
  if (shown === undefined || shown === run.catalogue.inputBillingOf(data.provider)) return;
  const evidence = `row ${data.rowKey} of batch ${data.batchId}: ${response.images.length} images, usage ${JSON.stringify(response.usage?.input_tokens_details ?? null)}`;
  await deps.store.billing.record(data.provider, shown, evidence).catch(() => undefined);
  run.catalogue.learnInputBilling({ [data.provider]: shown });
  log.info({ inputBilling: shown, evidence }, 'the host bills the input side of several images so');
}

/** Rows looked at when a paused queue's routed rows are sent to other hosts. */
const EVACUATE_AT_MOST = 1000;

/**
 * A queue paused for its account (or held back by its open circuit breaker) holds routed rows that were waiting there:
 * each never sent here goes back to the route queue for another candidate host (its job is removed where it can be;
 * one left behind cannot send the row, as its host no longer holds it: src/batch/row-hosts.ts). Run when the queue is paused, and again by every worker pool while it is
 * (./worker-pool.ts): a job of a killed worker comes back to a paused queue's waiting list later.
 */
export async function evacuateRoutedRows(
  queue: Queue,
  back: RouteBack,
  provider: HostName,
  reason: string,
): Promise<void> {
  const waiting = await queue.getJobs(['waiting', 'prioritized', 'delayed'], 0, EVACUATE_AT_MOST - 1);
  for (const job of waiting as Array<Job<ImageJobData>>) {
    // Only rows never sent here (no failed attempt: a 5xx or a dropped answer may have been billed) move.
    if (job.data?.routing === undefined || job.data.providerRequest !== undefined || job.attemptsMade > 0)
      continue;
    if (await sendBackToRoute(back, job.data, { provider, reason: reason.slice(0, 300) }))
      await job.remove().catch(() => undefined);
  }
}

/**
 * A row sent as an aspect ratio and tier (`sizePlan`): record what the host delivered for them, so later rows are
 * planned from it (src/batch/tier-size-book.ts), and say so when it delivered fewer pixels than the row asked for.
 */
async function learnDeliveredSize(run: JobRun, outputs: StoredOutput[]): Promise<void> {
  const { data, deps, log, provider } = run;
  const plan = data.sizePlan;
  const first = outputs[0];
  if (plan === undefined || first === undefined || plan.aspectRatio === 'auto') return;
  const delivered = { width: first.width, height: first.height };
  const changed = await deps.tierSizes
    .record(data.provider, plan.aspectRatio, plan.tier, delivered)
    .catch(() => false);
  if (changed)
    provider.learnTierSizes?.({
      [tierSizeKey(plan.aspectRatio, plan.tier)]: `${first.width}x${first.height}`,
    });
  const asked = parseResolution(data.resolution);
  if (asked !== undefined && (delivered.width < asked.width || delivered.height < asked.height))
    log.warn(
      { asked: data.resolution, delivered: `${first.width}x${first.height}`, sent: plan },
      'the host delivered fewer pixels than the row asked for; later rows of this ratio go at a larger tier',
    );
}

/**
 * Carry out the error policy for an attempt that threw `error`: a row with other candidate hosts that this host
 * certainly did not bill (401/402/403, 429, nothing accepted) goes back to the route queue and its job ends `moved`;
 * otherwise it throws what tells BullMQ what to do (DelayedError, a rate-limit error, the error itself to retry, or
 * UnrecoverableError once the row's failed line is recorded).
 */
export async function settleError(run: JobRun, error: unknown): Promise<ImageJobResult> {
  if (error instanceof DelayedError) throw error;
  if (error instanceof NotStartedError) return settleNotStarted(run, error);
  const { job, data, deps } = run;
  const accepted = job.data.providerRequest !== undefined;
  const uncertain = error instanceof UncertainOutcomeError;
  // Nothing accepted and the row goes back or fails unbilled: give its reservation back (an uncertain outcome keeps
  // it; recording the outcome settles it as spent).
  if (!accepted && !uncertain) await deps.store.budget.release(data.batchId, data.rowKey);
  const breakerOpenMs = countsTowardBreaker(error) ? await deps.health.recordFailure(run.host) : undefined;
  const attempts = {
    attemptsMade: job.attemptsMade,
    attemptsStarted: job.attemptsStarted,
    attempts: job.opts.attempts ?? 1,
  };
  const decision = decideOnError(error, attempts, {
    accepted,
    ...(breakerOpenMs === undefined ? {} : { breakerOpenMs }),
  });
  if (!accepted && !uncertain && (await movedToAnotherHost(run, error, decision)))
    return { status: 'moved', outputs: [], costUsd: 0 };
  return carryOut(run, error, decision, accepted || uncertain);
}

/**
 * A routed row this host certainly did not bill — its account refused (401/402/403: the queue is paused for every
 * row as usual) or it answered 429 (the queue waits out the Retry-After) — goes back to the route queue with this host
 * among the hosts it left (./router.ts). @returns true when it did.
 */
async function movedToAnotherHost(run: JobRun, error: unknown, decision: ErrorDecision): Promise<boolean> {
  const { data, deps, log } = run;
  if (data.routing === undefined || deps.routeBack === undefined) return false;
  if (decision.action !== 'pause-account' && decision.action !== 'rate-limit') return false;
  const reason =
    decision.action === 'pause-account' ? decision.reason : `rate limited (${(error as Error).message})`;
  const moved = await sendBackToRoute(deps.routeBack, data, {
    provider: run.host,
    reason: reason.slice(0, 300),
  });
  if (!moved) return false;
  log.warn({ reason }, 'the host did not take the row; it goes to another candidate host');
  if (decision.action === 'pause-account') await pauseForAccount(run, decision.reason);
  else await holdForRetryAfter(run, decision.delayMs);
  return true;
}

/**
 * The host reports it never started the row's accepted request (./start-deadline.ts): nothing was billed, so its
 * reservation is given back and a routed row goes to another candidate host; a row with none left fails unbilled
 * (`not_started`), to be sent again by `retry-failed`.
 */
async function settleNotStarted(run: JobRun, error: NotStartedError): Promise<ImageJobResult> {
  const { data, deps, log } = run;
  await deps.store.budget.release(data.batchId, data.rowKey);
  const reason = `not started by its start deadline (${error.message})`.slice(0, 300);
  if (
    deps.routeBack !== undefined &&
    (await sendBackToRoute(deps.routeBack, data, { provider: run.host, reason }))
  ) {
    log.warn(
      { requestId: error.requestId },
      'the host never started the row; it goes to another candidate host',
    );
    return { status: 'moved', outputs: [], costUsd: 0 };
  }
  return failRow(run, error, { code: error.code, message: error.message }, false);
}

/**
 * Pause the row's provider queue for its account, for every worker, saying why; the routed rows waiting there go to
 * other hosts.
 */
async function pauseForAccount(run: JobRun, reason: string): Promise<void> {
  const { deps } = run;
  const queue = deps.queueFor(run.host);
  await deps.health.setPauseReason(run.host, reason);
  await queue.pause();
  announcePause(run, reason, undefined);
  if (deps.routeBack !== undefined) await evacuateRoutedRows(queue, deps.routeBack, run.host, reason);
}

/** Hold the row's provider queue back for every worker while the provider's Retry-After runs. */
async function holdForRetryAfter(run: JobRun, delayMs: number): Promise<void> {
  const { deps } = run;
  deps.metrics.rateLimited.inc({ provider: run.host });
  await deps.health.noteRetryAfter(run.host, delayMs);
  await deps.queueFor(run.host).rateLimit(delayMs);
}

async function carryOut(
  run: JobRun,
  error: unknown,
  decision: ErrorDecision,
  billed: boolean,
): Promise<never> {
  const { job, deps, log, token } = run;
  const queue = deps.queueFor(run.host);
  switch (decision.action) {
    case 'pause-account': {
      // The account, not the row, is at fault: pause the provider's queue for every worker and keep the row.
      log.error({ reason: decision.reason }, 'pausing the provider queue');
      await pauseForAccount(run, decision.reason);
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
      announcePause(run, 'circuit breaker open', decision.pauseMs);
      // Routed rows waiting here, never sent, go to hosts that answer.
      if (deps.routeBack !== undefined)
        await evacuateRoutedRows(
          queue,
          deps.routeBack,
          run.host,
          `host unavailable: ${(error as Error).message}`,
        );
      throw Worker.RateLimitError();
    case 'rate-limit':
      log.warn({ delayMs: decision.delayMs }, 'provider rate limited us; pausing its queue');
      await holdForRetryAfter(run, decision.delayMs);
      throw Worker.RateLimitError();
    case 'retry':
      deps.metrics.retries.inc({
        provider: run.host,
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
  // A row made in parts has paid for the parts it stored, whatever ends it (./calls-in-parts.ts).
  const storedParts = run.job.data.partialOutputs?.length ?? 0;
  const spentUsd = billed ? run.quote.usd : roundUsd(run.quote.usdPerImage * storedParts);
  await recordRowOutcome(deps.store, data, line, run.outputRoot, { spentUsd, trace: run.context.trace });
  if (run.job.attemptsStarted > 1) await removeStaleStagingOfRow(run);
  deps.metrics.rows.inc({ provider: run.host, status: 'failed' });
  if (spentUsd > 0)
    deps.metrics.spentUsd.inc({ provider: run.host, tier: run.base.resolution_tier }, spentUsd);
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
