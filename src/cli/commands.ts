/**
 * The CLI verbs as functions: each takes parsed options and an output, returns the process exit code
 * (0 success, 1 some rows failed or were rejected, 2 usage or configuration error), and closes what it opened.
 * The worker pool, the simulator and the dashboard load only in the verbs that use them, so `enqueue` from crontab
 * starts fast and small.
 */
import { stat } from 'node:fs/promises';
import { listSchedules, removeSchedule, startScheduler, upsertSchedule } from '../producer/schedules.js';
import path from 'node:path';
import { createInterface } from 'node:readline/promises';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { checkBatchId, defaultBatchId } from '../producer/batch-id.js';
import { enqueueManifests, type EnqueueReport } from '../producer/enqueue.js';
import { manifestFormat } from '../producer/manifest-reader.js';
import { closeHttpAgents } from '../providers/http.js';
import type { ImageProvider } from '../providers/provider.js';
import { createProvider, DEFAULT_PROVIDER } from '../providers/registry.js';
import { BatchStore, type BatchStatus } from '../shared/batch-store.js';
import { loadPricingOverride, PriceCatalogue } from '../shared/price-catalogue.js';
import { ProviderHealth } from '../shared/provider-health.js';
import { writeBatchSummary } from '../shared/batch-summary.js';
import {
  apiKeyVariable,
  baseUrlVariable,
  PROVIDER_NAMES,
  withProviderSettings,
  type Config,
  type ProviderName,
} from '../shared/config.js';
import { UsageError } from '../shared/errors.js';
import { queueNameFor } from '../shared/job-definitions.js';
import type { Logger } from '../shared/logger.js';
import {
  fileLocation,
  normalizeOutputRoot,
  outputStoreFor,
  type StoredObject,
} from '../shared/output-store.js';
import { connectRedis, warnUnlessNoEviction } from '../shared/redis.js';
import type { ProviderSimulator } from '../simulator/server.js';
import { flushPendingResultLines } from '../worker/row-outcome.js';
import type { WorkerPool } from '../worker/worker-pool.js';
import { formatBytes, startProgress, type CliOutput } from './progress.js';
import { batchFigures, reportTable, writeReportCsv } from './batch-report.js';
import { describeEnqueue, describeEstimate, describeStatus, formatUsd } from './report.js';

/** What every verb gets. */
export interface CommandContext {
  config: Config;
  log: Logger;
  output: CliOutput;
  /** Where confirmation answers are read from (a TTY, or nothing is asked). */
  input: NodeJS.ReadableStream & { isTTY?: boolean };
  /** Resolves when the user asks to stop (SIGINT/SIGTERM); verbs that run long race against it. */
  stopRequested: Promise<void>;
}

/** Options of `run` and `enqueue`. */
export interface EnqueueCommandOptions {
  manifests: string[];
  out: string;
  batch?: string;
  provider?: ProviderName;
  /** Rejected rows tolerated before the exit code becomes 1. Default 0. */
  maxRejected: number;
  /** Pricing override file (JSON/YAML); default IMAGE_BATCH_PRICING_FILE. */
  pricing?: string;
  /** Budget cap of the batch in USD. */
  budgetUsd?: number;
  /** Ask before enqueuing when the estimate is over this many USD (refuse without a terminal). */
  confirmOver?: number;
}

/** Options of `run`. */
export interface RunCommandOptions extends EnqueueCommandOptions {
  concurrency?: number;
  /** Requests per minute for every provider, across all workers (overrides `<PROVIDER>_REQUESTS_PER_MINUTE`). */
  requestsPerMinute?: number;
  /** Adapters to use instead of those built from the configuration (tests). */
  providerOverrides?: ReadonlyMap<ProviderName, ImageProvider>;
  /** How often the batch's progress is read from Redis, ms. Default 500. */
  pollIntervalMs?: number;
}

function print(context: CommandContext, ...lines: string[]): void {
  for (const line of lines) context.output.stdout.write(`${line}\n`);
}

