/**
 * Workers for the provider queues: one BullMQ Worker per provider, with that provider's concurrency and rate limit.
 * `close()` shuts down gracefully: no new jobs are taken and running ones finish (or, past the grace period, are
 * released to other workers by BullMQ's stalled-job recovery); nothing is lost.
 */
import { setMaxListeners } from 'node:events';
import { Queue, Worker } from 'bullmq';
import type { RedisConnection } from '../shared/redis.js';
import type { ImageProvider } from '../providers/provider.js';
import {
  createOpenAIBatchApi,
  createProvider,
  hostsOfAll,
  settingsOfHost,
  type Config,
} from '../providers/configuration.js';
import { OpenAIBatchDriver } from './openai-batch/driver.js';
import { PollBudget } from './poll-budget.js';
import type { BatchStore } from '../batch/batch-store.js';
import { Metrics } from '../shared/metrics.js';
import { ProviderHealth } from '../batch/provider-health.js';
import type { ProviderName } from '../shared/config.js';
import { hostOfJob, type HostName } from '../shared/hosts.js';
import type { ImageJobData, SavedProviderRequest } from '../shared/job-definitions.js';
import { collectQueueNameFor, queueNameFor, ROUTE_QUEUE_NAME } from '../shared/keys.js';
import { TierSizeRecords } from '../batch/tier-size-book.js';
import { RowHosts } from '../batch/row-hosts.js';
import { hostSpend } from '../batch/batch-hosts.js';
import { ParkedRequests } from '../batch/parked-requests.js';
import { WebhookEndpoint } from '../batch/webhook-endpoint.js';
import { RequestPoller } from './request-poller.js';
import type { Logger } from '../shared/logger.js';
import { closeWorkers, recordUnhandledFailure, repeatWhileOpen, serveMetrics } from './worker-support.js';
import { createProcessor, type ProcessorDependencies } from './processor.js';
import { evacuateRoutedRows } from './settlement.js';
import { applyGlobalConcurrency, jobLockSettings, providerWorker } from './host-worker.js';
import { HostCapacity } from './host-capacity.js';
import { startEventWatch } from './event-watch.js';
import { startPrioritySweeps } from './priority-sweeps.js';
import { sampleHosts } from './host-samples.js';
import { Durability } from './durability.js';
import { BatchFacts } from './job-run.js';
import { createRouter, type RouteResult } from './router.js';
import { openWorker, rowJobOptions } from '../batch/queues.js';
import { workerCountsOf } from '../batch/autoscaling.js';

/** Options of {@link startWorkerPool}. */
export interface WorkerPoolOptions {
  config: Config;
  /** Connection for queues and batch records; workers open their own blocking connections from `config.redisUrl`. */
  redis: RedisConnection;
  store: BatchStore;
  providers: readonly ProviderName[];
  /** Jobs run at once per provider in this process; default: the provider's configured concurrency. */
  concurrency?: number;
  log: Logger;
  /** Adapters to use instead of those built from the configuration, by host (tests). */
  providerOverrides?: ReadonlyMap<HostName, ImageProvider>;
  /** Serve Prometheus metrics on this port (`/metrics`); none when undefined. */
  metricsPort?: number;
  /**
   * Add rows of windowed batches from their manifest cursors (src/producer/refill.ts, given by the caller: the worker
   * room does not read manifests); called every {@link REFILL_EVERY_MS}, one call at a time. Never throws.
   */
  refill?: () => Promise<unknown>;
}

/** How often the pool asks for a refill from manifest cursors, ms. */
export const REFILL_EVERY_MS = 1000;

/** A running set of workers. */
export interface WorkerPool {
  /** This process's metrics. */
  metrics: Metrics;
  /** URL of the metrics endpoint, when one is served. */
  metricsUrl(): Promise<string | undefined>;
  /** Stop taking jobs and wait for running ones to finish. */
  close(): Promise<void>;
}

/**
 * Start one worker per host (each account of each provider in `options.providers`), and the router of rows with
 * several candidate hosts.
 */
