/**
 * The verbs that make and run batches: `run` (the main job), `enqueue` (producer only), `estimate` (no Redis) and
 * `budget`. Each takes parsed options, returns the exit code (0 success, 1 some rows failed or were rejected, 2 usage
 * or configuration error) and closes what it opened. The worker pool and the simulator load only when used.
 */
import { createInterface } from 'node:readline/promises';
import type { BatchStore } from '../batch/batch-store.js';
import { runBatch } from '../batch/batch-runner.js';
import { loadCatalogue, type PriceCatalogue } from '../cost/price-catalogue.js';
import { formatUsd } from '../cost/usd.js';
import { checkBatchId, defaultBatchId } from '../producer/batch-id.js';
import { enqueueManifests, type EnqueueReport } from '../producer/enqueue.js';
import { closeHttpAgents } from '../providers/http.js';
import type { ImageProvider } from '../providers/provider.js';
import { DEFAULT_PROVIDER } from '../providers/registry.js';
import { manifestRefill, windowOf } from './refill-hook.js';
import { createProvider, hostsOf, type Config } from '../providers/configuration.js';
import { PROVIDER_NAMES, type ProviderName } from '../shared/config.js';
import type { EmbeddedRedis } from '../shared/embedded-redis.js';
import type { Delivery, RoutePolicy } from '../shared/job-definitions.js';
import { warnAboutRedisSetup, type RedisConnection } from '../shared/redis.js';
import { fileLocation, normalizeOutputRoot } from '../storage/output-store.js';
import {
  checkManifests,
  exitCodeFor,
  print,
  redisForRun,
  withRedis,
  withRequestsPerMinute,
  type CommandContext,
} from './context.js';
import { formatBytes, startProgress } from './progress.js';
import { decideOnCanary } from './canary-commands.js';
import { useSimulatorWithoutKeys } from './simulator-fallback.js';
import { announceToTarget, notifyTarget } from './notify.js';
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
  /** `--notify`: where the batch's events go (./notify.ts); default IMAGE_BATCH_NOTIFY_URL. */
  notify?: string;
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

/** Where rows go: Redis and the batch records (absent in a dry run). */
interface EnqueueTarget {
  redis: RedisConnection;
  store: BatchStore;
}

/** Enqueue (or, without a target, validate and price) the manifests, with a progress bar while reading. */
export async function enqueueWithProgress(
  context: CommandContext,
  config: Config,
  options: EnqueueCommandOptions & { batchId: string; dryRun: boolean },
  target: EnqueueTarget | undefined,
  catalogue: PriceCatalogue,
): Promise<EnqueueReport> {
  let progress: ReturnType<typeof startProgress> | undefined;
  const report = await enqueueManifests(
    {
      manifests: options.manifests,
      batchId: options.batchId,
      ...(options.provider === undefined ? {} : { provider: options.provider }),
      ...(options.providers === undefined ? {} : { providers: options.providers }),
      ...(options.route === undefined ? {} : { route: options.route }),
      ...(options.maxPremium === undefined ? {} : { maxPremiumPercent: options.maxPremium }),
      autoHosts:
        options.autoHosts ?? PROVIDER_NAMES.filter((name) => config.providers[name].apiKey !== undefined),
      accounts: (name) => hostsOf(config, name),
      defaultProvider: DEFAULT_PROVIDER,
      outputRoot: options.out,
      dryRun: options.dryRun,
      budgetCapped: options.budgetUsd !== undefined,
      ...(options.canary === undefined ? {} : { canary: options.canary }),
      ...(options.delivery === undefined ? {} : { delivery: options.delivery }),
      attempts: config.attempts,
      backoffDelayMs: config.backoffDelayMs,
      keepCompletedJobs: config.keepCompletedJobs,
      ...windowOf(config, options),
      onProgress: ({ bytesRead, totalBytes }) => {
        progress ??= startProgress(context.output, 'Reading', totalBytes, '', formatBytes);
        progress.update(bytesRead);
      },
      log: context.log,
    },
    {
      ...(target ?? {}),
      queuePrefix: config.queuePrefix,
      providerFor: (name) => createProvider(name, config),
      catalogue,
    },
  );
  progress?.stop();
  return report;
}

/**
 * With `--confirm-over USD`: estimate the manifests first (nothing enqueued), print it, and ask when it is over the
 * amount. @returns false when the user declined, or when there is no terminal to ask on.
 */
