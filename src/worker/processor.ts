/**
 * The job processor: one manifest row per job. Submit the paid request once, follow an async request by the id saved
 * in the job (so a crashed or retried job resumes instead of paying again), store every output image atomically,
 * record the row's outcome once, append its one results line, and write summary.json when the batch is finished.
 */
import { DelayedError, UnrecoverableError, Worker, type Job, type Queue } from 'bullmq';
import type { CallContext, ImageProvider, PendingRequest, ProviderResponse } from '../providers/provider.js';
import type { BatchStore } from '../batch/batch-store.js';
import type { Metrics } from '../shared/metrics.js';
import type { ProviderHealth } from '../batch/provider-health.js';
import type { ProviderName } from '../shared/config.js';
import {
  AuthenticationError,
  InsufficientCreditError,
  ProviderError,
  RateLimitedError,
  TimeoutError,
} from '../shared/errors.js';
import type { ImageJobData, ResultLine, StoredOutput } from '../shared/job-definitions.js';
import type { Logger } from '../shared/logger.js';
import { truncateForLog } from '../shared/logger.js';
import { outputImagePath } from '../storage/output-layout.js';
import { outputStoreFor } from '../storage/stores.js';
import { PriceCatalogue } from '../cost/price-catalogue.js';
import { type PricingOverride } from '../cost/pricing-file.js';
import { roundUsd } from '../cost/usd.js';
import { parseResolution } from '../shared/resolution.js';
import { resolutionTier } from '../cost/resolution-tier.js';
import { decideOnError } from './error-policy.js';
import { storeOutputImage } from '../storage/store-image.js';
import { flushPendingResultLines, recordRowOutcome } from '../batch/row-outcome.js';

/** What a processor needs. */
export interface ProcessorDependencies {
  providers: ReadonlyMap<ProviderName, ImageProvider>;
  store: BatchStore;
  /** The provider's queue, for pausing it on a 429 (`queue.rateLimit`). */
  queueFor(provider: ProviderName): Queue;
  /** Largest output image file accepted, bytes. */
  maxOutputBytes: number;
  /** BullMQ lock duration, ms: results lines recorded longer ago than this belong to a stopped worker. */
  lockDurationMs: number;
  /** How often a row held back by its batch's budget checks the cap again, ms. */
  budgetRecheckMs: number;
  /** Timing settings of a provider: per-call deadline, poll interval and longest wait for an async request, ms. */
  timingFor(provider: ProviderName): { timeoutMs: number; pollIntervalMs: number; maxWaitMs: number };
  /** Aborted when the worker shuts down: jobs waiting on an async request are then released, not finished. */
  shutdownSignal: AbortSignal;
  /** Circuit breaker and account pauses, shared by all workers. */
  health: ProviderHealth;
  /** Prometheus metrics of this process. */
  metrics: Metrics;
  log: Logger;
}

/** What a finished job returns (kept in BullMQ as the job's return value). */
export interface ImageJobResult {
  status: 'completed' | 'failed' | 'already-finished';
  outputs: StoredOutput[];
  costUsd: number;
}

/** The row's outcome is unknown: a submission may have reached the provider, but its answer was never recorded. */
class UncertainOutcome extends Error {
  override readonly name = 'UncertainOutcome';
}