async function checkManifests(manifests: string[]): Promise<void> {
  if (manifests.length === 0) throw new UsageError('give at least one manifest file');
  for (const manifest of manifests) {
    if (manifestFormat(manifest) === undefined) {
      throw new UsageError(`${manifest}: unknown manifest type; use a .csv or .jsonl file`);
    }
    const info = await stat(manifest).catch(() => undefined);
    if (info === undefined || !info.isFile()) throw new UsageError(`${manifest}: no such file`);
  }
}

/**
 * When providers have no API key, start the simulator in-process and point those providers at it (without the real
 * providers' rate limits, which the simulator does not enforce), saying so on the first line of output.
 * @returns the configuration to use and the simulator to stop afterwards (undefined when every key is set).
 */
export async function useSimulatorWithoutKeys(
  context: CommandContext,
  providers: readonly ProviderName[],
): Promise<{ config: Config; simulator: ProviderSimulator | undefined }> {
  const missing = providers.filter((name) => context.config.providers[name].apiKey === undefined);
  if (missing.length === 0) return { config: context.config, simulator: undefined };
  const { ProviderSimulator, simulatorBaseUrls } = await import('../simulator/server.js');
  const simulator = new ProviderSimulator();
  const url = await simulator.start();
  const urls = simulatorBaseUrls(url);
  let config = context.config;
  for (const name of missing) {
    config = withProviderSettings(config, name, {
      apiKey: 'simulator',
      ...urls[name],
      requestsPerMinute: 60_000,
      concurrency: Math.max(context.config.providers[name].concurrency, 16),
      pollIntervalMs: Math.min(context.config.providers[name].pollIntervalMs, 200),
    });
  }
  print(
    context,
    `No API key set for ${missing.join(', ')} (${missing.map(apiKeyVariable).join(', ')}): ` +
      `using the built-in provider simulator at ${url}; nothing is billed.`,
  );
  return { config, simulator };
}

async function enqueueWithProgress(
  context: CommandContext,
  config: Config,
  options: EnqueueCommandOptions & { batchId: string; dryRun: boolean },
  redis: Redis | undefined,
  store: BatchStore | undefined,
  catalogue: PriceCatalogue,
): Promise<EnqueueReport> {
  let progress: ReturnType<typeof startProgress> | undefined;
  const report = await enqueueManifests(
    {
      manifests: options.manifests,
      batchId: options.batchId,
      ...(options.provider === undefined ? {} : { provider: options.provider }),
      defaultProvider: DEFAULT_PROVIDER,
      outputRoot: options.out,
      dryRun: options.dryRun,
      budgetCapped: options.budgetUsd !== undefined,
      attempts: config.attempts,
      backoffDelayMs: config.backoffDelayMs,
      onProgress: ({ bytesRead, totalBytes }) => {
        progress ??= startProgress(context.output, 'Reading', totalBytes, '', formatBytes);
        progress.update(bytesRead);
      },
      log: context.log,
    },
    {
      ...(redis === undefined ? {} : { redis }),
      ...(store === undefined ? {} : { store }),
      queuePrefix: config.queuePrefix,
      providerFor: (name) => createProvider(name, config),
      catalogue,
    },
  );
  progress?.stop();
  return report;
}

/** The price catalogue with the pricing file of `--pricing` (or IMAGE_BATCH_PRICING_FILE) applied, if any. */
export async function loadCatalogue(
  config: Config,
  pricingFile: string | undefined,
): Promise<{ catalogue: PriceCatalogue; overrideJson: string | undefined }> {
  const file = pricingFile ?? config.pricingFile;
  if (file === undefined) return { catalogue: new PriceCatalogue(), overrideJson: undefined };
  const override = await loadPricingOverride(file);
  return { catalogue: new PriceCatalogue(override), overrideJson: JSON.stringify(override) };
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
    undefined,
    catalogue,
  );
  print(context, ...describeEstimate(report));
  if (report.estimate.costUsd <= options.confirmOver) return true;
  if (context.input.isTTY !== true) {
    print(
      context,
      `The estimate ${formatUsd(report.estimate.costUsd)} is over --confirm-over ${formatUsd(options.confirmOver)}; ` +
        'refusing without a terminal to ask on. Nothing was enqueued.',
    );
    return false;
  }
  const prompt = createInterface({ input: context.input, output: context.output.stdout });
  try {
    const answer = await prompt.question(
      `The estimate ${formatUsd(report.estimate.costUsd)} is over ${formatUsd(options.confirmOver)}. Enqueue anyway? [y/N] `,
    );
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    prompt.close();
  }
}

