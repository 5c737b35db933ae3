/**
 * The autoscaling signal (issue 27): how many worker processes the work in the queues could use now, for a Kubernetes
 * HPA or KEDA to scale workers on (deploy/keda-scaled-object.yaml). Read from the queues, not guessed from a batch:
 *
 * - a host's **ready** jobs (submissions and collections waiting to start) want slots, up to the host's concurrency
 *   across all workers (`<PROVIDER>_CONCURRENCY`) minus what runs already; a host **held back** — its queue paused
 *   (account, circuit breaker), a Retry-After running, its rate limit used up for now — wants none: more workers would
 *   only wait;
 * - **delayed** jobs (backoffs, holds) and **parked** requests (accepted async requests waiting in the collect queue)
 *   need a worker to exist, not more of them: they keep one;
 * - a worker offers a host as many slots as its concurrency, which it names in Redis (BullMQ worker name `c<N>`).
 *
 * Wanted workers = the most any host wants: every worker serves every host it has a key for.
 */
import type { Queue } from 'bullmq';
import type { RedisConnection } from '../shared/redis.js';
import { settingsOfHost, type Config } from '../providers/configuration.js';
import type { HostName } from '../shared/hosts.js';
import { providerKey } from '../shared/keys.js';
import { openCollectQueues, openProviderQueues } from './queues.js';

/** One host's part of the signal. */
export interface HostDemand {
  host: HostName;
  /** Jobs that could start now (submissions and collections waiting), and jobs running. */
  ready: number;
  active: number;
  /** Submission jobs delayed (backoffs, holds) and collection jobs parked until their request finishes. */
  delayed: number;
  parked: number;
  /** Jobs at once across all workers (`<PROVIDER>_CONCURRENCY`). */
  concurrency: number;
  /** Worker processes working the host's queue now, and the slots they offer it. */
  workers: number;
  slots: number;
  /** Why more workers would not help the host now, when something holds it back. */
  heldBy?: 'paused' | 'retry-after' | 'rate limit';
  /** Worker processes the host could use now. */
  wantedWorkers: number;
}

/** The whole signal, as `status --json` (`autoscaling`) and `/metrics` show it. */
export interface AutoscalingSignal {
  /** Worker processes now (the most on any host's queue). */
  workers: number;
  /** Worker processes the queued work could use now; 0 when nothing waits or runs. */
  wantedWorkers: number;
  /** `wantedWorkers - workers`, at least 0: how many more would raise throughput. */
  moreWorkers: number;
  hosts: HostDemand[];
}

/** A worker's BullMQ name, carrying its slots on a host: `c<concurrency>`. */
export function workerNameFor(concurrency: number): string {
  return `c${concurrency}`;
}

/** Slots of a worker from its raw client name (`…:w:c<N>`), or undefined for a worker that names none. */
function slotsOf(rawName: string | undefined): number | undefined {
  const match = /:w:c(\d+)$/.exec(rawName ?? '');
  return match === null ? undefined : Number(match[1]);
}

/** Why `host` cannot use more workers now, if something holds it back. */
async function heldBy(
  redis: RedisConnection,
  prefix: string,
  host: HostName,
  queue: Queue,
): Promise<HostDemand['heldBy']> {
  if (await queue.isPaused()) return 'paused';
  if ((await redis.pttl(providerKey(prefix, host, 'retry-after'))) > 0) return 'retry-after';
  if ((await queue.getRateLimitTtl()) > 0) return 'rate limit';
  return undefined;
}

