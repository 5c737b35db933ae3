/**
 * Workers for the provider queues: one BullMQ Worker per provider, with that provider's concurrency and rate limit.
 * `close()` shuts down gracefully: no new jobs are taken and running ones finish (or, past the grace period, are
 * released to other workers by BullMQ's stalled-job recovery); nothing is lost.
 */
import { setMaxListeners } from 'node:events';
import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ImageProvider } from '../providers/provider.js';
import { createOpenAIBatchApi, createProvider, type Config } from '../providers/configuration.js';
import { OpenAIBatchDriver } from './openai-batch/driver.js';
import { PollBudget } from './poll-budget.js';
import type { BatchStore } from '../batch/batch-store.js';
import { Metrics } from '../shared/metrics.js';
import { ProviderHealth } from '../batch/provider-health.js';
import type { ProviderName } from '../shared/config.js';
import type { ImageJobData, SavedProviderRequest } from '../shared/job-definitions.js';
import { collectQueueNameFor, queueNameFor, ROUTE_QUEUE_NAME } from '../shared/keys.js';
import { TierSizeRecords } from '../batch/tier-size-book.js';
import { RowHosts } from '../batch/row-hosts.js';
import { ParkedRequests } from '../batch/parked-requests.js';
import { WebhookEndpoint } from '../batch/webhook-endpoint.js';
import { RequestPoller } from './request-poller.js';
import type { Logger } from '../shared/logger.js';
import { providerBackoffStrategy } from './backoff.js';
import { closeWorkers, recordUnhandledFailure, serveMetrics } from './worker-support.js';
import { createProcessor, type ImageJobResult, type ProcessorDependencies } from './processor.js';
import { evacuateRoutedRows } from './settlement.js';
import { HostCapacity } from './host-capacity.js';
import { BatchFacts } from './job-run.js';
import { createRouter, type RouteResult } from './router.js';
import { rowJobOptions } from '../batch/queues.js';

/** Options of {@link startWorkerPool}. */
export interface WorkerPoolOptions {
  config: Config;
  /** Connection for queues and batch records; workers open their own blocking connections from `config.redisUrl`. */
  redis: Redis;
  store: BatchStore;
  providers: readonly ProviderName[];
  /** Jobs run at once per provider in this process; default: the provider's configured concurrency. */
  concurrency?: number;
  log: Logger;
  /** Adapters to use instead of those built from the configuration (tests). */
  providerOverrides?: ReadonlyMap<ProviderName, ImageProvider>;
  /** Serve Prometheus metrics on this port (`/metrics`); none when undefined. */
  metricsPort?: number;
}

/** A running set of workers. */
export interface WorkerPool {
  /** This process's metrics. */
  metrics: Metrics;
  /** URL of the metrics endpoint, when one is served. */
  metricsUrl(): Promise<string | undefined>;
  /** Stop taking jobs and wait for running ones to finish. */
  close(): Promise<void>;
}

/** Start one worker per provider, and the router of rows with several candidate hosts. */
export function startWorkerPool(options: WorkerPoolOptions): WorkerPool {
  const { config, log } = options;
  const { queues, collectQueues, providers } = queuesAndAdapters(options);
  const metrics = new Metrics(queues, collectQueues);
  const metricsServer =
    options.metricsPort === undefined ? undefined : serveMetrics(metrics, options.metricsPort);
  const shutdown = new AbortController();
  // Every poll and every job waiting for the poll budget listens for shutdown.
  setMaxListeners(0, shutdown.signal);
  const routeQueue = new Queue(ROUTE_QUEUE_NAME, { connection: options.redis, prefix: config.queuePrefix });
  const deps = processorDependencies(options, { queues, collectQueues, providers, metrics, routeQueue });
  const processor = createProcessor({ ...deps, shutdownSignal: shutdown.signal });
  const prepared = prepareAdapters(providers, deps.tierSizes, options);
  const asynchronous = [...providers.values()].filter((provider) => provider.asynchronous);
  const workers = [
    ...options.providers.map((name) => providerWorker(queueNameFor(name), name, processor, options)),
    // Collections: no creation rate limit (a status read and a download are no paid request).
    ...asynchronous.map((provider) =>
      providerWorker(collectQueueNameFor(provider.name), provider.name, processor, options),
    ),
    routerWorker(options, deps),
  ];
  const pollers = asynchronous.map((provider) =>
    requestPoller(provider, options, {
      parked: deps.parked,
      pollBudget: deps.pollBudget,
      collectQueues,
      signal: shutdown.signal,
    }),
  );
  const globalConcurrency = applyGlobalConcurrency(queues, options);
  const sweeper = setInterval(() => void sweepPausedQueues(deps, options.providers), PAUSED_SWEEP_MS);
  const batchDriver = options.providers.includes('openai') ? openaiBatchDriver(options) : undefined;
  void Promise.all([prepared, globalConcurrency]).then(() => {
    batchDriver?.start();
    for (const poller of pollers) poller.start();
    for (const worker of workers) void worker.run();
    log.info({ providers: options.providers, concurrency: options.concurrency }, 'workers started');
  });
  return {
    metrics,
    metricsUrl: () => metricsServer?.url ?? Promise.resolve(undefined),
    async close() {
      metricsServer?.close();
      clearInterval(sweeper);
      shutdown.abort();
      await prepared;
      await batchDriver?.close();
      await Promise.all(pollers.map((poller) => poller.close()));
      await closeWorkers(workers, config.drainTimeoutMs, log);
      await Promise.all(
        [...queues.values(), ...collectQueues.values(), routeQueue].map((queue) => queue.close()),
      );
    },
  };
}

