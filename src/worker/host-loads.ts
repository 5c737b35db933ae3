/**
 * Each candidate host's load as one router process sees it (./router.ts): rows waiting and running on its queue,
 * whether it is paused for its account or throttled. Read from Redis at most every {@link HOST_LOAD_MAX_AGE_MS} per
 * host and kept current in between with the rows this router hands to it, so routing a burst of rows costs a few
 * reads, not several per row and host.
 */
import type { Queue } from 'bullmq';
import type { ProviderHealth } from '../batch/provider-health.js';
import type { HostName } from '../shared/hosts.js';
import type { HostCapacity } from './host-capacity.js';

/** How old a host's load may be before it is read again, ms. */
export const HOST_LOAD_MAX_AGE_MS = 250;

/** A host's load now. */
export interface HostLoad {
  /** Rows waiting on its queue (prioritized included). */
  waiting: number;
  /** Rows it is running. */
  active: number;
  /** Paused for its account (authentication failed, credit out). */
  paused: boolean;
  /** How much longer its queue is held back (a Retry-After, an open circuit breaker), ms. */
  rateLimitTtlMs: number;
  /** Its circuit breaker opened since its last successful call: it is being probed. */
  failing: boolean;
  /** The requests a minute it announced in its rate-limit headers, when it did (./host-capacity.ts). */
  announcedRequestsPerMinute?: number;
}

/** The loads of the hosts of one router process. */
export class HostLoads {
  private readonly loads = new Map<HostName, { at: number; load: HostLoad }>();

  constructor(
    private readonly source: {
      queueFor(provider: HostName): Queue;
      health: ProviderHealth;
      capacity?: HostCapacity;
    },
    private readonly maxAgeMs = HOST_LOAD_MAX_AGE_MS,
  ) {}

  /** `provider`'s load, read again when older than the maximum age. */
  async of(provider: HostName): Promise<HostLoad> {
    const cached = this.loads.get(provider);
    if (cached !== undefined && Date.now() - cached.at < this.maxAgeMs) return cached.load;
    const queue = this.source.queueFor(provider);
    const [counts, reason, rateLimitTtlMs, failing, announced] = await Promise.all([
      queue.getJobCounts('waiting', 'prioritized', 'active'),
      this.source.health.pauseReason(provider),
      queue.getRateLimitTtl(),
      this.source.health.failing(provider),
      this.source.capacity?.announced(provider),
    ]);
    const load: HostLoad = {
      waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0),
      active: counts.active ?? 0,
      paused: reason !== undefined,
      rateLimitTtlMs: Math.max(0, rateLimitTtlMs),
      failing,
      ...(announced?.requestsPerMinute === undefined
        ? {}
        : { announcedRequestsPerMinute: announced.requestsPerMinute }),
    };
    this.loads.set(provider, { at: Date.now(), load });
    return load;
  }

  /** This router handed a row to `provider`: it waits there until the next read says otherwise. */
  handed(provider: HostName): void {
    const cached = this.loads.get(provider);
    if (cached !== undefined) cached.load.waiting += 1;
  }
}