/** One host's demand from its submission and collect queues. */
async function hostDemand(
  redis: RedisConnection,
  config: Config,
  host: HostName,
  queues: { submit: Queue; collect: Queue },
): Promise<HostDemand> {
  const states = ['waiting', 'prioritized', 'active', 'delayed'] as const;
  const [submit, collect, workers, held] = await Promise.all([
    queues.submit.getJobCounts(...states),
    queues.collect.getJobCounts(...states),
    queues.submit.getWorkers(),
    heldBy(redis, config.queuePrefix, host, queues.submit),
  ]);
  const concurrency = settingsOfHost(config, host).concurrency;
  const ready =
    (submit.waiting ?? 0) + (submit.prioritized ?? 0) + (collect.waiting ?? 0) + (collect.prioritized ?? 0);
  const active = (submit.active ?? 0) + (collect.active ?? 0);
  const delayed = submit.delayed ?? 0;
  const parked = collect.delayed ?? 0;
  const slots = workers.reduce((total, worker) => total + (slotsOf(worker.rawname) ?? concurrency), 0);
  const demand = {
    ...{ ready, active, delayed, parked, concurrency, workers: workers.length, slots },
    ...(held === undefined ? {} : { heldBy: held }),
  };
  return { host, ...demand, wantedWorkers: wantedWorkersOf(demand) };
}

/**
 * Worker processes a host could use now (the policy above): the slots it could fill — its ready and running jobs, up
 * to its concurrency across all workers, none while it is held back — over the slots one worker offers it (the mean of
 * the workers running, else its concurrency), and at least one while anything of it waits or runs.
 */
export function wantedWorkersOf(
  demand: Pick<
    HostDemand,
    'ready' | 'active' | 'delayed' | 'parked' | 'concurrency' | 'workers' | 'slots' | 'heldBy'
  >,
): number {
  const fillable =
    demand.heldBy === undefined ? Math.min(demand.ready + demand.active, demand.concurrency) : 0;
  const perWorker = demand.workers === 0 ? demand.concurrency : Math.max(1, demand.slots / demand.workers);
  const needsOne = demand.ready + demand.active + demand.delayed + demand.parked > 0 ? 1 : 0;
  return Math.max(needsOne, Math.ceil(fillable / perWorker));
}

/**
 * The autoscaling signal of `hosts`, from their queues (`queues`: each host's submission and collect queue) on `redis`.
 */
export async function autoscalingSignal(
  redis: RedisConnection,
  config: Config,
  queues: ReadonlyMap<HostName, { submit: Queue; collect: Queue }>,
): Promise<AutoscalingSignal> {
  const hosts = await Promise.all([...queues].map(([host, pair]) => hostDemand(redis, config, host, pair)));
  const workers = Math.max(0, ...hosts.map((host) => host.workers));
  const wantedWorkers = Math.max(0, ...hosts.map((host) => host.wantedWorkers));
  return { workers, wantedWorkers, moreWorkers: Math.max(0, wantedWorkers - workers), hosts };
}

/**
 * The autoscaling signal of every configured host of `config` (its queues opened on `redis` and closed again), for
 * `status` and the metrics.
 */
export async function readAutoscalingSignal(
  redis: RedisConnection,
  config: Config,
  hosts: readonly HostName[],
): Promise<AutoscalingSignal> {
  const submit = openProviderQueues(redis, config.queuePrefix, hosts);
  const collect = openCollectQueues(redis, config.queuePrefix, hosts);
  try {
    const pairs = new Map(
      submit.map(({ name, queue }, index) => [name, { submit: queue, collect: collect[index]!.queue }]),
    );
    return await autoscalingSignal(redis, config, pairs);
  } finally {
    await Promise.all([...submit, ...collect].map(({ queue }) => queue.close()));
  }
}

/**
 * The worker counts of the signal from queues already open (`queues`, `collectQueues`: each host's), for the metrics of
 * a process that holds them (a worker, the dashboard).
 */
export function workerCountsOf(
  redis: RedisConnection,
  config: Config,
  queues: ReadonlyMap<HostName, Queue>,
  collectQueues: ReadonlyMap<HostName, Queue>,
): () => Promise<AutoscalingSignal> {
  const pairs = new Map(
    [...queues].flatMap(([host, submit]) => {
      const collect = collectQueues.get(host);
      return collect === undefined ? [] : [[host, { submit, collect }] as const];
    }),
  );
  return () => autoscalingSignal(redis, config, pairs);
}