async function confirmEstimate(
  context: CommandContext,
  options: EnqueueCommandOptions & { batchId: string },
  catalogue: PriceCatalogue,
): Promise<boolean> {
  if (options.confirmOver === undefined) return true;
  const report = await enqueueWithProgress(
    context,
    context.config,
    { ...options, dryRun: true },
    undefined,
    catalogue,
  );
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

/** Create or update the batch's records: output directory, budget cap, pricing override. @returns the output root. */
export async function prepareBatch(
  store: BatchStore,
  batchId: string,
  options: Pick<EnqueueCommandOptions, 'out' | 'manifests' | 'budgetUsd' | 'fallback'>,
  overrideJson: string | undefined,
): Promise<string> {
  const outputRoot = await store.ensureBatch(batchId, normalizeOutputRoot(options.out), options.manifests);
  if (options.fallback !== undefined) await store.openaiBatches.setFallback(batchId, options.fallback);
  if (options.budgetUsd !== undefined) await store.budget.setBudget(batchId, options.budgetUsd);
  if (overrideJson !== undefined) await store.setPricing(batchId, overrideJson);
  return outputRoot;
}

async function batchIdOf(options: EnqueueCommandOptions): Promise<string> {
  await checkManifests(options.manifests);
  return options.batch === undefined ? defaultBatchId(options.manifests) : checkBatchId(options.batch);
}

/** `image-batch enqueue`: producer only. */
export async function enqueueCommand(
  context: CommandContext,
  options: EnqueueCommandOptions & { dryRun: boolean },
): Promise<number> {
  const batchId = await batchIdOf(options);
  const { catalogue, overrideJson } = await loadCatalogue(options.pricing ?? context.config.pricingFile);
  if (options.dryRun) {
    const report = await enqueueWithProgress(
      context,
      context.config,
      { ...options, batchId },
      undefined,
      catalogue,
    );
    print(context, 'Dry run: nothing was enqueued or written.', ...describeEnqueue(report, true));
    return report.rejected > options.maxRejected ? 1 : 0;
  }
  const notify = notifyTarget(context, options.notify);
  if (!(await confirmEstimate(context, { ...options, batchId }, catalogue))) return 1;
  return withRedis(context, async (redis, store) => {
    await warnAboutRedisSetup(redis, context.config.queuePrefix, context.log);
    const outputRoot = await prepareBatch(store, batchId, options, overrideJson);
    const target = { redis, store };
    const job = { ...options, out: outputRoot, batchId, dryRun: false };
    const report = await enqueueWithProgress(context, context.config, job, target, catalogue);
    print(context, ...describeEnqueue(report, false));
    const announced = await announceToTarget(context, target, batchId, notify, report.estimate.costUsd);
    await announced();
    return report.rejected > options.maxRejected ? 1 : 0;
  });
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
  await checkManifests(options.manifests);
  const { catalogue } = await loadCatalogue(options.pricing ?? context.config.pricingFile);
  // `auto` means every host here, as `run` would use the simulator for those without a key.
  const job = {
    ...options,
    autoHosts: PROVIDER_NAMES,
    out: 'output',
    batchId: 'estimate',
    dryRun: true,
    maxRejected: 0,
  };
  print(
    context,
    ...describeEstimate(
      await enqueueWithProgress(context, context.config, job, undefined, catalogue),
      catalogue,
    ),
  );
  return 0;
}

/** `image-batch run`: enqueue, process in this process until the batch is finished, summarise. */
export async function runCommand(context: CommandContext, options: RunCommandOptions): Promise<number> {
  const batchId = await batchIdOf(options);
  const notify = notifyTarget(context, options.notify);
  const providersUsed: ProviderName[] =
    options.provider === undefined ? [...PROVIDER_NAMES] : [options.provider];
  const prepared =
    options.providerOverrides === undefined
      ? await useSimulatorWithoutKeys(context, providersUsed)
      : { config: context.config, simulator: undefined };
  let config = withRequestsPerMinute(prepared.config, options.requestsPerMinute);
  let embedded: EmbeddedRedis | undefined;
  try {
    ({ config, embedded } = await redisForRun(context, config, options.out));
    const { catalogue, overrideJson } = await loadCatalogue(options.pricing ?? config.pricingFile);
    if (!(await confirmEstimate(context, { ...options, batchId }, catalogue))) return 1;
    return await withRedis({ ...context, config }, async (redis, store) => {
      await warnAboutRedisSetup(redis, context.config.queuePrefix, context.log);
      const outputRoot = await prepareBatch(store, batchId, options, overrideJson);
      if (outputRoot !== normalizeOutputRoot(options.out))
        print(context, `Batch ${batchId} already writes to ${outputRoot}; continuing there.`);
      const job = { ...options, out: outputRoot, batchId, dryRun: false };
      const report = await enqueueWithProgress(context, config, job, { redis, store }, catalogue);
      print(context, ...describeEnqueue(report, false));
      const announced = await announceToTarget(
        context,
        { redis, store },
        batchId,
        notify,
        report.estimate.costUsd,
      );
      const providers = report.providers.length > 0 ? report.providers : providersUsed;
      const refill = manifestRefill(config, { redis, store, catalogue, log: context.log });
      const exitCode = await processBatch(context, {
        config,
        redis,
        store,
        batchId,
        outputRoot,
        providers,
        options,
        report,
        refill,
      });
      await announced();
      return exitCode;
    });
  } finally {
    await prepared.simulator?.stop();
    await closeHttpAgents();
    await embedded?.stop();
  }
}

/** Run the enqueued batch with this process's workers and say how it ended. @returns the exit code. */
async function processBatch(
  context: CommandContext,
  run: {
    config: Config;
    redis: RedisConnection;
    store: BatchStore;
    batchId: string;
    outputRoot: string;
    providers: ProviderName[];
    options: RunCommandOptions;
    report: EnqueueReport;
    /** Adds rows from the batch's manifest cursor as rows finish (./refill-hook.ts). */
    refill: () => Promise<unknown>;
  },
): Promise<number> {
  const { config, redis, store, batchId, options } = run;
  let progress: ReturnType<typeof startProgress> | undefined;
  const outcome = await runBatch({
    redis,
    store,
    config,
    batchId,
    outputRoot: run.outputRoot,
    stopRequested: context.stopRequested,
    pollIntervalMs: options.pollIntervalMs ?? 500,
    log: context.log,
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
    startWorkers: async () =>
      (await import('../worker/worker-pool.js')).startWorkerPool({
        config,
        redis,
        store,
        providers: run.providers,
        ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
        log: context.log,
        ...(options.providerOverrides === undefined ? {} : { providerOverrides: options.providerOverrides }),
        refill: run.refill,
      }),
  });
  const { status } = outcome;
  print(context, ...endOfRunLines(outcome, batchId));
  print(
    context,
    ...describeStatus(status),
    `Summary: ${fileLocation(run.report.batchDirectory, 'summary.json')}`,
  );
  return outcome.summary.counts.pending > 0 ? 1 : exitCodeFor(status, options.maxRejected);
}