/** Create or update the batch's records: output directory, budget cap, pricing override. @returns the output root. */
async function prepareBatch(
  store: BatchStore,
  batchId: string,
  options: EnqueueCommandOptions,
  overrideJson: string | undefined,
): Promise<string> {
  const outputRoot = await store.ensureBatch(batchId, normalizeOutputRoot(options.out), options.manifests);
  if (options.budgetUsd !== undefined) await store.setBudget(batchId, options.budgetUsd);
  if (overrideJson !== undefined) await store.setPricing(batchId, overrideJson);
  return outputRoot;
}

/** `config` with every provider's requests per minute set to `requestsPerMinute`, when given. */
function withRequestsPerMinute(config: Config, requestsPerMinute: number | undefined): Config {
  if (requestsPerMinute === undefined) return config;
  let result = config;
  for (const name of PROVIDER_NAMES) result = withProviderSettings(result, name, { requestsPerMinute });
  return result;
}

function exitCodeFor(
  status: { failed: number; rejected: number; pending: number },
  maxRejected: number,
): number {
  return status.failed > 0 || status.pending > 0 || status.rejected > maxRejected ? 1 : 0;
}

/** `image-batch enqueue`: producer only. */
export async function enqueueCommand(
  context: CommandContext,
  options: EnqueueCommandOptions & { dryRun: boolean },
): Promise<number> {
  await checkManifests(options.manifests);
  const batchId =
    options.batch === undefined ? await defaultBatchId(options.manifests) : checkBatchId(options.batch);
  const { catalogue, overrideJson } = await loadCatalogue(context.config, options.pricing);
  if (options.dryRun) {
    const report = await enqueueWithProgress(
      context,
      context.config,
      { ...options, batchId },
      undefined,
      undefined,
      catalogue,
    );
    print(context, 'Dry run: nothing was enqueued or written.', ...describeEnqueue(report, true));
    return report.rejected > options.maxRejected ? 1 : 0;
  }
  if (!(await confirmEstimate(context, { ...options, batchId }, catalogue))) return 1;
  const redis = await connectRedis(context.config.redisUrl);
  try {
    await warnUnlessNoEviction(redis, context.log);
    const store = new BatchStore(redis, context.config.queuePrefix);
    const outputRoot = await prepareBatch(store, batchId, options, overrideJson);
    const report = await enqueueWithProgress(
      context,
      context.config,
      { ...options, out: outputRoot, batchId, dryRun: false },
      redis,
      store,
      catalogue,
    );
    print(context, ...describeEnqueue(report, false));
    return report.rejected > options.maxRejected ? 1 : 0;
  } finally {
    redis.disconnect();
  }
}

/** `image-batch estimate`: price the manifests without Redis, by provider and resolution tier. */
export async function estimateCommand(
  context: CommandContext,
  options: { manifests: string[]; provider?: ProviderName; pricing?: string },
): Promise<number> {
  await checkManifests(options.manifests);
  const { catalogue } = await loadCatalogue(context.config, options.pricing);
  const report = await enqueueWithProgress(
    context,
    context.config,
    { ...options, out: 'output', batchId: 'estimate', dryRun: true, maxRejected: 0 },
    undefined,
    undefined,
    catalogue,
  );
  print(context, ...describeEstimate(report));
  return 0;
}

/** `image-batch budget <batch> <usd|none>`: set or remove a batch's budget cap; held-back rows resume under it. */
export async function budgetCommand(
  context: CommandContext,
  options: { batch: string; usd: number | undefined },
): Promise<number> {
  const redis = await connectRedis(context.config.redisUrl);
  try {
    const store = new BatchStore(redis, context.config.queuePrefix);
    const batchId = checkBatchId(options.batch);
    if ((await store.status(batchId)) === undefined)
      throw new UsageError(`no batch "${options.batch}" in Redis`);
    await store.setBudget(batchId, options.usd);
    const status = (await store.status(batchId))!;
    print(
      context,
      options.usd === undefined
        ? `Batch ${batchId}: no budget cap.`
        : `Batch ${batchId}: budget cap ${formatUsd(options.usd)}; spent ${formatUsd(status.spentUsd)} so far.`,
    );
    return 0;
  } finally {
    redis.disconnect();
  }
}