/** How often paused queues are swept for routed rows, ms. */
const PAUSED_SWEEP_MS = 5000;

/**
 * Send the routed rows waiting on a queue paused for its account to other hosts (./settlement.ts
 * `evacuateRoutedRows`): rows a killed worker left come back to a paused queue after it was paused. Never throws.
 */
async function sweepPausedQueues(
  deps: Omit<ProcessorDependencies, 'shutdownSignal'>,
  providers: readonly ProviderName[],
): Promise<void> {
  for (const provider of providers) {
    try {
      const reason = await deps.health.pauseReason(provider);
      deps.metrics.hostSetAside.set({ provider }, reason === undefined ? 0 : 1);
      if (reason !== undefined && deps.routeBack !== undefined)
        await evacuateRoutedRows(deps.queueFor(provider), deps.routeBack, provider, reason);
    } catch (error) {
      deps.log.warn({ provider, reason: (error as Error).message }, 'could not sweep a paused queue');
    }
  }
}

/** What every job of this pool shares (but the shutdown signal). */
function processorDependencies(
  options: WorkerPoolOptions,
  made: {
    queues: ReadonlyMap<ProviderName, Queue>;
    collectQueues: ReadonlyMap<ProviderName, Queue>;
    providers: ReadonlyMap<ProviderName, ImageProvider>;
    metrics: Metrics;
    routeQueue: Queue;
  },
): Omit<ProcessorDependencies, 'shutdownSignal'> {
  const { config, store, log } = options;
  return {
    tierSizes: new TierSizeRecords(options.redis, config.queuePrefix),
    providers: made.providers,
    parked: new ParkedRequests(options.redis, config.queuePrefix),
    collectQueueFor: (name) => made.collectQueues.get(name)!,
    parkedPollIntervalOf: parkedPollInterval(config),
    webhookEndpoint: new WebhookEndpoint(options.redis, config.queuePrefix),
    redis: options.redis,
    queuePrefix: config.queuePrefix,
    store,
    queueFor: (name) => made.queues.get(name)!,
    routeBack: {
      routeQueue: made.routeQueue,
      jobOptions: rowJobOptions({ attempts: config.attempts, backoffDelayMs: config.backoffDelayMs }),
      rowHosts: new RowHosts(options.redis, config.queuePrefix),
      metrics: made.metrics,
    },
    timingFor: (name) => config.providers[name],
    maxOutputBytes: config.maxOutputBytes,
    lockDurationMs: config.lockDurationMs,
    startDeadlineMs: config.startDeadlineMs,
    capacity: new HostCapacity(options.redis, config.queuePrefix),
    capacityLimitsOf: (name) => ({
      requestsPerMinute: config.providers[name].requestsPerMinute,
      imagesPerMinute: config.providers[name].imagesPerMinute,
      tokensPerMinute: config.providers[name].tokensPerMinute,
    }),
    metrics: made.metrics,
    budgetRecheckMs: config.budgetRecheckMs,
    pollBudget: new PollBudget(
      options.redis,
      config.queuePrefix,
      (name) => config.providers[name].pollsPerMinute,
    ),
    health: new ProviderHealth(options.redis, config.queuePrefix, {
      threshold: config.breakerThreshold,
      openMs: config.breakerOpenMs,
    }),
    log,
  };
}

