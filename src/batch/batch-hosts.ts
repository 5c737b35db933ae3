/**
 * What each host did for one batch, and which hosts are set aside now (issue 25: `status`, the dashboard): rows the
 * router handed to it (moves included), images it made and their cost (the batch's stats), and why it is set aside
 * — its queue paused for its account (authentication failed, credit out), a Retry-After running, or its circuit
 * breaker opened by failing calls.
 */
import type { Redis } from 'ioredis';
import { roundUsd } from '../cost/usd.js';
import { RESOLUTION_TIERS } from '../cost/resolution-tier.js';
import { PROVIDER_NAMES, type ProviderName } from '../shared/config.js';
import { batchKeys } from '../shared/keys.js';
import type { ProviderHealth } from './provider-health.js';

/** One host's part in a batch. */
export interface BatchHost {
  provider: ProviderName;
  /** Routed rows handed to it by the router (a row moved on counts on each host it was handed to). */
  routedRows: number;
  /** Images it made for the batch, and their cost, USD. */
  images: number;
  costUsd: number;
  /** Why it is set aside now, when it is: no routed row goes to it meanwhile. */
  setAside?: string;
}

/**
 * The hosts of batch `batchId` that took part in it or are set aside now, from its stats (`counters`, the stats hash)
 * and Redis.
 */
export async function batchHosts(
  redis: Redis,
  prefix: string,
  batchId: string,
  counters: Record<string, number>,
  health: ProviderHealth,
): Promise<BatchHost[]> {
  const routed = await redis.hgetall(batchKeys(prefix, batchId).routedTo);
  const hosts: BatchHost[] = [];
  for (const provider of PROVIDER_NAMES) {
    let images = 0;
    let costUsd = 0;
    for (const tier of RESOLUTION_TIERS) {
      images += counters[`images:${provider}:${tier}`] ?? 0;
      costUsd += counters[`cost_usd:${provider}:${tier}`] ?? 0;
    }
    const setAside = await setAsideReason(provider, health);
    const routedRows = Number(routed[provider] ?? 0);
    if (routedRows === 0 && images === 0 && setAside === undefined) continue;
    hosts.push({
      provider,
      routedRows,
      images,
      costUsd: roundUsd(costUsd),
      ...(setAside === undefined ? {} : { setAside }),
    });
  }
  return hosts;
}

/** Why `provider` is set aside now, or undefined when it is open. */
async function setAsideReason(provider: ProviderName, health: ProviderHealth): Promise<string | undefined> {
  const paused = await health.pauseReason(provider);
  if (paused !== undefined) return `paused for its account — ${paused}`;
  const waitMs = await health.retryAfterRemainingMs(provider);
  if (waitMs > 0) return `rate limited — its Retry-After ends in ${Math.ceil(waitMs / 1000)} s`;
  const opens = await health.opens(provider);
  if (opens > 0) return `failing — its circuit breaker opened ${opens} time(s) since its last success`;
  return undefined;
}