/** Build the BullMQ processor function. */
export function createProcessor(dependencies: ProcessorDependencies) {
  const outputDirectories = new Map<string, string>();
  const catalogues = new Map<string, PriceCatalogue>();

  /** The price catalogue of a batch: the built-in one with the batch's pricing override, if it has one. */
  async function catalogueOf(batchId: string): Promise<PriceCatalogue> {
    let catalogue = catalogues.get(batchId);
    if (catalogue === undefined) {
      const override = await dependencies.store.pricing(batchId);
      catalogue = new PriceCatalogue(
        override === undefined ? undefined : (JSON.parse(override) as PricingOverride),
      );
      catalogues.set(batchId, catalogue);
    }
    return catalogue;
  }

  async function outputDirectoryOf(batchId: string): Promise<string> {
    let directory = outputDirectories.get(batchId);
    if (directory === undefined) {
      directory = await dependencies.store.outputDirectory(batchId);
      if (directory === undefined) throw new UnrecoverableError(`batch ${batchId} has no record in Redis`);
      outputDirectories.set(batchId, directory);
    }
    return directory;
  }

  /** Poll `pending` until it completes, the wait runs out (retryable), or the worker shuts down (job released). */
  async function waitFor(
    provider: ImageProvider,
    pending: PendingRequest,
    job: Job<ImageJobData>,
    token: string | undefined,
    context: CallContext,
  ): Promise<ProviderResponse> {
    const timing = dependencies.timingFor(provider.name);
    const deadline = Date.parse(pending.submittedAt) + timing.maxWaitMs;
    for (;;) {
      const polled = await provider.poll(pending, {
        ...context,
        signal: AbortSignal.timeout(timing.timeoutMs),
      });
      if (polled.kind === 'completed') return polled.response;
      if (Date.now() > deadline) {
        throw new TimeoutError(
          `${provider.name} request ${pending.requestIds.join(',')} still unfinished after ${timing.maxWaitMs} ms; will resume it`,
          { provider: provider.name, requestMaybeSent: true },
        );
      }
      if (dependencies.shutdownSignal.aborted) {
        await job.moveToDelayed(Date.now() + timing.pollIntervalMs, token);
        throw new DelayedError('worker shutting down; the request is followed up by the next worker');
      }
      await sleep(timing.pollIntervalMs, dependencies.shutdownSignal);
    }
  }

  return async function processImageJob(
    job: Job<ImageJobData>,
    token?: string,
    signal?: AbortSignal,
  ): Promise<ImageJobResult> {
    const data = job.data;
    const log = dependencies.log.child({
      jobId: job.id,
      batch: data.batchId,
      row: data.rowKey,
      provider: data.provider,
    });
    if ((await dependencies.store.outcome(data.batchId, data.rowKey)) !== undefined) {
      // A worker that died after recording the outcome may not have written the results line: write it now, once.
      const written = await flushPendingResultLines(
        dependencies.store,
        data.batchId,
        await outputDirectoryOf(data.batchId),
        dependencies.lockDurationMs,
      );
      if (written > 0) log.warn({ written }, 'wrote results lines a stopped worker had recorded');
      log.info('row already finished; nothing to do');
      return { status: 'already-finished', outputs: [], costUsd: 0 };
    }
    const provider = dependencies.providers.get(data.provider);
    if (provider === undefined) throw new Error(`this worker has no provider "${data.provider}"`);
    const outputRoot = await outputDirectoryOf(data.batchId);
    const resolution = parseResolution(data.resolution) ?? { width: 1024, height: 1024 };
    const catalogue = await catalogueOf(data.batchId);
    const quote = catalogue.quote(data.provider, {
      operation: data.operation,
      resolution,
      quality: data.quality ?? provider.defaultQuality,
      numImages: data.numImages,
      inputImageCount: data.inputImages.length,
    });
    const timing = dependencies.timingFor(data.provider);
    const callSignal =
      signal === undefined
        ? AbortSignal.timeout(timing.timeoutMs)
        : AbortSignal.any([signal, AbortSignal.timeout(timing.timeoutMs)]);
    const context: CallContext = { signal: callSignal, log };
    const baseLine = {
      row_key: data.rowKey,
      prompt: data.prompt,
      manifest: data.source.manifest,
      line: data.source.line,
      operation: data.operation,
      provider: data.provider,
      model: data.providerRequest?.model ?? provider.modelFor(data),
      attempts: job.attemptsMade + 1,
      resolution: data.resolution,
      resolution_tier: resolutionTier(resolution),
      usage: null,
      size_requested: provider.sizeParameters?.(data) ?? null,
    };

    let requestId: string | null = data.providerRequest?.requestIds.join(',') ?? null;
    const { metrics } = dependencies;
    const startedAt = Date.now();
    try {
      let response: ProviderResponse;
      if (data.providerRequest !== undefined) {
        log.info({ requestId }, 'resuming the saved provider request; not submitting again');
        response = await waitFor(provider, data.providerRequest, job, token, context);
      } else {
        if (data.submissionStartedAt !== undefined) {
          throw new UncertainOutcome(
            `an earlier attempt sent this row to ${data.provider} at ${data.submissionStartedAt} and stopped before ` +
              'the answer was recorded; it may have been billed, so it is not sent again',
          );
        }
        // A job taken just before another worker's 429 paused the queue must not send while the Retry-After runs.
        const [waitMs, paused] = await Promise.all([
          dependencies.health.retryAfterRemainingMs(data.provider),
          dependencies.store.isPaused(data.batchId),
        ]);
        if (waitMs > 0) {
          await dependencies.queueFor(data.provider).rateLimit(waitMs);
          throw Worker.RateLimitError();
        }
        if (paused) {
          await job.moveToDelayed(Date.now() + dependencies.budgetRecheckMs, token);
          throw new DelayedError('batch paused');
        }
        // Reserve the row's estimate against the batch's budget before paying; held back when it would cross the cap.
        if (!(await dependencies.store.budget.reserve(data.batchId, data.rowKey, quote.usd))) {
          log.info({ estimateUsd: quote.usd }, 'budget cap reached; holding the row back');
          await job.moveToDelayed(Date.now() + dependencies.budgetRecheckMs, token);
          throw new DelayedError('budget reached');
        }
        await job.updateData({ ...data, submissionStartedAt: new Date().toISOString() });
        log.debug({ prompt: truncateForLog(data.prompt), operation: data.operation }, 'submitting');
        let submitted;
        try {
          submitted = await provider.submit(data, context);
        } catch (error) {
          // Sent, then no answer (a timeout, a dropped connection): the provider may have made — and billed — it,
          // synchronous or not. No provider offers an idempotency key, so it is never sent again on a guess.
          if (error instanceof ProviderError && error.withoutAnswer) {
            throw new UncertainOutcome(
              `${error.message}; the submission may have been accepted and billed, so it is not sent again`,
            );
          }
          await job.updateData({ ...withoutSubmissionMarker(data) });
          throw error;
        }
        if (submitted.kind === 'pending') {
          requestId = submitted.request.requestIds.join(',');
          await job.updateData({ ...withoutSubmissionMarker(data), providerRequest: submitted.request });
          log.info({ requestId }, 'provider accepted the request');
          response = await waitFor(provider, submitted.request, job, token, context);
        } else {
          response = submitted.response;
        }
      }
      requestId = response.requestId ?? requestId;
      metrics.providerLatency.observe(
        { provider: data.provider, operation: data.operation, outcome: 'completed' },
        (Date.now() - startedAt) / 1000,
      );
      await dependencies.health.recordSuccess(data.provider);
      if (response.throttleMs !== undefined && response.throttleMs > 0) {
        log.info(
          { delayMs: response.throttleMs },
          'provider reports its quota nearly used; slowing down before a 429',
        );
        await dependencies.queueFor(data.provider).rateLimit(response.throttleMs);
      }
      const outputs: StoredOutput[] = [];
      for (const [index, image] of response.images.entries()) {
        const relativePath = outputImagePath(data.rowKey, index, response.images.length, data.outputFormat);
        outputs.push(
          await storeOutputImage(
            image,
            outputStoreFor(outputRoot),
            data.batchId,
            relativePath,
            data.outputFormat,
            {
              provider: data.provider,
              timeoutMs: timing.timeoutMs,
              maxBytes: dependencies.maxOutputBytes,
              signal: AbortSignal.timeout(timing.timeoutMs),
            },
          ),
        );
      }
      const inputsUsd = quote.usd - quote.usdPerImage * data.numImages;
      const costUsd = roundUsd(quote.usdPerImage * outputs.length + inputsUsd);
      const actualUsd = catalogue.actualUsd(data.provider, response.usage);
      const line: ResultLine = {
        ...baseLine,
        model: response.model,
        status: 'completed',
        outputs,
        request_id: requestId,
        cost_usd: costUsd,
        cost_usd_actual: actualUsd ?? null,
        usage: response.usage === undefined ? null : { ...response.usage },
        error: null,
        finished_at: new Date().toISOString(),
      };
      await recordRowOutcome(dependencies.store, data, line, outputRoot);
      metrics.rows.inc({ provider: data.provider, status: 'completed' });
      metrics.spentUsd.inc({ provider: data.provider, tier: line.resolution_tier }, actualUsd ?? costUsd);
      log.info({ outputs: outputs.length, costUsd, requestId }, 'row completed');
      return { status: 'completed', outputs, costUsd };
    } catch (error) {
      if (error instanceof DelayedError) throw error;
      // Nothing accepted and the row goes back or fails unbilled: give its reservation back (an uncertain outcome
      // keeps it; recording the outcome settles it as spent).
      const accepted = job.data.providerRequest !== undefined;
      if (!accepted && !(error instanceof UncertainOutcome))
        await dependencies.store.budget.release(data.batchId, data.rowKey);
      if (error instanceof AuthenticationError || error instanceof InsufficientCreditError) {
        // The account, not the row, is at fault: pause the provider's queue for every worker and keep the row.
        const reason = `${error.code === 'insufficient_credit' ? 'out of credit' : 'authentication failed'}: ${error.message}`;
        log.error({ reason }, 'pausing the provider queue');
        await dependencies.health.setPauseReason(data.provider, reason);
        await dependencies.queueFor(data.provider).pause();
        if (error instanceof InsufficientCreditError && job.data.providerRequest !== undefined) {
          // The accepted request itself failed for want of credit: after `resume` it must be submitted anew.
          const fresh = withoutSubmissionMarker(job.data);
          delete fresh.providerRequest;
          await job.updateData(fresh);
        }
        await job.moveToDelayed(Date.now() + 1000, token);
        throw new DelayedError(reason);
      }
      if (error instanceof ProviderError && error.retryable && !(error instanceof RateLimitedError)) {
        const openMs = await dependencies.health.recordFailure(data.provider);
        if (openMs !== undefined) {
          log.warn(
            { openMs, reason: error.message },
            'circuit breaker open: pausing the provider queue, no attempt used',
          );
          await dependencies.queueFor(data.provider).rateLimit(openMs);
          throw Worker.RateLimitError();
        }
      }
      const decision =
        error instanceof UncertainOutcome
          ? { action: 'fail' as const, code: 'uncertain_outcome', message: error.message }
          : decideOnError(error, {
              attemptsMade: job.attemptsMade,
              attemptsStarted: job.attemptsStarted,
              attempts: job.opts.attempts ?? 1,
            });
      const errorRequestId = error instanceof ProviderError ? error.requestId : undefined;
      if (decision.action === 'rate-limit') {
        metrics.rateLimited.inc({ provider: data.provider });
        log.warn({ delayMs: decision.delayMs }, 'provider rate limited us; pausing its queue');
        await dependencies.health.noteRetryAfter(data.provider, decision.delayMs);
        await dependencies.queueFor(data.provider).rateLimit(decision.delayMs);
        throw Worker.RateLimitError();
      }
      if (decision.action === 'retry') {
        metrics.retries.inc({
          provider: data.provider,
          code: error instanceof ProviderError ? error.code : 'internal_error',
        });
        log.warn({ err: error, attempt: job.attemptsMade + 1 }, 'attempt failed; will retry');
        throw error;
      }
      await recordRowOutcome(
        dependencies.store,
        data,
        {
          ...baseLine,
          status: 'failed',
          outputs: [],
          request_id: errorRequestId ?? requestId,
          cost_usd: 0,
          cost_usd_actual: null,
          error: { code: decision.code, message: decision.message },
          finished_at: new Date().toISOString(),
        },
        outputRoot,
        // A request of uncertain outcome (or accepted, then failed) may be billed: it counts as spent.
        error instanceof UncertainOutcome || accepted ? quote.usd : 0,
      );
      metrics.rows.inc({ provider: data.provider, status: 'failed' });
      if (error instanceof UncertainOutcome || accepted)
        metrics.spentUsd.inc({ provider: data.provider, tier: baseLine.resolution_tier }, quote.usd);
      log.warn({ code: decision.code, reason: decision.message }, 'row failed');
      throw new UnrecoverableError(decision.message);
    }
  };
}

function withoutSubmissionMarker(data: ImageJobData): ImageJobData {
  const copy = { ...data };
  delete copy.submissionStartedAt;
  return copy;
}

/** Sleep `ms`, ending early when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