/** `image-batch run`: enqueue, process in this process until the batch is finished, summarise. */
export async function runCommand(context: CommandContext, options: RunCommandOptions): Promise<number> {
  await checkManifests(options.manifests);
  const batchId =
    options.batch === undefined ? await defaultBatchId(options.manifests) : checkBatchId(options.batch);
  const providersUsed: ProviderName[] =
    options.provider === undefined ? [...PROVIDER_NAMES] : [options.provider];
  const prepared =
    options.providerOverrides === undefined
      ? await useSimulatorWithoutKeys(context, providersUsed)
      : { config: context.config, simulator: undefined };
  const { simulator } = prepared;
  const config = withRequestsPerMinute(prepared.config, options.requestsPerMinute);
  let redis: Redis | undefined;
  let pool: WorkerPool | undefined;
  try {
    const { catalogue, overrideJson } = await loadCatalogue(config, options.pricing);
    if (!(await confirmEstimate(context, { ...options, batchId }, catalogue))) return 1;
    redis = await connectRedis(config.redisUrl);
    await warnUnlessNoEviction(redis, context.log);
    const store = new BatchStore(redis, config.queuePrefix);
    const requestedRoot = normalizeOutputRoot(options.out);
    const outputRoot = await prepareBatch(store, batchId, options, overrideJson);
    if (outputRoot !== requestedRoot) {
      print(context, `Batch ${batchId} already writes to ${outputRoot}; continuing there.`);
    }
    const report = await enqueueWithProgress(
      context,
      config,
      { ...options, out: outputRoot, batchId, dryRun: false },
      redis,
      store,
      catalogue,
    );
    print(context, ...describeEnqueue(report, false));

    let status = (await store.status(batchId))!;
    if (status.pending > 0) {
      pool = (await import('../worker/worker-pool.js')).startWorkerPool({
        config,
        redis,
        store,
        providers: report.providers.length > 0 ? report.providers : providersUsed,
        ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
        log: context.log,
        ...(options.providerOverrides === undefined ? {} : { providerOverrides: options.providerOverrides }),
      });
      const outcome = await waitForBatch(
        context,
        store,
        redis,
        config,
        batchId,
        status,
        options.pollIntervalMs ?? 500,
      );
      status = outcome.status;
      await pool.close();
      pool = undefined;
      // Every worker of this process has stopped; a line recorded but never written by any worker is repaired here.
      await flushPendingResultLines(store, batchId, outputRoot, 1000);
      if (status.state === 'budget_reached') {
        print(
          context,
          `Budget reached: ${formatUsd(status.spentUsd)} spent of the ${formatUsd(status.budgetUsd ?? 0)} cap; ` +
            `${status.pending} rows held back (not paid for).`,
          `  Raise the cap with \`image-batch budget ${batchId} <usd>\` and run the same command again.`,
        );
      }
      for (const paused of outcome.pausedProviders) {
        const [name] = paused.split(':');
        print(
          context,
          `Provider ${paused}`,
          `  Its rows stay queued. Fix the account, then \`image-batch resume ${name}\` and run the same command again.`,
        );
      }
      if (outcome.interrupted) {
        print(
          context,
          `Interrupted: ${status.pending} rows still pending. Run the same command again to continue.`,
        );
      }
    }
    const summary = await writeBatchSummary(status);
    print(
      context,
      ...describeStatus(status),
      `Summary: ${fileLocation(report.batchDirectory, 'summary.json')}`,
    );
    if (summary.counts.pending > 0) return 1;
    return exitCodeFor(status, options.maxRejected);
  } finally {
    await pool?.close();
    redis?.disconnect();
    await simulator?.stop();
    await closeHttpAgents();
  }
}

