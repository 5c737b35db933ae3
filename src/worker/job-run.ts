/**
 * One run of one job (one manifest row): what every step of the processor needs — the job, a logger scoped to it, its
 * provider, its output root, its price quote and the common part of its results line — built once at the start (in
 * the manner of graphile-worker's `makeJobHelpers`).
 */
import type { Job, Queue } from 'bullmq';
import type { RouteBack } from './router.js';
import type { RedisConnection } from '../shared/redis.js';
import type { BatchStore } from '../batch/batch-store.js';
import type { ProviderHealth } from '../batch/provider-health.js';
import type { BudgetShares } from '../batch/batch-hosts.js';
import { lineBase, type LineBase } from '../batch/results-line.js';
import { quoteRequest, type PriceCatalogue, type PriceQuote } from '../cost/price-catalogue.js';
import type { CallContext, ImageProvider } from '../providers/provider.js';
import { hostOfJob, type HostName } from '../shared/hosts.js';
import type { ImageJobData, SavedProviderRequest, StoredOutput } from '../shared/job-definitions.js';
import type { WebhookEndpoint } from '../batch/webhook-endpoint.js';
import type { ParkedRequests } from '../batch/parked-requests.js';
import type { TierSizeRecords } from '../batch/tier-size-book.js';
import type { PollBudget } from './poll-budget.js';
import type { Durability } from './durability.js';
import { startDeadlineOf } from './start-deadline.js';
import type { CapacityLimits, HostCapacity } from './host-capacity.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';
import type { Notifier } from '../batch/notifications/notifier.js';
import type { TraceContext } from '../shared/tracing.js';

/** What a processor needs. */
export interface ProcessorDependencies {
  providers: ReadonlyMap<HostName, ImageProvider>;
  /** The workers' Redis connection (BullMQ's own connections aside). */
  redis: RedisConnection;
  store: BatchStore;
  /** The provider's queue, for pausing it on a 429 (`queue.rateLimit`). */
  queueFor(provider: HostName): Queue;
  /** Largest output image file accepted, bytes. */
  maxOutputBytes: number;
  /** A PEM file of C2PA trust anchors (IMAGE_BATCH_C2PA_TRUST_ANCHORS), for the outputs' provenance. */
  c2paTrustAnchorsPath: string | undefined;
  /** Hosts input URLs may name although private or loopback (IMAGE_BATCH_ALLOWED_PRIVATE_HOSTS), for reuse keys. */
  allowedPrivateHosts: readonly string[];
  /** BullMQ lock duration, ms: results lines recorded longer ago than this belong to a stopped worker. */
  lockDurationMs: number;
  /** How often a row held back by its batch's budget checks the cap again, ms. */
  budgetRecheckMs: number;
  /** Makes the "sent" mark durable on a Redis replica before a paid call (./durability.ts); absent: not waited for. */
  durability?: Durability;
  /** Free bytes an output root must have before a paid call (./storage-hold.ts); undefined: the row's worst case. */
  minFreeBytes?: number;
  /** Timing settings of a provider: per-call deadline, poll interval and longest wait for an async request, ms. */
  timingFor(provider: HostName): ProviderTiming;
  /** Aborted when the worker shuts down: jobs waiting on an async request are then released, not finished. */
  shutdownSignal: AbortSignal;
  /** Circuit breaker and account pauses, shared by all workers. */
  health: ProviderHealth;
  /** Prometheus metrics of this process. */
  metrics: Metrics;
  /** Redis key prefix (for the admission script's keys). */
  queuePrefix: string;
  /** Status polls per minute of each provider, shared by every worker (./poll-budget.ts). */
  pollBudget: PollBudget;
  /** Accepted asynchronous requests waiting without a worker slot (src/batch/parked-requests.ts). */
  parked: ParkedRequests;
  /** The provider's collect queue, where collection jobs wait for their parked requests (./collection.ts). */
  collectQueueFor(provider: HostName): Queue;
  /**
   * Wait between two status polls of one parked request, ms: its provider's poll interval, or the slow reconciliation
   * interval when a webhook will announce its end.
   */
  parkedPollIntervalOf(request: SavedProviderRequest): number;
  /** Where a running webhook receiver is announced (src/batch/webhook-endpoint.ts). */
  webhookEndpoint: WebhookEndpoint;
  /** Sizes hosts that take a ratio and a tier delivered (src/batch/tier-size-book.ts): recorded as images arrive. */
  tierSizes: TierSizeRecords;
  /** Each host's images and tokens a minute, shared by every worker (./host-capacity.ts). */
  capacity: HostCapacity;
  /** The configured images and tokens a minute of a provider (0: none). */
  capacityLimitsOf(provider: HostName): CapacityLimits;
  /** Accounts' shares of a batch's budget cap (src/batch/batch-hosts.ts); absent: none. */
  budgetShares?: BudgetShares;
  /** Start deadline of a routed row with another candidate left, on hosts with a queue, ms (./start-deadline.ts). */
  startDeadlineMs: number;
  /** Where a routed row a host did not take goes back (./router.ts); absent: rows are not moved. */
  routeBack?: RouteBack;
  /** Sends `provider.paused` when a job pauses its host (src/batch/notifications); absent: no events. */
  notifier?: Notifier;
  log: Logger;
}

/** A provider's timing settings, ms. */
export interface ProviderTiming {
  timeoutMs: number;
  pollIntervalMs: number;
  maxWaitMs: number;
}