/**
 * The worker of the route queue (./router.ts): chooses a host this process serves for each routed row. Routing is
 * no paid call: it runs many at once.
 */
function routerWorker(
  options: WorkerPoolOptions,
  deps: Omit<ProcessorDependencies, 'shutdownSignal'>,
): Worker<ImageJobData, RouteResult> {
  const { config } = options;
  const router = createRouter({
    providers: deps.providers,
    queueFor: deps.queueFor,
    routeQueue: deps.routeBack!.routeQueue,
    rowHosts: deps.routeBack!.rowHosts,
    health: deps.health,
    store: deps.store,
    facts: new BatchFacts(deps.store),
    capacityOf: (name) => ({
      concurrency: options.concurrency ?? config.providers[name].concurrency,
      requestsPerMinute: config.providers[name].requestsPerMinute,
    }),
    jobOptions: deps.routeBack!.jobOptions,
    capacity: deps.capacity,
    metrics: deps.metrics,
    log: deps.log.child({ component: 'router' }),
  });
  const worker = new Worker<ImageJobData, RouteResult>(ROUTE_QUEUE_NAME, router, {
    connection: { url: config.redisUrl, maxRetriesPerRequest: null },
    prefix: config.queuePrefix,
    concurrency: 20,
    lockDuration: config.lockDurationMs,
    stalledInterval: config.stalledIntervalMs,
    maxStalledCount: config.maxStalledCount,
    autorun: false,
  });
  worker.on('failed', (job, error) => {
    if (job !== undefined) void recordUnhandledFailure(job, error, deps.store, deps.log);
  });
  worker.on('error', (error) => deps.log.error({ err: error }, 'router error'));
  return worker;
}

/** The wait between two polls of a parked request: the reconciliation interval when a webhook will come, ms. */
function parkedPollInterval(config: Config): (request: SavedProviderRequest) => number {
  return (request) =>
    request.webhook === true ? config.webhookReconcileMs : config.providers[request.provider].pollIntervalMs;
}

/** The submission and collect queue and the adapter of each provider the pool serves. */
function queuesAndAdapters(options: WorkerPoolOptions) {
  const { config } = options;
  const queues = new Map<ProviderName, Queue>();
  const collectQueues = new Map<ProviderName, Queue>();
  const providers = new Map<ProviderName, ImageProvider>();
  const connection = { connection: options.redis, prefix: config.queuePrefix };
  for (const name of options.providers) {
    queues.set(name, new Queue(queueNameFor(name), connection));
    collectQueues.set(name, new Queue(collectQueueNameFor(name), connection));
    providers.set(name, options.providerOverrides?.get(name) ?? createProvider(name, config));
  }
  return { queues, collectQueues, providers };
}

/** The poller of `provider`'s parked requests in this process (./request-poller.ts); not yet started. */
function requestPoller(
  provider: ImageProvider,
  options: WorkerPoolOptions,
  shared: {
    parked: ParkedRequests;
    pollBudget: PollBudget;
    collectQueues: ReadonlyMap<ProviderName, Queue>;
    signal: AbortSignal;
  },
): RequestPoller {
  const settings = options.config.providers[provider.name];
  return new RequestPoller({
    provider,
    parked: shared.parked,
    budget: shared.pollBudget,
    collectQueue: shared.collectQueues.get(provider.name)!,
    intervalMs: settings.pollIntervalMs,
    reconcileIntervalMs: options.config.webhookReconcileMs,
    timeoutMs: settings.timeoutMs,
    signal: shared.signal,
    log: options.log.child({ component: 'poller', provider: provider.name }),
  });
}

/**
 * Prepare each adapter (read what its host serves now) and give it the sizes its host was seen to deliver per ratio ×
 * tier, for rows planned now (jobs enqueued before carry their plan).
 */
function prepareAdapters(
  providers: ReadonlyMap<ProviderName, ImageProvider>,
  tierSizes: TierSizeRecords,
  options: WorkerPoolOptions,
): Promise<unknown> {
  return Promise.all(
    [...providers.values()].map(async (provider) => {
      await provider.prepare?.({
        signal: AbortSignal.timeout(options.config.providers[provider.name].timeoutMs),
        log: options.log,
      });
      if (provider.learnTierSizes !== undefined)
        provider.learnTierSizes(await tierSizes.read(provider.name).catch(() => ({})));
    }),
  );
}