/**
 * Show progress until every row of the batch has an outcome, the user interrupts, a provider the remaining rows need
 * is paused for its account (credit out, authentication failed: the reason is returned), or the remaining rows have no
 * job left in the queues (removed by hand). Redis being briefly unreachable (a restart) is waited out.
 */
async function waitForBatch(
  context: CommandContext,
  store: BatchStore,
  redis: Redis,
  config: Config,
  batchId: string,
  initial: BatchStatus,
  pollIntervalMs: number,
): Promise<{ status: BatchStatus; interrupted: boolean; pausedProviders: string[] }> {
  const progress = startProgress(context.output, 'Processing', initial.rows, 'rows');
  const health = new ProviderHealth(redis, config.queuePrefix, {
    threshold: config.breakerThreshold,
    openMs: config.breakerOpenMs,
  });
  const queues = PROVIDER_NAMES.map((name) => ({
    name,
    queue: new Queue(queueNameFor(name), { connection: redis, prefix: config.queuePrefix }),
  }));
  let interrupted = false;
  void context.stopRequested.then(() => {
    interrupted = true;
  });
  let status = initial;
  let idlePolls = 0;
  let unreachableSince: number | undefined;
  let budgetHits = 0;
  let pausedProviders: string[] = [];
  try {
    for (;;) {
      try {
        status = (await store.status(batchId)) ?? status;
        unreachableSince = undefined;
        progress.update(status.completed + status.failed);
        if (status.pending === 0 || interrupted) break;
        if (status.state === 'budget_reached' && status.reservedUsd === 0) {
          budgetHits += 1;
          if (budgetHits >= 3) break;
        } else budgetHits = 0;
        let queued = 0;
        pausedProviders = [];
        for (const { name, queue } of queues) {
          const reason = await health.pauseReason(name);
          if (reason !== undefined && (await queue.isPaused())) {
            pausedProviders.push(`${name}: ${reason}`);
            continue;
          }
          const counts = await queue.getJobCounts(
            'waiting',
            'active',
            'delayed',
            'prioritized',
            'waiting-children',
          );
          queued += Object.values(counts).reduce((a, b) => a + b, 0);
        }
        idlePolls = queued === 0 ? idlePolls + 1 : 0;
        if (idlePolls >= 10) {
          if (pausedProviders.length === 0) {
            context.log.error(
              { pending: status.pending },
              'rows are pending but no job is left in the queues',
            );
          }
          break;
        }
      } catch (error) {
        unreachableSince ??= Date.now();
        if (Date.now() - unreachableSince > 5 * 60_000) throw error;
        context.log.warn(
          { reason: (error as Error).message },
          'Redis unavailable; waiting for it to come back',
        );
      }
      await Promise.race([
        new Promise((resolve) => setTimeout(resolve, pollIntervalMs)),
        context.stopRequested,
      ]);
    }
  } finally {
    progress.stop();
    await Promise.all(queues.map(({ queue }) => queue.close()));
  }
  return { status, interrupted, pausedProviders };
}

/** `image-batch worker`: process jobs until SIGINT/SIGTERM, then drain gracefully. */
export async function workerCommand(
  context: CommandContext,
  options: {
    providers: ProviderName[];
    concurrency?: number;
    requestsPerMinute?: number;
    metricsPort?: number;
  },
): Promise<number> {
  context = { ...context, config: withRequestsPerMinute(context.config, options.requestsPerMinute) };
  const providers =
    options.providers.length > 0
      ? options.providers
      : PROVIDER_NAMES.filter((name) => context.config.providers[name].apiKey !== undefined);
  if (providers.length === 0) {
    throw new UsageError(
      `no provider has an API key (${PROVIDER_NAMES.map(apiKeyVariable).join(', ')}). Set one, or start ` +
        '`image-batch simulator` and point a provider at it (see `image-batch providers`).',
    );
  }
  for (const name of providers) {
    if (context.config.providers[name].apiKey === undefined) {
      throw new UsageError(
        `${apiKeyVariable(name)} is not set. Set it, or start \`image-batch simulator\` and point ` +
          `${baseUrlVariable(name)} at it with any ${apiKeyVariable(name)} (see \`image-batch providers\`).`,
      );
    }
  }
  const redis = await connectRedis(context.config.redisUrl);
  try {
    await warnUnlessNoEviction(redis, context.log);
    const store = new BatchStore(redis, context.config.queuePrefix);
    const pool = (await import('../worker/worker-pool.js')).startWorkerPool({
      config: context.config,
      redis,
      store,
      providers,
      ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
      log: context.log,
      ...(options.metricsPort === undefined ? {} : { metricsPort: options.metricsPort }),
    });
    const metricsUrl = await pool.metricsUrl();
    if (metricsUrl !== undefined) print(context, `Metrics at ${metricsUrl}`);
    print(context, `Worker running for ${providers.join(', ')}; stop with Ctrl-C (SIGINT) or SIGTERM.`);
    await context.stopRequested;
    print(context, 'Stopping: finishing the jobs in progress…');
    await pool.close();
    print(context, 'Worker stopped; no job was left behind.');
    return 0;
  } finally {
    redis.disconnect();
    await closeHttpAgents();
  }
}

