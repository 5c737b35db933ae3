/**
 * The verbs that make and run batches: `run` (the main job), `enqueue` (producer only) and `estimate` (no Redis), as
 * clients of the library (src/library/image-batch.ts). Each takes parsed options, returns the exit code (0 success, 1 some rows failed or were rejected, 2 usage
 * or configuration error) and closes what it opened. The worker pool and the simulator load only when used.
 */
import { describeFinishPlan } from './report.js';
import { providersWithKeys } from '../providers/configuration.js';
import { createInterface } from 'node:readline/promises';
import { formatUsd } from '../cost/usd.js';
import { checkNewBatchId, defaultBatchId } from '../producer/batch-id.js';
import type { EnqueueReport } from '../producer/enqueue.js';
import { closeHttpAgents } from '../providers/http.js';
import type { ImageProvider } from '../providers/provider.js';
import { checkManifests, type BatchOptions } from '../library/batch-source.js';
import {
  checkNotifyTarget,
  ImageBatch,
  type EnqueuedBatch,
  type ReadProgress,
} from '../library/image-batch.js';
import { PROVIDER_NAMES, type ProviderName } from '../shared/config.js';
import type { EmbeddedRedis } from '../shared/embedded-redis.js';
import type { Delivery, RoutePolicy } from '../shared/job-definitions.js';
import { fileLocation, normalizeOutputRoot } from '../storage/output-store.js';
import { exitCodeFor, print, redisForRun, withRequestsPerMinute, type CommandContext } from './context.js';
import { formatBytes, startProgress } from './progress.js';
import { decideOnCanary } from './canary-commands.js';
import { useSimulatorWithoutKeys } from './simulator-fallback.js';
import { describeEnqueue, describeEstimate, describeStatus, endOfRunLines } from './report.js';

/** Options of `run` and `enqueue`. */
export interface EnqueueCommandOptions {
  manifests: string[];
  out: string;
  batch?: string;
  provider?: ProviderName;
  /** Candidate hosts of rows that name none (`--providers`): a list, or `auto`. */
  providers?: ProviderName[] | 'auto';
  /** How rows with several candidate hosts pick one (`--route`). Default cheapest. */
  route?: RoutePolicy;
  /** `--max-premium`: the most a host may cost over a row's cheapest candidate, percent. */
  maxPremium?: number;
  /** The hosts `auto` means here (default: those with a key). */
  autoHosts?: readonly ProviderName[];
  /** Rejected rows tolerated before the exit code becomes 1. Default 0. */
  maxRejected: number;
  /** Pricing override file (JSON/YAML); default IMAGE_BATCH_PRICING_FILE. */
  pricing?: string;
  /** Budget cap of the batch in USD. */
  budgetUsd?: number;
  /** Ask before enqueuing when the estimate is over this many USD (refuse without a terminal). */
  confirmOver?: number;
  /** Run this many rows first and hold the rest until approved (src/batch/canary.ts). */
  canary?: number;
  /** Delivery of rows that name none: realtime (default) or batch (OpenAI's Batch API). */
  delivery?: Delivery;
  /** Batch API rows of an expired or cancelled OpenAI batch: wait for the next file (default) or go realtime. */
  fallback?: 'wait' | 'realtime';
  /** `--window`: rows whose jobs are in Redis at once (0: all); default from the rate limits (./refill-hook.ts). */
  window?: number;
  /** `--notify`: where the batch's events go (./notify.ts); default IMAGE_BATCH_NOTIFY_URL; null: nowhere. */
  notify?: string | null;
  /** `--priority`: level 1 (first) … 9 (last); default 5, normal (src/batch/priority.ts). */
  priority?: number;
  /** `--weight`: share of each host among the batches of its priority; default 1. */
  weight?: number;
  /** `--finish-by`: a duration or an ISO time the batch must be done by (src/batch/finish-by.ts). */
  finishBy?: string;
  /** `--reuse`: copy earlier outputs of the same requests under `--out` instead of paying again. */
  reuse?: boolean;
  /** `--sidecar`: write `<image>.json` beside each image. */
  sidecar?: boolean;
}