export function startWorkerPool(options: WorkerPoolOptions): WorkerPool {
  const { config, log } = options;
  const hosts = hostsOfAll(config, options.providers);
  const { queues, collectQueues, providers } = queuesAndAdapters(options, hosts);
  const metrics = new Metrics(
    queues,
    collectQueues,
    workerCountsOf(options.redis, config, queues, collectQueues),
  );
  const metricsServer =
    options.metricsPort === undefined ? undefined : serveMetrics(metrics, options.metricsPort);
  const shutdown = new AbortController();
  // Every poll and every job waiting for the poll budget listens for shutdown.
  setMaxListeners(0, shutdown.signal);
  const routeQueue = new Queue(ROUTE_QUEUE_NAME, { connection: options.redis, prefix: config.queuePrefix });
  const events = startEventWatch(options);
  const deps = {
    ...processorDependencies(options, { queues, collectQueues, providers, metrics, routeQueue }),
    ...(events.notifier === undefined ? {} : { notifier: events.notifier }),
  };
  const processor = createProcessor({ ...deps, shutdownSignal: shutdown.signal });
  const prepared = prepareAdapters(providers, deps.tierSizes, options);
  const asynchronous = hosts.filter((host) => providers.get(host)!.asynchronous);
  const workers = [
    ...hosts.map((host) => providerWorker(queueNameFor(host), host, processor, options)),
    // Collections: no creation rate limit (a status read and a download are no paid request).
    ...asynchronous.map((host) => providerWorker(collectQueueNameFor(host), host, processor, options)),
    routerWorker(options, deps),
  ];
  const pollers = asynchronous.map((host) =>
    requestPoller(host, providers.get(host)!, options, {
      parked: deps.parked,
      pollBudget: deps.pollBudget,
      collectQueues,
      signal: shutdown.signal,
    }),
  );
  const globalConcurrency = applyGlobalConcurrency(queues, hosts, options);
  const sweeper = setInterval(() => {
    void sweepPausedQueues(deps, hosts).then(() => sampleHosts(deps, hosts));
  }, PAUSED_SWEEP_MS);
  const refiller = repeatWhileOpen(options.refill, REFILL_EVERY_MS);
  const prioritySweeps = startPrioritySweeps({
    ...{ redis: options.redis, prefix: config.queuePrefix, store: options.store, log },
    ...{ queues: [...queues.values(), routeQueue], ageAfterMs: config.ageingAfterMs },
  });
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
      await refiller.stop();
      await prioritySweeps.stop();
      shutdown.abort();
      await prepared;
      await batchDriver?.close();
      await Promise.all(pollers.map((poller) => poller.close()));
      await closeWorkers(workers, config.drainTimeoutMs, log);
      await events.stop();
      deps.durability?.close();
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
  hosts: readonly HostName[],
): Promise<void> {
  for (const provider of hosts) {
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
    queues: ReadonlyMap<HostName, Queue>;
    collectQueues: ReadonlyMap<HostName, Queue>;
    providers: ReadonlyMap<HostName, ImageProvider>;
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
      jobOptions: rowJobOptions(config),
      rowHosts: new RowHosts(options.redis, config.queuePrefix),
      priorities: store.priorities,
      metrics: made.metrics,
    },
    timingFor: (name) => settingsOfHost(config, name),
    maxOutputBytes: config.maxOutputBytes,
    c2paTrustAnchorsPath: config.c2paTrustAnchorsPath,
    allowedPrivateHosts: config.allowedPrivateHosts,
    lockDurationMs: config.lockDurationMs,
    startDeadlineMs: config.startDeadlineMs,
    capacity: new HostCapacity(options.redis, config.queuePrefix),
    budgetShares: {
      shareOf: (host) => settingsOfHost(config, host).budgetSharePercent,
      spend: (batchId, host) => hostSpend(options.redis, config.queuePrefix, batchId, host),
    },
    capacityLimitsOf: (name) => {
      const { requestsPerMinute, imagesPerMinute, tokensPerMinute } = settingsOfHost(config, name);
      return { requestsPerMinute, imagesPerMinute, tokensPerMinute };
    },
    metrics: made.metrics,
    budgetRecheckMs: config.budgetRecheckMs,
    ...(config.minFreeBytes === undefined ? {} : { minFreeBytes: config.minFreeBytes }),
    durability: new Durability(options.redis, `${config.queuePrefix}:durability`, config.replicaWaitMs),
    pollBudget: new PollBudget(
      options.redis,
      config.queuePrefix,
      (name) => settingsOfHost(config, name).pollsPerMinute,
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
      concurrency: options.concurrency ?? settingsOfHost(config, name).concurrency,
      requestsPerMinute: settingsOfHost(config, name).requestsPerMinute,
    }),
    jobOptions: deps.routeBack!.jobOptions,
    capacity: deps.capacity,
    ...(deps.budgetShares === undefined ? {} : { budgetShares: deps.budgetShares }),
    metrics: deps.metrics,
    log: deps.log.child({ component: 'router' }),
  });
  const worker = openWorker<ImageJobData, RouteResult>(
    { url: config.redisUrl, prefix: config.queuePrefix },
    ROUTE_QUEUE_NAME,
    router,
    { concurrency: 20, ...jobLockSettings(config), autorun: false },
  );
  worker.on('failed', (job, error) => {
    if (job !== undefined) void recordUnhandledFailure(job, error, deps.store, deps.log);
  });
  worker.on('error', (error) => deps.log.error({ err: error }, 'router error'));
  return worker;
}

