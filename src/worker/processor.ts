/**
 * The job processor: one manifest row per job. Call the provider, store every output image atomically, record the
 * row's outcome once in Redis, append its one results line, and write summary.json when the batch is finished.
 */
import { UnrecoverableError, Worker, type Job, type Queue } from 'bullmq';
import type { ImageProvider } from '../providers/provider.js';
import type { BatchStore } from '../shared/batch-store.js';
import type { ProviderName } from '../shared/config.js';
import type { ImageJobData, StoredOutput } from '../shared/job-definitions.js';
import type { Logger } from '../shared/logger.js';
import { truncateForLog } from '../shared/logger.js';
import { batchPaths, outputImagePath, resolveInside } from '../shared/output-layout.js';
import { estimateImageCost, roundUsd } from '../shared/pricing.js';
import { parseResolution, resolutionTier } from '../shared/resolution-tier.js';
import { decideOnError } from './error-policy.js';
import { recordRowOutcome } from './row-outcome.js';
import { storeOutputImage } from './output-storage.js';

/** What a processor needs. */
export interface ProcessorDependencies {
  providers: ReadonlyMap<ProviderName, ImageProvider>;
  store: BatchStore;
  /** The provider's queue, for pausing it on a 429 (`queue.rateLimit`). */
  queueFor(provider: ProviderName): Queue;
  /** Deadline of one provider call and of each download, ms. */
  timeoutMsFor(provider: ProviderName): number;
  log: Logger;
}

/** What a completed job returns (kept in BullMQ as the job's return value). */
export interface ImageJobResult {
  status: 'completed' | 'failed' | 'already-finished';
  outputs: StoredOutput[];
  costUsd: number;
}

/** Build the BullMQ processor function. */
export function createProcessor(dependencies: ProcessorDependencies) {
  const outputDirectories = new Map<string, string>();

  async function outputDirectoryOf(batchId: string): Promise<string> {
    let directory = outputDirectories.get(batchId);
    if (directory === undefined) {
      directory = await dependencies.store.outputDirectory(batchId);
      if (directory === undefined) throw new UnrecoverableError(`batch ${batchId} has no record in Redis`);
      outputDirectories.set(batchId, directory);
    }
    return directory;
  }

  return async function processImageJob(
    job: Job<ImageJobData>,
    _token?: string,
    signal?: AbortSignal,
  ): Promise<ImageJobResult> {
    const data = job.data;
    const log = dependencies.log.child({ jobId: job.id, batch: data.batchId, row: data.rowKey });
    if ((await dependencies.store.outcome(data.batchId, data.rowKey)) !== undefined) {
      log.info('row already finished; nothing to do');
      return { status: 'already-finished', outputs: [], costUsd: 0 };
    }
    const provider = dependencies.providers.get(data.provider);
    if (provider === undefined) throw new Error(`this worker has no provider "${data.provider}"`);
    const outputRoot = await outputDirectoryOf(data.batchId);
    const paths = batchPaths(outputRoot, data.batchId);
    const resolution = parseResolution(data.resolution) ?? { width: 1024, height: 1024 };
    const price = estimateImageCost(resolution, data.quality ?? provider.defaultQuality);
    const timeoutMs = dependencies.timeoutMsFor(data.provider);
    const callSignal =
      signal === undefined
        ? AbortSignal.timeout(timeoutMs)
        : AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]);
    const baseLine = {
      row_key: data.rowKey,
      manifest: data.source.manifest,
      line: data.source.line,
      operation: data.operation,
      provider: data.provider,
      model: provider.modelFor(data),
      attempts: job.attemptsMade + 1,
      resolution: data.resolution,
      resolution_tier: resolutionTier(resolution),
    };

    let requestId: string | null = null;
    try {
      log.debug({ prompt: truncateForLog(data.prompt), operation: data.operation }, 'calling provider');
      const response = await provider.call(data, { signal: callSignal, log });
      requestId = response.requestId ?? null;
      const outputs: StoredOutput[] = [];
      for (const [index, image] of response.images.entries()) {
        const relativePath = outputImagePath(data.rowKey, index, response.images.length, data.outputFormat);
        outputs.push(
          await storeOutputImage(
            image,
            resolveInside(paths.directory, relativePath),
            relativePath,
            data.outputFormat,
            {
              provider: data.provider,
              timeoutMs,
              signal: AbortSignal.timeout(timeoutMs),
            },
          ),
        );
      }
      const costUsd = roundUsd(price.usd * outputs.length);
      await recordRowOutcome(
        dependencies.store,
        data,
        {
          ...baseLine,
          model: response.model,
          status: 'completed',
          outputs,
          request_id: requestId,
          cost_usd: costUsd,
          error: null,
          finished_at: new Date().toISOString(),
        },
        outputRoot,
      );
      log.info({ outputs: outputs.length, costUsd, requestId }, 'row completed');
      return { status: 'completed', outputs, costUsd };
    } catch (error) {
      const decision = decideOnError(error, {
        attemptsMade: job.attemptsMade,
        attemptsStarted: job.attemptsStarted,
        attempts: job.opts.attempts ?? 1,
      });
      const errorRequestId = (error as { requestId?: string }).requestId;
      if (decision.action === 'rate-limit') {
        log.warn({ delayMs: decision.delayMs }, 'provider rate limited us; pausing its queue');
        await dependencies.queueFor(data.provider).rateLimit(decision.delayMs);
        throw Worker.RateLimitError();
      }
      if (decision.action === 'retry') {
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
          error: { code: decision.code, message: decision.message },
          finished_at: new Date().toISOString(),
        },
        outputRoot,
      );
      log.warn({ code: decision.code, reason: decision.message }, 'row failed');
      throw new UnrecoverableError(decision.message);
    }
  };
}