/**
 * The OpenAI Batch API driver of this process (./openai-batch/driver.ts). `OPENAI_POLL_INTERVAL_MS` sets its pace:
 * the first status read of a batch after that long (then doubling to at most 30 times it, 60 s by default), and
 * waiting rows are built into a file once none arrived for that long.
 */
function openaiBatchDriver(options: WorkerPoolOptions): OpenAIBatchDriver {
  const { config } = options;
  const openai = config.providers.openai;
  return new OpenAIBatchDriver({
    redis: options.redis,
    store: options.store,
    queuePrefix: config.queuePrefix,
    api: createOpenAIBatchApi(config),
    log: options.log.child({ component: 'openai-batch' }),
    tickMs: Math.min(1000, openai.pollIntervalMs),
    settleMs: openai.pollIntervalMs,
    firstPollMs: openai.pollIntervalMs,
    maxPollMs: Math.min(60_000, openai.pollIntervalMs * 30),
    maxOutputBytes: config.maxOutputBytes,
    timeoutMs: openai.timeoutMs,
    attempts: config.attempts,
    backoffDelayMs: config.backoffDelayMs,
  });
}

/**
 * The BullMQ Worker of one of a provider's queues, with its concurrency and backoff — and, on the submission queue,
 * the provider's creation rate limit; not yet running.
 */
function providerWorker(
  queueName: string,
  name: ProviderName,
  processor: ReturnType<typeof createProcessor>,
  options: WorkerPoolOptions,
): Worker<ImageJobData, ImageJobResult> {
  const { config, store, log } = options;
  const settings = config.providers[name];
  const limited = queueName === queueNameFor(name) && settings.requestsPerMinute > 0;
  const worker = new Worker<ImageJobData, ImageJobResult>(queueName, processor, {
    connection: { url: config.redisUrl, maxRetriesPerRequest: null },
    prefix: config.queuePrefix,
    concurrency: options.concurrency ?? settings.concurrency,
    ...(limited ? { limiter: limiterFor(settings.requestsPerMinute) } : {}),
    lockDuration: config.lockDurationMs,
    stalledInterval: config.stalledIntervalMs,
    maxStalledCount: config.maxStalledCount,
    settings: {
      backoffStrategy: providerBackoffStrategy({
        baseDelayMs: config.backoffDelayMs,
        maxDelayMs: config.backoffMaxDelayMs,
      }),
    },
    autorun: false,
  });
  worker.on('failed', (job, error) => {
    if (job !== undefined) void recordUnhandledFailure(job, error, store, log);
  });
  worker.on('error', (error) => log.error({ err: error, provider: name }, 'worker error'));
  return worker;
}

/** Concurrent requests per provider across every worker process (BullMQ global concurrency). */
async function applyGlobalConcurrency(
  queues: Map<ProviderName, Queue>,
  options: WorkerPoolOptions,
): Promise<void> {
  const { config, log } = options;
  for (const name of options.providers) {
    const allowed = config.providers[name].concurrency;
    if (options.concurrency !== undefined && options.concurrency > allowed) {
      log.warn(
        { provider: name, concurrency: options.concurrency, globalConcurrency: allowed },
        `at most ${allowed} ${name} jobs run at once across all workers (${name.toUpperCase()}_CONCURRENCY); ` +
          `raise it for more than that`,
      );
    }
  }
  await Promise.all(
    options.providers.map((name) =>
      queues.get(name)!.setGlobalConcurrency(config.providers[name].concurrency),
    ),
  );
}

/**
 * BullMQ limiter options for a rate in requests per minute, never more than the rate in any sliding minute (which
 * providers may enforce): up to 1,200/min one request per interval with 1 % headroom (an even pace); above that,
 * per-second buckets with 2 % headroom (a sliding minute can span 61 buckets). The limiter is global across workers.
 */
export function limiterFor(requestsPerMinute: number): { max: number; duration: number } {
  if (requestsPerMinute > 1200) return { max: Math.floor((requestsPerMinute / 60) * 0.98), duration: 1000 };
  return { max: 1, duration: Math.ceil((60_000 * 1.01) / requestsPerMinute) };
}