/** The status of a batch the user named. @throws UsageError when Redis knows no such batch. */
async function existingBatchStatus(
  context: CommandContext,
  store: BatchStore,
  batch: string,
): Promise<BatchStatus> {
  const status = await store.status(checkBatchId(batch));
  if (status === undefined)
    throw new UsageError(`no batch "${batch}" in Redis (prefix ${context.config.queuePrefix})`);
  return status;
}

/** `image-batch status`: counts per state and cost so far. */
export async function statusCommand(
  context: CommandContext,
  options: { batch: string; json: boolean },
): Promise<number> {
  const redis = await connectRedis(context.config.redisUrl);
  try {
    const store = new BatchStore(redis, context.config.queuePrefix);
    const status = await existingBatchStatus(context, store, options.batch);
    if (options.json) print(context, JSON.stringify(status, null, 2));
    else print(context, ...describeStatus(status));
    return 0;
  } finally {
    redis.disconnect();
  }
}

/** `image-batch simulator`: the provider simulator as a standalone server, until SIGINT/SIGTERM. */
export async function simulatorCommand(
  context: CommandContext,
  options: { port: number; host: string; latencyMs: number },
): Promise<number> {
  const { ProviderSimulator } = await import('../simulator/server.js');
  const simulator = new ProviderSimulator({
    port: options.port,
    host: options.host,
    latencyMs: options.latencyMs,
  });
  const url = await simulator.start();
  print(
    context,
    `Provider simulator listening at ${url} (Oxen.ai, fal.ai, OpenAI, Replicate and WaveSpeedAI APIs).`,
    'Point image-batch at it:',
    `  export OXEN_BASE_URL=${url} OXEN_API_KEY=simulator`,
    `  export FAL_QUEUE_URL=${url} FAL_REST_URL=${url} FAL_PLATFORM_URL=${url}/fal-platform/v1 FAL_KEY=simulator`,
    `  export OPENAI_BASE_URL=${url}/v1 OPENAI_API_KEY=simulator`,
    `  export REPLICATE_BASE_URL=${url}/replicate/v1 REPLICATE_API_TOKEN=simulator`,
    `  export WAVESPEED_BASE_URL=${url} WAVESPEED_API_KEY=simulator`,
    `Inject faults:            curl -X POST ${url}/__simulator/faults -d '{"faults":[{"status":429,"retryAfterSeconds":2}]}'`,
  );
  await context.stopRequested;
  await simulator.stop();
  print(context, `Simulator stopped after ${simulator.paidRequestTotal} paid requests.`);
  return 0;
}

