/**
 * image-batch as a library (`import { ImageBatch } from 'image-batch'`, docs/library.md): estimate, enqueue, run
 * workers in this process, follow a batch, read its results, approve, pause and resume it — the same code paths as
 * the command line, which is a client of this class (src/cli/batch-commands.ts), as is the HTTP API
 * (src/dashboard/api-routes.ts). Every guarantee of the CLI holds: rows checked with their line numbers (rejects in
 * `<out>/<batch>/rejects.jsonl`), an estimate per host and resolution tier, the budget cap, the canary, and
 * idempotency (the same rows enqueued twice are one batch, paid once).
 */
import { BatchStore, type BatchStatus } from '../batch/batch-store.js';
import { runBatch, type BatchRunOutcome } from '../batch/batch-runner.js';
import { upgradeKeyLayout } from '../batch/key-layout.js';
import { announceBatch } from '../batch/notifications/batch-watch.js';
import { notifierFor } from '../batch/notifications/notifier.js';
import { loadCatalogue, type PriceCatalogue } from '../cost/price-catalogue.js';
import { checkBatchId, checkNewBatchId, defaultBatchId } from '../producer/batch-id.js';
import { enqueueManifests, type EnqueueReport } from '../producer/enqueue.js';
import { DEFAULT_PROVIDER } from '../providers/registry.js';
import {
  createProvider,
  hostsOf,
  loadConfig,
  providersWithKeys,
  type Config,
} from '../providers/configuration.js';
import { PROVIDER_NAMES, type ProviderName } from '../shared/config.js';
import { ConfigurationError, UsageError } from '../shared/errors.js';
import type { ResultLine } from '../shared/job-definitions.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { connectRedis, warnAboutRedisSetup, type RedisConnection } from '../shared/redis.js';
import { normalizeOutputRoot } from '../storage/output-store.js';
import { outputStoreFor } from '../storage/stores.js';
import type { WorkerPool } from '../worker/worker-pool.js';
import { manifestsOf, type BatchOptions, type BatchSource, type RoutingOptions } from './batch-source.js';
import { manifestRefill, windowOf } from './refill.js';
import { applyBatchPriority, changeLevel, type PriorityInput } from './batch-priority.js';
import { parsePriority } from '../batch/priority.js';
import type { RunOptions, WorkerOptions } from './worker-options.js';
import { canWaitForBatchApi, finishByOf, planBatchFinish, type FinishByPlan } from './finish-plan.js';

/** Options of {@link ImageBatch}. */
export interface ImageBatchOptions {
  /** The configuration; default: read from `environment` (docs/configuration.md). */
  config?: Config;
  /** Variables the configuration is read from when `config` is not given; default `process.env`. */
  environment?: Record<string, string | undefined>;
  /** A pino logger; default: JSON lines on stderr at LOG_LEVEL. */
  log?: Logger;
  /** An open Redis connection to use (left open by {@link ImageBatch.close}); default: one to REDIS_URL. */
  redis?: RedisConnection;
}

/** Progress of reading manifests: bytes read out of their total, rows read. */
export type ReadProgress = (progress: { bytesRead: number; totalBytes: number; rowsRead: number }) => void;

/** A batch just enqueued. */
export interface EnqueuedBatch {
  batchId: string;
  /** Where its files go (`<out>`, normalised). */
  outputRoot: string;
  /** Rows read, enqueued, rejected (with the first rejects), the estimate, the canary. */
  report: EnqueueReport;
  /** Resolves when its `batch.started` event was delivered, or its last retry failed (at once without a target). */
  announced(): Promise<void>;
  /** Its finish-by time and the plan: when it would finish at the hosts' configured rates, and whether that is in time. */
  finishBy?: FinishByPlan;
}

/**
 * Where a batch's events go: `flag` (null: nowhere), else IMAGE_BATCH_NOTIFY_URL, else nowhere.
 * @throws UsageError when there is a target but no IMAGE_BATCH_NOTIFY_SECRET to sign events and seal the URL with.
 */
export function checkNotifyTarget(config: Config, flag: string | null | undefined): string | undefined {
  if (flag === null) return undefined;
  const url = flag ?? config.notify.url;
  if (url !== undefined && config.notify.secret === undefined)
    throw new UsageError(
      '--notify (or IMAGE_BATCH_NOTIFY_URL) needs IMAGE_BATCH_NOTIFY_SECRET: the Standard Webhooks secret that signs ' +
        'each event and keeps the URL sealed in Redis. Make one: echo "whsec_$(openssl rand -base64 32)"',
    );
  return url;
}