/** Options of `run`. */
export interface RunCommandOptions extends EnqueueCommandOptions {
  concurrency?: number;
  /** Approve the canary without asking when it is within `canaryTolerance` per cent and nothing failed. */
  yes?: boolean;
  /** Default 15. */
  canaryTolerance?: number;
  /** Requests per minute for every provider, across all workers (overrides `<PROVIDER>_REQUESTS_PER_MINUTE`). */
  requestsPerMinute?: number;
  /** Adapters to use instead of those built from the configuration (tests). */
  providerOverrides?: ReadonlyMap<ProviderName, ImageProvider>;
  /** How often the batch's progress is read from Redis, ms. Default 500. */
  pollIntervalMs?: number;
}

/** The library's routing and batch options of the command's options. */
function batchOptionsOf(options: EnqueueCommandOptions): BatchOptions {
  const { manifests: _manifests, maxRejected: _maxRejected, confirmOver: _confirmOver, ...rest } = options;
  return { ...rest, ...(options.batch === undefined ? {} : { batchId: options.batch }) };
}

/** A progress bar over the bytes of the manifests being read, drawn on the first report of progress. */
function readingProgress(context: CommandContext): { onProgress: ReadProgress; stop(): void } {
  let progress: ReturnType<typeof startProgress> | undefined;
  return {
    onProgress: ({ bytesRead, totalBytes }) => {
      progress ??= startProgress(context.output, 'Reading', totalBytes, '', formatBytes);
      progress.update(bytesRead);
    },
    stop: () => progress?.stop(),
  };
}

/** Check and price the manifests without enqueuing (a dry run), with a progress bar while reading. */
async function estimateWithProgress(
  context: CommandContext,
  images: ImageBatch,
  options: EnqueueCommandOptions & { batchId?: string },
): Promise<EnqueueReport> {
  const reading = readingProgress(context);
  try {
    return await images.estimate(
      { manifests: options.manifests },
      {
        ...batchOptionsOf(options),
        ...(options.batchId === undefined ? {} : { batchId: options.batchId }),
        autoHosts: options.autoHosts ?? providersWithKeys(images.config),
        onProgress: reading.onProgress,
      },
    );
  } finally {
    reading.stop();
  }
}

/** Enqueue the manifests as a batch, with a progress bar while reading. */
export async function enqueueWithProgress(
  context: CommandContext,
  images: ImageBatch,
  options: EnqueueCommandOptions,
): Promise<EnqueuedBatch> {
  const reading = readingProgress(context);
  try {
    return await images.enqueue(
      { manifests: options.manifests },
      { ...batchOptionsOf(options), onProgress: reading.onProgress },
    );
  } finally {
    reading.stop();
  }
}

/**
 * With `--confirm-over USD`: estimate the manifests first (nothing enqueued), print it, and ask when it is over the
 * amount. @returns false when the user declined, or when there is no terminal to ask on.
 */
async function confirmEstimate(
  context: CommandContext,
  images: ImageBatch,
  options: EnqueueCommandOptions,
): Promise<boolean> {
  if (options.confirmOver === undefined) return true;
  const report = await estimateWithProgress(context, images, options);
  const { catalogue } = await images.pricing(options.pricing);
  print(context, ...describeEstimate(report, catalogue));
  if (report.estimate.costUsd <= options.confirmOver) return true;
  const estimate = formatUsd(report.estimate.costUsd);
  if (context.input.isTTY !== true) {
    print(
      context,
      `The estimate ${estimate} is over --confirm-over ${formatUsd(options.confirmOver)}; ` +
        'refusing without a terminal to ask on. Nothing was enqueued.',
    );
    return false;
  }
  const prompt = createInterface({ input: context.input, output: context.output.stdout });
  try {
    const question = `The estimate ${estimate} is over ${formatUsd(options.confirmOver)}. Enqueue anyway? [y/N] `;
    return /^y(es)?$/i.test((await prompt.question(question)).trim());
  } finally {
    prompt.close();
  }
}

/** `image-batch enqueue`: producer only. */
export async function enqueueCommand(
  context: CommandContext,
  options: EnqueueCommandOptions & { dryRun: boolean },
): Promise<number> {
  const images = new ImageBatch({ config: context.config, log: context.log });
  try {
    if (options.dryRun) {
      await checkManifests(options.manifests);
      const batchId = options.batch === undefined ? await defaultBatchId(options.manifests) : options.batch;
      const report = await estimateWithProgress(context, images, { ...options, batchId });
      print(context, 'Dry run: nothing was enqueued or written.', ...describeEnqueue(report, true));
      return report.rejected > options.maxRejected ? 1 : 0;
    }
    checkNotifyTarget(images.config, options.notify);
    if (!(await confirmEstimate(context, images, options))) return 1;
    const batch = await enqueueWithProgress(context, images, options);
    print(context, ...describeEnqueue(batch.report, false), ...describeFinishPlan(batch.finishBy));
    await batch.announced();
    return batch.report.rejected > options.maxRejected ? 1 : 0;
  } finally {
    await images.close();
  }
}

