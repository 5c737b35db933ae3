/**
 * Prometheus metrics (prom-client), served at `/metrics` by workers (`--metrics-port`) and the dashboard: jobs by
 * state and provider (read from the queues at scrape time), provider call latency, 429s, retries, rows finished and
 * USD spent by provider and resolution tier (counters, so rates and sums survive scrapes).
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { HostName } from './hosts.js';

/** Something that counts a queue's jobs by state (a BullMQ Queue). */
export interface CountableQueue {
  getJobCounts(...states: string[]): Promise<Record<string, number>>;
}

/** The autoscaling signal's counts (src/batch/autoscaling.ts), read at scrape time. */
export type WorkerCounts = () => Promise<{ workers: number; wantedWorkers: number; moreWorkers: number }>;

/** The metrics of one process. */
export class Metrics {
  readonly registry = new Registry();
  readonly providerLatency: Histogram<'provider' | 'operation' | 'outcome'>;
  readonly rateLimited: Counter<'provider'>;
  readonly retries: Counter<'provider' | 'code'>;
  readonly rows: Counter<'provider' | 'status'>;
  readonly spentUsd: Counter<'provider' | 'tier'>;
  /** Routed rows the router handed to each host (src/worker/router.ts). */
  readonly rowsRouted: Counter<'provider'>;
  /** Routed rows that left a host unbilled, by host and why (`account`, `rate_limited`, `not_started`, `unavailable`). */
  readonly rowsMoved: Counter<'provider' | 'reason'>;
  /** 1 while a host is set aside for its account (paused: authentication failed, credit out), else 0. */
  readonly hostSetAside: Gauge<'provider'>;

  /**
   * @param queues provider queues (submissions) whose job counts are reported at each scrape, as `queue="submit"`.
   * @param collectQueues the providers' collect queues (collections of accepted async requests), as `queue="collect"`.
   * @param workerCounts the autoscaling signal, as `image_batch_workers{count="running|wanted|more"}`.
   */
  constructor(
    queues: ReadonlyMap<HostName, CountableQueue> = new Map(),
    collectQueues: ReadonlyMap<HostName, CountableQueue> = new Map(),
    workerCounts?: WorkerCounts,
  ) {
    const registers = [this.registry];
    this.providerLatency = new Histogram({
      name: 'image_batch_provider_request_seconds',
      help: 'Duration of paid provider submissions and async waits, seconds',
      labelNames: ['provider', 'operation', 'outcome'],
      buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300],
      registers,
    });
    this.rateLimited = new Counter({
      name: 'image_batch_rate_limited_total',
      help: '429 answers (and throttles) by provider',
      labelNames: ['provider'],
      registers,
    });
    this.retries = new Counter({
      name: 'image_batch_retries_total',
      help: 'Attempts that failed and will be retried',
      labelNames: ['provider', 'code'],
      registers,
    });
    this.rows = new Counter({
      name: 'image_batch_rows_total',
      help: 'Rows finished, by provider and status',
      labelNames: ['provider', 'status'],
      registers,
    });
    this.spentUsd = new Counter({
      name: 'image_batch_spent_usd_total',
      help: 'USD spent (actual where reported, else estimated) by provider and resolution tier',
      labelNames: ['provider', 'tier'],
      registers,
    });
    ({
      rowsRouted: this.rowsRouted,
      rowsMoved: this.rowsMoved,
      hostSetAside: this.hostSetAside,
    } = routingMetrics(registers));
    new Gauge({
      name: 'image_batch_jobs',
      help: 'Jobs in the provider queues by queue (submit, collect) and state',
      labelNames: ['provider', 'queue', 'state'],
      registers,
      async collect() {
        const kinds = [
          ['submit', queues],
          ['collect', collectQueues],
        ] as const;
        for (const [kind, byProvider] of kinds) {
          for (const [provider, queue] of byProvider) {
            const counts = await queue.getJobCounts(
              'waiting',
              'active',
              'delayed',
              'prioritized',
              'completed',
              'failed',
            );
            for (const [state, count] of Object.entries(counts))
              this.set({ provider, queue: kind, state }, count);
          }
        }
      },
    });
    if (workerCounts !== undefined) workerGauge(registers, workerCounts);
  }

  /** The text exposition for a scrape. */
  async expose(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/** `image_batch_workers{count}`: the autoscaling signal (src/batch/autoscaling.ts), read at each scrape. */
function workerGauge(registers: Registry[], workerCounts: WorkerCounts): Gauge<'count'> {
  return new Gauge({
    name: 'image_batch_workers',
    help: 'Worker processes running, those the queued work could use now, and how many more (scale workers on it)',
    labelNames: ['count'],
    registers,
    async collect() {
      const counts = await workerCounts();
      this.set({ count: 'running' }, counts.workers);
      this.set({ count: 'wanted' }, counts.wantedWorkers);
      this.set({ count: 'more' }, counts.moreWorkers);
    },
  });
}

/** The metrics of routing over several hosts: rows handed to each host, rows moved off one, hosts set aside. */
function routingMetrics(registers: Registry[]) {
  return {
    rowsRouted: new Counter({
      name: 'image_batch_rows_routed_total',
      help: 'Rows with several candidate hosts handed to a host by the router',
      labelNames: ['provider'],
      registers,
    }),
    rowsMoved: new Counter({
      name: 'image_batch_rows_moved_total',
      help: 'Routed rows that left a host that certainly did not bill them, by host and reason',
      labelNames: ['provider', 'reason'],
      registers,
    }),
    hostSetAside: new Gauge({
      name: 'image_batch_host_set_aside',
      help: '1 while a host is set aside for its account (queue paused: authentication failed, credit out)',
      labelNames: ['provider'],
      registers,
    }),
  };
}