/** The library's entry point: one per process and Redis; close it when done. */
export class ImageBatch {
  readonly config: Config;
  readonly log: Logger;
  #connection: Promise<{ redis: RedisConnection; store: BatchStore }> | undefined;
  readonly #ownsConnection: boolean;
  #catalogue: Promise<{ catalogue: PriceCatalogue; overrideJson: string | undefined }> | undefined;
  readonly #workers = new Set<WorkerPool>();

  constructor(options: ImageBatchOptions = {}) {
    this.config = options.config ?? loadConfig(options.environment ?? process.env);
    this.log = options.log ?? createLogger({ level: this.config.logLevel });
    this.#ownsConnection = options.redis === undefined;
    if (options.redis !== undefined) {
      const connection = {
        redis: options.redis,
        store: new BatchStore(options.redis, this.config.queuePrefix),
      };
      this.#connection = Promise.resolve(connection);
    }
  }

  /**
   * The Redis connection and batch records (opened on first use; keys of an earlier layout renamed).
   * @throws ConfigurationError when Redis does not answer, or REDIS_URL is `embedded` (a CLI `run` only).
   */
  async connection(): Promise<{ redis: RedisConnection; store: BatchStore }> {
    this.#connection ??= this.#connect();
    return this.#connection;
  }

  async #connect(): Promise<{ redis: RedisConnection; store: BatchStore }> {
    const { config } = this;
    if (config.redisSource === 'embedded')
      throw new ConfigurationError(
        'REDIS_URL=embedded starts a private Redis for `image-batch run` only; set REDIS_URL to the Redis your ' +
          'workers use.',
      );
    const redis = await connectRedis(
      config.redisUrl,
      config.redisSource === 'default' ? 'set REDIS_URL to the Redis your workers use.' : undefined,
    );
    const renamed = await upgradeKeyLayout(redis, config.queuePrefix);
    if (renamed > 0)
      this.log.info({ renamed }, 'renamed the Redis keys of an earlier image-batch to hash-tagged names');
    await warnAboutRedisSetup(redis, config.queuePrefix, this.log);
    return { redis, store: new BatchStore(redis, config.queuePrefix) };
  }

  /**
   * The price catalogue of `pricing` (a file), else of IMAGE_BATCH_PRICING_FILE, else the built-in prices, and the
   * override as JSON. @throws UsageError for a pricing file that cannot be read or is invalid.
   */
  async pricing(
    pricing: string | undefined,
  ): Promise<{ catalogue: PriceCatalogue; overrideJson: string | undefined }> {
    if (pricing !== undefined) return loadCatalogue(pricing);
    this.#catalogue ??= loadCatalogue(this.config.pricingFile);
    return this.#catalogue;
  }

  /**
   * Check and price `source` without enqueuing anything (no Redis needed).
   * @returns the report a dry run gives: rows read, rejected (with the first rejects), the estimate by host and tier.
   * @throws UsageError for a manifest that cannot be read.
   */
  async estimate(
    source: BatchSource,
    options: RoutingOptions & {
      out?: string;
      /** The batch id the report names; default `estimate`. */
      batchId?: string;
      /** The hosts `auto` means; default every host. */
      autoHosts?: readonly ProviderName[];
      onProgress?: ReadProgress;
    } = {},
  ): Promise<EnqueueReport> {
    const out = options.out ?? 'output';
    const manifests = await manifestsOf(source, out);
    const { catalogue } = await this.pricing(options.pricing);
    const job = { ...options, out, autoHosts: options.autoHosts ?? PROVIDER_NAMES };
    return this.#enqueue(job, manifests, options.batchId ?? 'estimate', undefined, catalogue);
  }

  /**
   * Enqueue `source` as a batch: its records (output root, budget cap, pricing) made or kept, its rows checked,
   * priced and added to the queues (again: only rows not there yet), its `batch.started` event sent.
   * @throws UsageError for an unreadable manifest, a bad or reserved batch id, or a notification target without
   *   IMAGE_BATCH_NOTIFY_SECRET; ConfigurationError when Redis does not answer.
   */
  async enqueue(
    source: BatchSource,
    options: BatchOptions & { onProgress?: ReadProgress },
  ): Promise<EnqueuedBatch> {
    const manifests = await manifestsOf(source, options.out);
    const batchId =
      options.batchId === undefined ? await defaultBatchId(manifests) : checkNewBatchId(options.batchId);
    const notify = checkNotifyTarget(this.config, options.notify);
    const finishBy = finishByOf(options.finishBy);
    const { catalogue, overrideJson } = await this.pricing(options.pricing);
    const target = await this.connection();
    const { store } = target;
    const outputRoot = await store.ensureBatch(batchId, normalizeOutputRoot(options.out), manifests);
    if (options.fallback !== undefined) await store.openaiBatches.setFallback(batchId, options.fallback);
    if (options.budgetUsd !== undefined) await store.budget.setBudget(batchId, options.budgetUsd);
    await applyBatchPriority(this.config, target, batchId, options);
    if (overrideJson !== undefined) await store.setPricing(batchId, overrideJson);
    const preferBatchApi = canWaitForBatchApi(finishBy);
    const report = await this.#enqueue(
      { ...options, out: outputRoot, ...(preferBatchApi ? { preferBatchApi } : {}) },
      manifests,
      batchId,
      target,
      catalogue,
    );
    await store.addEnqueuedEstimate(batchId, report.estimate.costUsd);
    const plan = await planBatchFinish(this.config, target, batchId, finishBy, report.estimate);
    const notifier = notify === undefined ? undefined : notifierFor(this.config, target.redis, this.log);
    if (notify !== undefined && notifier !== undefined) {
      const watch = { ...target, prefix: this.config.queuePrefix, notifier };
      await announceBatch(watch, batchId, notify, report.estimate.costUsd);
    }
    return {
      batchId,
      outputRoot,
      report,
      ...plan,
      announced: () => notifier?.settled() ?? Promise.resolve(),
    };
  }

  async #enqueue(
    options: BatchOptions & {
      onProgress?: ReadProgress;
      autoHosts?: readonly ProviderName[];
      preferBatchApi?: boolean;
    },
    manifests: string[],
    batchId: string,
    target: { redis: RedisConnection; store: BatchStore } | undefined,
    catalogue: PriceCatalogue,
  ): Promise<EnqueueReport> {
    const { config } = this;
    const { provider, providers, route, maxPremium, canary, delivery, onProgress } = options;
    return enqueueManifests(
      {
        manifests,
        batchId,
        ...(provider === undefined ? {} : { provider }),
        ...(providers === undefined ? {} : { providers }),
        ...(route === undefined ? {} : { route }),
        ...(maxPremium === undefined ? {} : { maxPremiumPercent: maxPremium }),
        ...(canary === undefined ? {} : { canary }),
        ...(delivery === undefined ? {} : { delivery }),
        ...(options.preferBatchApi === true ? { preferBatchApi: true } : {}),
        ...(options.reuse === true ? { reuse: true } : {}),
        ...(options.sidecar === true ? { sidecar: true } : {}),
        ...(onProgress === undefined ? {} : { onProgress }),
        autoHosts: options.autoHosts ?? providersWithKeys(config),
        accounts: (name) => hostsOf(config, name),
        defaultProvider: DEFAULT_PROVIDER,
        outputRoot: options.out,
        dryRun: target === undefined,
        budgetCapped: options.budgetUsd !== undefined,
        attempts: config.attempts,
        backoffDelayMs: config.backoffDelayMs,
        keepCompletedJobs: config.keepCompletedJobs,
        ...windowOf(config, options),
        log: this.log,
      },
      {
        ...(target ?? {}),
        queuePrefix: config.queuePrefix,
        providerFor: (name) => createProvider(name, config),
        catalogue,
      },
    );
  }

  /**
   * Start workers in this process: one per host of `options.providers`, taking jobs of every batch, refilling
   * windowed batches from their manifests. A worker started here and one started by `image-batch worker` are the same.
   * Stop them with the pool's `close()` (or {@link close}).
   */
  async startWorkers(options: WorkerOptions = {}): Promise<WorkerPool> {
    const target = await this.connection();
    const { catalogue } = await this.pricing(options.pricing);
    const { startWorkerPool } = await import('../worker/worker-pool.js');
    const pool = startWorkerPool({
      config: this.config,
      ...target,
      providers: options.providers ?? PROVIDER_NAMES,
      log: this.log,
      ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
      ...(options.providerOverrides === undefined ? {} : { providerOverrides: options.providerOverrides }),
      ...(options.metricsPort === undefined ? {} : { metricsPort: options.metricsPort }),
      refill: manifestRefill(this.config, { ...target, catalogue, log: this.log }),
    });
    this.#workers.add(pool);
    return {
      ...pool,
      close: async () => {
        this.#workers.delete(pool);
        await pool.close();
      },
    };
  }

  /**
   * Run batch `batchId` with workers in this process until it is finished, waits for its canary's approval
   * (`onCanaryFinished` may approve it and go on), has its hosts paused, or `options.signal` is aborted.
   * @throws Error when the batch has no record, or Redis stays unreachable for more than 5 minutes.
   */
  async run(batchId: string, options: RunOptions = {}): Promise<BatchRunOutcome> {
    const target = await this.connection();
    const status = await this.#existing(batchId);
    const { signal } = options;
    const stopRequested = new Promise<void>((resolve) => {
      if (signal?.aborted === true) resolve();
      signal?.addEventListener('abort', () => resolve(), { once: true });
    });
    return runBatch({
      ...target,
      config: this.config,
      batchId: status.batchId,
      outputRoot: status.outputDirectory,
      stopRequested,
      log: this.log,
      ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
      ...(options.onProgressEnd === undefined ? {} : { onProgressEnd: options.onProgressEnd }),
      ...(options.onCanaryFinished === undefined ? {} : { onCanaryFinished: options.onCanaryFinished }),
      ...(options.pollIntervalMs === undefined ? {} : { pollIntervalMs: options.pollIntervalMs }),
      startWorkers: () => this.startWorkers(options),
    });
  }

  /**
   * Wait for batch `batchId`, worked on by workers anywhere, to finish — or to need someone: its canary awaits
   * approval, it was paused. @returns its status then.
   * @throws UsageError for an unknown batch; the signal's reason when `options.signal` is aborted.
   */
  async waitForBatch(
    batchId: string,
    options: { pollIntervalMs?: number; signal?: AbortSignal; onStatus?: (status: BatchStatus) => void } = {},
  ): Promise<BatchStatus> {
    for (;;) {
      options.signal?.throwIfAborted();
      const status = await this.#existing(batchId);
      options.onStatus?.(status);
      if (['finished', 'awaiting_approval', 'paused'].includes(status.state)) return status;
      await new Promise((resolve) => setTimeout(resolve, options.pollIntervalMs ?? 500));
    }
  }

  /** The status of batch `batchId`: counts, spend, estimate, state. @returns undefined when Redis knows no such batch. */
  async status(batchId: string): Promise<BatchStatus | undefined> {
    return (await this.connection()).store.status(checkBatchId(batchId));
  }

  async #existing(batchId: string): Promise<BatchStatus> {
    const status = await this.status(batchId);
    if (status === undefined)
      throw new UsageError(`no batch "${batchId}" in Redis (prefix ${this.config.queuePrefix})`);
    return status;
  }

  /** The results lines of batch `batchId` written so far (docs/output.md), read as they are stored. */
  async *results(batchId: string): AsyncGenerator<ResultLine> {
    const status = await this.#existing(batchId);
    for await (const text of outputStoreFor(status.outputDirectory).resultLines(status.batchId))
      yield JSON.parse(text) as ResultLine;
  }

  /** Approve batch `batchId`'s canary: its held rows go to the queues. @returns how many were released. */
  async approve(batchId: string): Promise<number> {
    const status = await this.#existing(batchId);
    if (status.canary === undefined) throw new UsageError(`batch "${batchId}" has no canary`);
    return (await (await this.connection()).store.canary.approve(status.batchId)).released;
  }

  /** Pause (`true`) or resume (`false`) batch `batchId`: workers start no new call for it while paused. */
  async setPaused(batchId: string, paused: boolean): Promise<void> {
    const status = await this.#existing(batchId);
    await (await this.connection()).store.setPaused(status.batchId, paused);
  }

  /**
   * Change batch `batchId`'s priority while it runs: its waiting jobs move to the new level (src/batch/priority.ts).
   * @returns jobs moved. @throws UsageError for an unknown batch or level.
   */
  async setPriority(batchId: string, priority: PriorityInput): Promise<number> {
    const status = await this.#existing(batchId);
    const level = parsePriority(String(priority));
    return changeLevel(this.config, await this.connection(), status.batchId, level);
  }

  /** Stop the workers started here (finishing their jobs) and close the Redis connection. */
  async close(): Promise<void> {
    await Promise.all([...this.#workers].map((pool) => pool.close()));
    this.#workers.clear();
    const connection = this.#connection;
    if (!this.#ownsConnection) return;
    this.#connection = undefined;
    if (connection !== undefined) (await connection.catch(() => undefined))?.redis.disconnect();
  }
}