/** The wait between two polls of a parked request: the reconciliation interval when a webhook will come, ms. */
function parkedPollInterval(config: Config): (request: SavedProviderRequest) => number {
  return (request) =>
    request.webhook === true
      ? config.webhookReconcileMs
      : settingsOfHost(config, hostOfJob(request)).pollIntervalMs;
}

/** The submission and collect queue and the adapter of each host the pool serves. */
function queuesAndAdapters(options: WorkerPoolOptions, hosts: readonly HostName[]) {
  const { config } = options;
  const queues = new Map<HostName, Queue>();
  const collectQueues = new Map<HostName, Queue>();
  const providers = new Map<HostName, ImageProvider>();
  const connection = { connection: options.redis, prefix: config.queuePrefix };
  for (const name of hosts) {
    queues.set(name, new Queue(queueNameFor(name), connection));
    collectQueues.set(name, new Queue(collectQueueNameFor(name), connection));
    providers.set(name, options.providerOverrides?.get(name) ?? createProvider(name, config));
  }
  return { queues, collectQueues, providers };
}

/** The poller of `host`'s parked requests in this process (./request-poller.ts); not yet started. */
function requestPoller(
  host: HostName,
  provider: ImageProvider,
  options: WorkerPoolOptions,
  shared: {
    parked: ParkedRequests;
    pollBudget: PollBudget;
    collectQueues: ReadonlyMap<HostName, Queue>;
    signal: AbortSignal;
  },
): RequestPoller {
  const settings = settingsOfHost(options.config, host);
  return new RequestPoller({
    host,
    provider,
    parked: shared.parked,
    budget: shared.pollBudget,
    collectQueue: shared.collectQueues.get(host)!,
    intervalMs: settings.pollIntervalMs,
    reconcileIntervalMs: options.config.webhookReconcileMs,
    timeoutMs: settings.timeoutMs,
    signal: shared.signal,
    log: options.log.child({ component: 'poller', provider: host }),
  });
}

/**
 * Prepare each adapter (read what its host serves now) and give it the sizes its host was seen to deliver per ratio ×
 * tier, for rows planned now (jobs enqueued before carry their plan).
 */
function prepareAdapters(
  providers: ReadonlyMap<HostName, ImageProvider>,
  tierSizes: TierSizeRecords,
  options: WorkerPoolOptions,
): Promise<unknown> {
  return Promise.all(
    [...providers].map(async ([host, provider]) => {
      await provider.prepare?.({
        signal: AbortSignal.timeout(settingsOfHost(options.config, host).timeoutMs),
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
    c2paTrustAnchorsPath: config.c2paTrustAnchorsPath,
    timeoutMs: openai.timeoutMs,
    attempts: config.attempts,
    backoffDelayMs: config.backoffDelayMs,
  });
}