/** `image-batch resume <provider>`: resume a provider queue paused for its account (credit, authentication). */
export async function resumeCommand(
  context: CommandContext,
  options: { provider: ProviderName },
): Promise<number> {
  const redis = await connectRedis(context.config.redisUrl);
  const queue = new Queue(queueNameFor(options.provider), {
    connection: redis,
    prefix: context.config.queuePrefix,
  });
  try {
    const health = new ProviderHealth(redis, context.config.queuePrefix, {
      threshold: context.config.breakerThreshold,
      openMs: context.config.breakerOpenMs,
    });
    const reason = await health.pauseReason(options.provider);
    await queue.resume();
    await health.clearPauseReason(options.provider);
    await health.recordSuccess(options.provider);
    print(
      context,
      `Resumed ${options.provider}${reason === undefined ? '' : ` (it was paused: ${reason})`}.`,
    );
    return 0;
  } finally {
    await queue.close();
    redis.disconnect();
  }
}

/** `image-batch report <batch>`: the batch's figures as a table, JSON, or per-row CSV. */
export async function reportCommand(
  context: CommandContext,
  options: {
    batch: string;
    format: 'table' | 'json' | 'csv';
    /** List every stored file of the batch (table and JSON). */
    objects?: boolean;
  },
): Promise<number> {
  const redis = await connectRedis(context.config.redisUrl);
  try {
    const store = new BatchStore(redis, context.config.queuePrefix);
    const status = await existingBatchStatus(context, store, options.batch);
    const outputStore = outputStoreFor(status.outputDirectory);
    if (options.format === 'csv') {
      await writeReportCsv(outputStore.resultLines(status.batchId), (text) =>
        context.output.stdout.write(text),
      );
    } else {
      const pricing = await store.pricing(status.batchId);
      const objects: StoredObject[] = [];
      if (options.objects) for await (const object of outputStore.list(status.batchId)) objects.push(object);
      const figures = {
        ...batchFigures(status),
        pricing_file: pricing === undefined ? null : (JSON.parse(pricing) as unknown),
        location: outputStore.batchLocation(status.batchId),
        ...(options.objects ? { objects } : {}),
      };
      if (options.format === 'json') print(context, JSON.stringify(figures, null, 2));
      else {
        print(context, ...reportTable(figures), `  stored at ${figures.location}`);
        if (pricing !== undefined)
          print(
            context,
            '  prices: from the pricing file stored with the batch where it names them; the catalogue elsewhere',
          );
        if (options.objects) {
          const bytes = objects.reduce((sum, object) => sum + object.bytes, 0);
          print(context, `  ${objects.length} stored objects, ${bytes} bytes:`);
          for (const object of objects) print(context, `    ${object.path}  ${object.bytes}`);
        }
      }
    }
    return 0;
  } finally {
    redis.disconnect();
  }
}

/** `image-batch dashboard`: bull-board and the batch pages, until SIGINT/SIGTERM. */
export async function dashboardCommand(
  context: CommandContext,
  options: { port: number; host: string; readOnly: boolean },
): Promise<number> {
  const redis = await connectRedis(context.config.redisUrl);
  try {
    // Loaded here: express and bull-board are large, and no other verb needs them.
    const { startDashboard } = await import('../dashboard/server.js');
    const dashboard = await startDashboard({
      config: context.config,
      redis,
      log: context.log,
      host: options.host,
      port: options.port,
      readOnly: options.readOnly,
      ...(context.config.dashboardAuth === undefined ? {} : { auth: context.config.dashboardAuth }),
    });
    print(
      context,
      `Dashboard at ${dashboard.url}/ (queues: ${dashboard.url}/queues)` +
        `${options.readOnly ? ', read-only' : ''}${context.config.dashboardAuth === undefined ? '' : ', basic auth on'}.`,
    );
    await context.stopRequested;
    await dashboard.close();
    return 0;
  } finally {
    redis.disconnect();
  }
}