/** `image-batch estimate`: price the manifests without Redis, by provider and resolution tier. */
export async function estimateCommand(
  context: CommandContext,
  options: {
    manifests: string[];
    provider?: ProviderName;
    providers?: ProviderName[] | 'auto';
    route?: RoutePolicy;
    pricing?: string;
    delivery?: Delivery;
  },
): Promise<number> {
  const images = new ImageBatch({ config: context.config, log: context.log });
  const reading = readingProgress(context);
  const { manifests, ...routing } = options;
  // `auto` means every host here (the library's default), as `run` would use the simulator for those without a key.
  const report = await images
    .estimate({ manifests }, { ...routing, onProgress: reading.onProgress })
    .finally(() => reading.stop());
  const { catalogue } = await images.pricing(options.pricing);
  print(context, ...describeEstimate(report, catalogue));
  return 0;
}

/** `image-batch run`: enqueue, process in this process until the batch is finished, summarise. */
export async function runCommand(context: CommandContext, options: RunCommandOptions): Promise<number> {
  await checkManifests(options.manifests);
  if (options.batch !== undefined) checkNewBatchId(options.batch);
  const providersUsed: ProviderName[] =
    options.provider === undefined ? [...PROVIDER_NAMES] : [options.provider];
  const prepared =
    options.providerOverrides === undefined
      ? await useSimulatorWithoutKeys(context, providersUsed)
      : { config: context.config, simulator: undefined };
  let config = withRequestsPerMinute(prepared.config, options.requestsPerMinute);
  let embedded: EmbeddedRedis | undefined;
  let images: ImageBatch | undefined;
  try {
    checkNotifyTarget(config, options.notify);
    ({ config, embedded } = await redisForRun(context, config, options.out));
    images = new ImageBatch({ config, log: context.log });
    if (!(await confirmEstimate(context, images, options))) return 1;
    const batch = await enqueueWithProgress(context, images, options);
    if (batch.outputRoot !== normalizeOutputRoot(options.out))
      print(context, `Batch ${batch.batchId} already writes to ${batch.outputRoot}; continuing there.`);
    print(context, ...describeEnqueue(batch.report, false), ...describeFinishPlan(batch.finishBy));
    const providers = batch.report.providers.length > 0 ? batch.report.providers : providersUsed;
    const exitCode = await processBatch(context, images, { batch, providers, options });
    await batch.announced();
    return exitCode;
  } finally {
    await images?.close();
    await prepared.simulator?.stop();
    await closeHttpAgents();
    await embedded?.stop();
  }
}

/** Run the enqueued batch with this process's workers and say how it ended. @returns the exit code. */
async function processBatch(
  context: CommandContext,
  images: ImageBatch,
  run: { batch: EnqueuedBatch; providers: ProviderName[]; options: RunCommandOptions },
): Promise<number> {
  const { batch, options } = run;
  const { batchId } = batch;
  let progress: ReturnType<typeof startProgress> | undefined;
  const stop = new AbortController();
  void context.stopRequested.then(() => stop.abort());
  const { store } = await images.connection();
  const outcome = await images.run(batchId, {
    providers: run.providers,
    ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
    ...(options.providerOverrides === undefined ? {} : { providerOverrides: options.providerOverrides }),
    ...(options.pricing === undefined ? {} : { pricing: options.pricing }),
    signal: stop.signal,
    pollIntervalMs: options.pollIntervalMs ?? 500,
    onProgress: (finished, total) => {
      progress ??= startProgress(context.output, 'Processing', total, 'rows');
      progress.update(finished);
    },
    onProgressEnd: () => {
      progress?.stop();
      progress = undefined;
    },
    onCanaryFinished: decideOnCanary(context, store, {
      yes: options.yes === true,
      tolerancePercent: options.canaryTolerance ?? 15,
    }),
  });
  const { status } = outcome;
  print(context, ...endOfRunLines(outcome, batchId));
  print(
    context,
    ...describeStatus(status),
    `Summary: ${fileLocation(batch.report.batchDirectory, 'summary.json')}`,
  );
  return outcome.summary.counts.pending > 0 ? 1 : exitCodeFor(status, options.maxRejected);
}