/** What a finished job returns (kept in BullMQ as the job's return value). */
export interface ImageJobResult {
  /**
   * `submitted`: an accepted async request handed to its collection job, which records the row; `moved`: a routed
   * row this host did not take, back in the route queue (./router.ts).
   */
  status: 'completed' | 'failed' | 'already-finished' | 'submitted' | 'moved';
  outputs: StoredOutput[];
  costUsd: number;
}

/** One job's run. */
export interface JobRun {
  deps: ProcessorDependencies;
  job: Job<ImageJobData>;
  token: string | undefined;
  data: ImageJobData;
  log: Logger;
  /** The host the row is on (its provider and account, src/shared/hosts.ts): its queue, health and limits. */
  host: HostName;
  provider: ImageProvider;
  outputRoot: string;
  catalogue: PriceCatalogue;
  /** The row's estimate: what is reserved against the budget, and counted as spent if it may have been billed. */
  quote: PriceQuote;
  timing: ProviderTiming;
  /** Signal and logger of provider calls (the call's deadline, and the job's cancellation). */
  context: CallContext;
  /** The common part of the row's results line. */
  base: LineBase;
  startedAt: number;
}

/** The job data without the "submission sent" mark. */
export function withoutSubmissionMarker(data: ImageJobData): ImageJobData {
  const copy = { ...data };
  delete copy.submissionStartedAt;
  return copy;
}

/** Per-batch facts a worker reads from Redis once: output root and price catalogue (with the batch's pricing file). */
export class BatchFacts {
  private readonly outputRoots = new Map<string, string>();
  private readonly catalogues = new Map<string, PriceCatalogue>();
  private readonly finishByTimes = new Map<string, number>();

  constructor(private readonly store: BatchStore) {}

  /** @throws Error when the batch has no record in Redis. */
  async outputRoot(batchId: string): Promise<string> {
    let root = this.outputRoots.get(batchId);
    if (root === undefined) {
      root = await this.store.outputDirectory(batchId);
      if (root === undefined) throw new Error(`batch ${batchId} has no record in Redis`);
      this.outputRoots.set(batchId, root);
    }
    return root;
  }

  /** The batch's finish-by time, ms since the epoch, or undefined (read once per batch). */
  async finishBy(batchId: string): Promise<number | undefined> {
    let at = this.finishByTimes.get(batchId);
    if (at === undefined) {
      at = (await this.store.finishBy(batchId)) ?? 0;
      this.finishByTimes.set(batchId, at);
    }
    return at === 0 ? undefined : at;
  }

  async catalogue(batchId: string): Promise<PriceCatalogue> {
    let catalogue = this.catalogues.get(batchId);
    if (catalogue === undefined) {
      catalogue = await this.store.catalogue(batchId);
      this.catalogues.set(batchId, catalogue);
    }
    return catalogue;
  }
}

/** What BullMQ and the attempt's span hand one attempt of a job. */
export interface AttemptHandles {
  /** The job's lock token. */
  token: string | undefined;
  /** Aborted when the job is cancelled. */
  signal: AbortSignal | undefined;
  /** The attempt's span: the parent of its provider calls, stores and results line (src/shared/tracing.ts). */
  trace: TraceContext;
}

/**
 * Build the run of `job`. @throws Error when this worker has no adapter for the job's provider, or the batch has no
 * record in Redis.
 */
export async function startRun(
  deps: ProcessorDependencies,
  facts: BatchFacts,
  job: Job<ImageJobData>,
  { token, signal, trace }: AttemptHandles,
): Promise<JobRun> {
  const data = job.data;
  const host = hostOfJob(data);
  const log = deps.log.child({
    jobId: job.id,
    batch: data.batchId,
    row: data.rowKey,
    provider: host,
  });
  const provider = deps.providers.get(host);
  if (provider === undefined) throw new Error(`this worker has no provider "${host}"`);
  const [outputRoot, catalogue, finishBy] = await Promise.all([
    facts.outputRoot(data.batchId),
    facts.catalogue(data.batchId),
    facts.finishBy(data.batchId),
  ]);
  const quote = quoteRequest(catalogue, data.provider, data, provider.defaultQuality);
  const timing = deps.timingFor(host);
  const deadline = AbortSignal.timeout(timing.timeoutMs);
  // A submission asks for a webhook while a receiver runs; a saved request was asked (or not) when it was sent.
  const webhookUrl =
    provider.acceptsWebhooks === true && data.providerRequest === undefined
      ? await deps.webhookEndpoint.urlFor(host)
      : undefined;
  const model = data.providerRequest?.model ?? provider.modelFor(data);
  const startDeadlineMs = startDeadlineOf(data, provider, deps.startDeadlineMs, finishBy);
  return {
    deps,
    job,
    token,
    data,
    log,
    host,
    provider,
    outputRoot,
    catalogue,
    quote,
    timing,
    context: {
      signal: signal === undefined ? deadline : AbortSignal.any([signal, deadline]),
      log,
      ...(webhookUrl === undefined ? {} : { webhookUrl }),
      ...(startDeadlineMs === undefined ? {} : { startDeadlineMs }),
      trace,
    },
    base: lineBase(data, model, attemptOf(job), provider.sizeParameters?.(data)),
    startedAt: Date.now(),
  };
}

/**
 * The row's attempt this run is: the job's own, or — for a collection job — the accepted submission's attempt plus
 * the collection's retries (a collection is not a new paid request).
 */
function attemptOf(job: Job<ImageJobData>): number {
  const accepted = job.data.acceptedOnAttempt;
  return accepted === undefined ? job.attemptsMade + 1 : accepted + job.attemptsMade;
}