/** `image-batch schedule add`: add or replace a cron schedule that enqueues a manifest (or an inbox) as a batch. */
export async function scheduleAddCommand(
  context: CommandContext,
  options: {
    name: string;
    cron: string;
    tz?: string;
    source: string;
    out: string;
    provider?: ProviderName;
    budgetUsd?: number;
  },
): Promise<number> {
  const source = path.resolve(options.source);
  const info = await stat(source).catch(() => undefined);
  if (info === undefined) throw new UsageError(`${options.source}: no such file or directory`);
  if (info.isFile()) await checkManifests([source]);
  const redis = await connectRedis(context.config.redisUrl);
  try {
    const schedule = await upsertSchedule(redis, context.config.queuePrefix, {
      name: options.name,
      cron: options.cron,
      ...(options.tz === undefined ? {} : { timezone: options.tz }),
      template: {
        schedule: options.name,
        source,
        out: normalizeOutputRoot(options.out),
        ...(options.provider === undefined ? {} : { provider: options.provider }),
        ...(options.budgetUsd === undefined ? {} : { budgetUsd: options.budgetUsd }),
      },
    });
    print(
      context,
      `Schedule ${schedule.name}: "${options.cron}"${options.tz === undefined ? '' : ` (${options.tz})`} enqueues ` +
        `${info.isDirectory() ? `new manifests of the inbox ${source}` : source}; next run ` +
        `${schedule.next === undefined ? 'unknown' : new Date(schedule.next).toISOString()}. ` +
        'Run `image-batch scheduler` (and workers) to act on it.',
    );
    return 0;
  } finally {
    redis.disconnect();
  }
}

/** `image-batch schedule list`. */
export async function scheduleListCommand(
  context: CommandContext,
  options: { json: boolean },
): Promise<number> {
  const redis = await connectRedis(context.config.redisUrl);
  try {
    const schedules = await listSchedules(redis, context.config.queuePrefix);
    if (options.json) print(context, JSON.stringify(schedules, null, 2));
    else if (schedules.length === 0) print(context, 'No schedules.');
    else {
      for (const schedule of schedules) {
        print(
          context,
          `${schedule.name}  "${schedule.cron ?? ''}"${schedule.timezone === undefined ? '' : ` ${schedule.timezone}`}  next ` +
            `${schedule.next === undefined ? '—' : new Date(schedule.next).toISOString()}  ${schedule.source ?? ''}`,
        );
      }
    }
    return 0;
  } finally {
    redis.disconnect();
  }
}

/** `image-batch schedule remove <name>`. */
export async function scheduleRemoveCommand(
  context: CommandContext,
  options: { name: string },
): Promise<number> {
  const redis = await connectRedis(context.config.redisUrl);
  try {
    if (!(await removeSchedule(redis, context.config.queuePrefix, options.name))) {
      throw new UsageError(`no schedule "${options.name}"`);
    }
    print(context, `Removed schedule ${options.name}.`);
    return 0;
  } finally {
    redis.disconnect();
  }
}

/** `image-batch scheduler`: turn schedule ticks into batches until SIGINT/SIGTERM (several copies may run). */
export async function schedulerCommand(context: CommandContext): Promise<number> {
  const redis = await connectRedis(context.config.redisUrl);
  try {
    const store = new BatchStore(redis, context.config.queuePrefix);
    const { catalogue, overrideJson } = await loadCatalogue(context.config, undefined);
    const scheduler = startScheduler({
      config: context.config,
      redis,
      log: context.log,
      ingest: async ({ batchId, manifests, template }) => {
        const options: EnqueueCommandOptions = {
          manifests,
          out: template.out,
          maxRejected: Number.MAX_SAFE_INTEGER,
          ...(template.provider === undefined ? {} : { provider: template.provider }),
          ...(template.budgetUsd === undefined ? {} : { budgetUsd: template.budgetUsd }),
        };
        const outputRoot = await prepareBatch(store, batchId, options, overrideJson);
        const report = await enqueueManifests(
          {
            manifests,
            batchId,
            ...(template.provider === undefined ? {} : { provider: template.provider }),
            defaultProvider: DEFAULT_PROVIDER,
            outputRoot,
            dryRun: false,
            attempts: context.config.attempts,
            backoffDelayMs: context.config.backoffDelayMs,
            log: context.log,
          },
          {
            redis,
            store,
            queuePrefix: context.config.queuePrefix,
            providerFor: (name) => createProvider(name, context.config),
            catalogue,
          },
        );
        print(context, ...describeEnqueue(report, false));
      },
    });
    print(context, 'Scheduler running; stop with Ctrl-C (SIGINT) or SIGTERM.');
    await context.stopRequested;
    await scheduler.close();
    return 0;
  } finally {
    redis.disconnect();
  }
}
