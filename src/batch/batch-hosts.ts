/**
 * What each host did for one batch, and which hosts are set aside now (issue 25: `status`, the dashboard): rows the
 * router handed to it (moves included), images it made and their cost (the batch's stats), and why it is set aside
 * — its queue paused for its account (authentication failed, credit out), a Retry-After running, or its circuit
 * breaker opened by failing calls.
 */
import type { RedisConnection } from '../shared/redis.js';
import { roundUsd } from '../cost/usd.js';
import { RESOLUTION_TIERS } from '../cost/resolution-tier.js';
import { PROVIDER_NAMES } from '../shared/config.js';
import { accountOf, isHostName, providerOf, type HostName } from '../shared/hosts.js';
import { batchKeys } from '../shared/keys.js';
import type { ProviderHealth } from './provider-health.js';

/** One host's part in a batch. */
export interface BatchHost {
  /** The host: a provider, or one of its further accounts (`openai@2`, src/shared/hosts.ts). */
  provider: HostName;
  /** Routed rows handed to it by the router (a row moved on counts on each host it was handed to). */
  routedRows: number;
  /** Images it made for the batch, and their cost, USD. */
  images: number;
  costUsd: number;
  /** Why it is set aside now, when it is: no routed row goes to it meanwhile. */
  setAside?: string;
}

/** What is configured here of the hosts (src/providers/configuration.ts). */
export interface ConfiguredHosts {
  /** Every host (a provider's further accounts are listed when set aside too). */
  accounts: readonly HostName[];
  /** Each host's share of a batch's budget cap, percent (`<PREFIX>_BUDGET_SHARE`). */
  shareOf(host: HostName): number;
}

/**
 * The hosts of batch `batchId` that took part in it or are set aside now, from its stats (`counters`, the stats hash)
 * and Redis; with the batch's budget cap `capUsd` (undefined: none), an account that used its share of it is set aside.
 */
export async function batchHosts(
  redis: RedisConnection,
  prefix: string,
  batch: { batchId: string; counters: Record<string, number>; capUsd: number | undefined },
  health: ProviderHealth,
  configured: ConfiguredHosts = { accounts: [], shareOf: () => 100 },
): Promise<BatchHost[]> {
  const { batchId, counters } = batch;
  const accounts = configured.accounts;
  const routed = await redis.hgetall(batchKeys(prefix, batchId).routedTo);
  const further = furtherAccountsIn([...accounts, ...Object.keys(routed), ...Object.keys(counters)]);
  const hosts: BatchHost[] = [];
  for (const host of [...PROVIDER_NAMES, ...[...further].sort()]) {
    const { images, costUsd } = madeBy(host, counters, further);
    const setAside =
      (await setAsideReason(host, health)) ?? shareUsed(costUsd, configured.shareOf(host), batch.capUsd);
    const routedRows = Number(routed[host] ?? 0);
    if (routedRows === 0 && images === 0 && setAside === undefined) continue;
    hosts.push({
      provider: host,
      routedRows,
      images,
      costUsd: roundUsd(costUsd),
      ...(setAside === undefined ? {} : { setAside }),
    });
  }
  return hosts;
}

/** Accounts' shares of a batch's budget cap (`<PREFIX>_BUDGET_SHARE`, percent), as workers and routers hold them. */
export interface BudgetShares {
  shareOf(host: HostName): number;
  /** What `host` spent in the batch (USD, the estimate of its rows) and the batch's cap (undefined: none). */
  spend(batchId: string, host: HostName): Promise<{ spentUsd: number; capUsd: number | undefined }>;
}

/**
 * Whether `host` may take a row of `usd` in batch `batchId` within its share of the batch's budget cap (`shares`):
 * always without a share below 100 % or without a cap (the cap itself is held by admission, src/worker/admission.ts).
 * The spend counts rows finished: a row in flight on the account when it reaches its share may pass it by its cost.
 */
export async function withinBudgetShare(
  shares: BudgetShares | undefined,
  batchId: string,
  host: HostName,
  usd: number,
): Promise<boolean> {
  const share = shares?.shareOf(host) ?? 100;
  if (share >= 100) return true;
  const { spentUsd, capUsd } = await shares!.spend(batchId, host);
  return capUsd === undefined || spentUsd + usd <= (capUsd * share) / 100 + 1e-9;
}

/**
 * What `host` has spent on batch `batchId` so far (the estimate of the rows it made, USD) and the batch's budget cap
 * (undefined: none): what an account's budget share is held to (src/worker/router.ts).
 */
export async function hostSpend(
  redis: RedisConnection,
  prefix: string,
  batchId: string,
  host: HostName,
): Promise<{ spentUsd: number; capUsd: number | undefined }> {
  const keys = batchKeys(prefix, batchId);
  const [stats, cap] = await Promise.all([redis.hgetall(keys.stats), redis.hget(keys.meta, 'budget_usd')]);
  const counters = Object.fromEntries(Object.entries(stats).map(([name, value]) => [name, Number(value)]));
  const further = furtherAccountsIn(Object.keys(counters));
  const capUsd = cap === null || cap === '' ? undefined : Number(cap);
  return { spentUsd: madeBy(host, counters, further).costUsd, capUsd };
}

/**
 * The further accounts (`openai@2`) named in `names`: hosts, and the stats counters `host_images:<host>` of accounts
 * that made images.
 */
function furtherAccountsIn(names: Iterable<string>): Set<HostName> {
  const further = new Set<HostName>();
  for (const name of names) {
    const host = name.replace(/^host_images:/, '');
    if (isHostName(host) && accountOf(host) > 1) further.add(host);
  }
  return further;
}

/**
 * The images `host` made and their cost: a further account's own counters; a provider's first account, the provider's
 * figures less its further accounts'.
 */
function madeBy(
  host: HostName,
  counters: Record<string, number>,
  further: ReadonlySet<HostName>,
): { images: number; costUsd: number } {
  if (accountOf(host) > 1)
    return { images: counters[`host_images:${host}`] ?? 0, costUsd: counters[`host_cost_usd:${host}`] ?? 0 };
  let images = 0;
  let costUsd = 0;
  for (const tier of RESOLUTION_TIERS) {
    images += counters[`images:${host}:${tier}`] ?? 0;
    costUsd += counters[`cost_usd:${host}:${tier}`] ?? 0;
  }
  for (const other of further) {
    if (providerOf(other) !== host) continue;
    images -= counters[`host_images:${other}`] ?? 0;
    costUsd -= counters[`host_cost_usd:${other}`] ?? 0;
  }
  return { images, costUsd };
}

/** "its budget share is used" when a host spent `costUsd` of its `share` percent of the batch's cap. */
function shareUsed(costUsd: number, share: number, capUsd: number | undefined): string | undefined {
  if (share >= 100 || capUsd === undefined) return undefined;
  const allowed = (capUsd * share) / 100;
  if (costUsd < allowed - 1e-9) return undefined;
  return `its budget share is used — $${roundUsd(costUsd)} of its ${share} % of the $${capUsd} cap`;
}

/** Why `provider` is set aside now, or undefined when it is open. */
async function setAsideReason(provider: HostName, health: ProviderHealth): Promise<string | undefined> {
  const paused = await health.pauseReason(provider);
  if (paused !== undefined) return `paused for its account — ${paused}`;
  const waitMs = await health.retryAfterRemainingMs(provider);
  if (waitMs > 0) return `rate limited — its Retry-After ends in ${Math.ceil(waitMs / 1000)} s`;
  const opens = await health.opens(provider);
  if (opens > 0) return `failing — its circuit breaker opened ${opens} time(s) since its last success`;
  return undefined;
}
