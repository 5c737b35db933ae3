/**
 * Routing rows with several candidate hosts (issue 25): such a row waits in the route queue (`route`) and a router
 * worker chooses its host when a host can start it soon — not when it is enqueued — so a host that slows down, is
 * throttled or is paused for its account stops getting rows at once.
 *
 * - `cheapest`: the cheapest candidate (priced now: the row's size plan, served prices, pricing-file overrides) that is
 *   healthy and not backed up; the next cheapest only when it is not.
 * - `fastest`: the healthy candidate where the row would start first (its waiting and running rows over its rate
 *   limit), so the rows spread in proportion to the hosts' rate limits and the batch runs at their summed rate.
 *
 * `--max-premium` bounds either: a host dearer than the row's cheapest candidate by more than that is not used.
 *
 * A host is left out while its queue is paused for its account, throttled (a 429's Retry-After, an open circuit
 * breaker) or backed up: more rows wait on it than it starts in {@link START_SOON_MS} at its rate limit (it cannot
 * start one soon). The choice is saved in the
 * routing job before the row is added to that host's queue (with the row's one job id), so a router killed in between
 * hands the row to the same host when the job is recovered: a row is in flight on at most one host. A row a host
 * certainly did not bill (refused before sending, 401/402/403, 429) comes back here from the settlement step with that
 * host among `tried` (./settlement.ts `moveToAnotherHost`); a row with no host left fails, naming why each was left.
 */
import { DelayedError, type Job, type JobsOptions, type Queue } from 'bullmq';
import { holdUntilApproved } from '../batch/canary.js';
import { recordRowOutcome } from '../batch/row-outcome.js';
import { failedLine, lineBase } from '../batch/results-line.js';
import type { BatchStore } from '../batch/batch-store.js';
import type { ProviderHealth } from '../batch/provider-health.js';
import { ROUTE_HOLDER, type RowHosts } from '../batch/row-hosts.js';
import { addBatchJobs } from '../batch/fair-share.js';
import type { BatchPriorities } from '../batch/priority.js';
import { withinBudgetShare, type BudgetShares } from '../batch/batch-hosts.js';
import { quoteRequest, type PriceCatalogue } from '../cost/price-catalogue.js';
import type { ImageProvider } from '../providers/provider.js';
import { sizePlanOf } from '../providers/tier-sizes.js';
import { accountOf, providerOf, type HostName } from '../shared/hosts.js';
import type { ImageJobData, RowRouting } from '../shared/job-definitions.js';
import { jobIdFor, routeJobIdFor } from '../shared/keys.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';
import { HostLoads } from './host-loads.js';
import { effectiveRequestsPerMinute, type HostCapacity } from './host-capacity.js';

/** How long a row no host can start now waits before it is looked at again, ms. */
export const ROUTE_RETRY_MS = 1000;

/**
 * "Soon": a host whose waiting rows it starts within this long (at its rate limit) can take another; the cheapest host
 * is passed over only when it cannot, ms.
 */
export const START_SOON_MS = 10_000;

/** What the router needs. */
export interface RouterDependencies {
  /** The adapters this process serves: a row goes only to one of them. */
  providers: ReadonlyMap<HostName, ImageProvider>;
  queueFor(provider: HostName): Queue;
  routeQueue: Queue;
  health: ProviderHealth;
  store: BatchStore;
  /** Which host holds each routed row (src/batch/row-hosts.ts). */
  rowHosts: RowHosts;
  /** A batch's price catalogue and output root, read once per batch (./job-run.ts `BatchFacts`). */
  facts: {
    catalogue(batchId: string): Promise<PriceCatalogue>;
    outputRoot(batchId: string): Promise<string>;
  };
  /** Jobs at once and requests per minute of each host (its capacity). */
  capacityOf(provider: HostName): { concurrency: number; requestsPerMinute: number };
  /** The limits hosts announced (./host-capacity.ts): a lower request rate weighs a host less. */
  capacity?: HostCapacity;
  /** Accounts' shares of a batch's budget cap: an account past its share takes no more of its rows. Absent: none. */
  budgetShares?: BudgetShares;
  /** Counts the rows routed to each host; absent: not counted. */
  metrics?: Metrics;
  /** Attempts and backoff of the jobs the router adds. */
  jobOptions: JobsOptions;
  log: Logger;
}

/** What a routing job returns. */
export interface RouteResult {
  status: 'routed' | 'failed';
  provider?: HostName;
}

/** A candidate host, priced for the row now. */
interface PricedCandidate {
  provider: HostName;
  data: ImageJobData;
  usd: number;
  /** Whether it can start the row soon. */
  open: boolean;
  /** How long the row would wait there now, s (`hostLoad`). */
  waitS: number;
}

/** The job data of `data` on `host`: its provider and account, its size plan and served price made for that host. */
export function dataOnHost(data: ImageJobData, host: HostName, adapter: ImageProvider): ImageJobData {
  const { sizePlan: _plan, servedUsdPerImage: _served, account: _account, ...rest } = data;
  const onHost: ImageJobData = { ...rest, provider: providerOf(host) };
  if (accountOf(host) > 1) onHost.account = accountOf(host);
  const plan = adapter.planSize?.(onHost);
  if (plan !== undefined) onHost.sizePlan = sizePlanOf(plan);
  const served = adapter.servedPrice?.(onHost);
  if (served !== undefined) onHost.servedUsdPerImage = served;
  return onHost;
}

/** Build the processor of the route queue. */
export function createRouter(deps: RouterDependencies) {
  // Each choice reads the hosts' loads (and, for `fastest`, their rows so far), then hands one more row to one of them:
  // one choice at a time in this process, so concurrent routing jobs do not all read the same loads and pick the same
  // host (hosts at one price — accounts of one provider — are told apart by their loads alone).
  let choices: Promise<unknown> = Promise.resolve();
  const loads = new HostLoads(deps);
  return async function routeRow(job: Job<ImageJobData>, token?: string): Promise<RouteResult> {
    const routing = job.data.routing;
    if (routing === undefined) throw new Error(`routing job ${job.id} carries no routing`);
    // Chosen before a crash: hand the row to that same host (the add is a no-op if it got there).
    if (routing.assigned !== undefined) return handTo(deps, job, routing.assigned);
    const turn = choices.then(() => chooseAndHand(deps, loads, job, token));
    choices = turn.catch(() => undefined);
    return turn;
  };
}

/** Choose the row's host by its policy and hand it over; no candidate open: look again in {@link ROUTE_RETRY_MS}. */
async function chooseAndHand(
  deps: RouterDependencies,
  loads: HostLoads,
  job: Job<ImageJobData>,
  token: string | undefined,
): Promise<RouteResult> {
  const data = job.data;
  // A row outside an awaiting canary gets no host before approval (a held job promoted by hand).
  if (await heldForCanary(deps.store, data)) return holdUntilApproved(deps.store.canary, job, token);
  const routing = data.routing!;
  const left = routing.candidates.filter((name) => !routing.tried.some((tried) => tried.provider === name));
  if (left.length === 0) return failWithoutHost(deps, data);
  const open = await openCandidates(deps, loads, data, left);
  const eligible = withinPremium(routing, open);
  const handed = routing.policy === 'fastest' ? await deps.rowHosts.handedPerHost(data.batchId) : {};
  const chosen = choose(deps, routing, eligible, handed);
  if (chosen === undefined) {
    await job.moveToDelayed(Date.now() + ROUTE_RETRY_MS, token);
    throw new DelayedError('no candidate host can start the row now');
  }
  await job.updateData({ ...chosen.data, routing: { ...routing, assigned: chosen.provider } });
  loads.handed(chosen.provider);
  return handTo(deps, job, chosen.provider);
}

/** Whether the row of `data` waits for its batch's canary: the canary awaits approval and the row is not in it. */
async function heldForCanary(store: BatchStore, data: ImageJobData): Promise<boolean> {
  if ((await store.canary.settings(data.batchId))?.state !== 'awaiting') return false;
  const [inCanary] = await store.canary.areCanaryRows(data.batchId, [data.rowKey]);
  return inCanary !== true;
}

/**
 * Give the row to `provider` (its holder from now: src/batch/row-hosts.ts) and add it to that host's queue under its
 * one job id. A row another host holds already (a routing job run twice) is left where it is.
 */
async function handTo(
  deps: RouterDependencies,
  job: Job<ImageJobData>,
  provider: HostName,
): Promise<RouteResult> {
  const { routing: _routing, ...data } = job.data;
  const routing = job.data.routing!;
  // The row's holder from now (src/batch/row-hosts.ts): only from no one (first routing) or the route queue.
  const holder = await deps.rowHosts.holder(data.batchId, data.rowKey);
  const from = routing.tried.length === 0 && holder === undefined ? '' : ROUTE_HOLDER;
  if (holder !== provider && !(await deps.rowHosts.move(data.batchId, data.rowKey, from, provider))) {
    deps.log.warn({ row: data.rowKey, holder }, 'another host holds the row already; not routing it again');
    return { status: 'routed', provider: holder as HostName };
  }
  const adapter = deps.providers.get(provider);
  const onHost =
    adapter === undefined ? bareDataOnHost(data, provider) : dataOnHost(job.data, provider, adapter);
  await addBatchJobs(deps.queueFor(provider), deps.store.priorities, data.batchId, [
    {
      name: data.operation,
      data: { ...onHost, routing },
      opts: { ...deps.jobOptions, jobId: jobIdFor(data.batchId, data.rowKey) },
    },
  ]);
  deps.metrics?.rowsRouted.inc({ provider });
  deps.log.debug({ row: data.rowKey, provider }, 'row routed');
  return { status: 'routed', provider };
}

/** `data` on `host` without its adapter (a router that does not serve the host it chose before a crash). */
function bareDataOnHost(data: ImageJobData, host: HostName): ImageJobData {
  const { account: _account, ...rest } = data;
  return {
    ...rest,
    provider: providerOf(host),
    ...(accountOf(host) > 1 ? { account: accountOf(host) } : {}),
  };
}

/**
 * Every candidate left that this process serves, priced now, each saying whether it can start the row soon: not
 * paused for its account, not throttled, and holding fewer waiting rows than it runs at once.
 */
async function openCandidates(
  deps: RouterDependencies,
  loads: HostLoads,
  data: ImageJobData,
  left: readonly HostName[],
): Promise<PricedCandidate[]> {
  const catalogue = await deps.facts.catalogue(data.batchId);
  const priced: PricedCandidate[] = [];
  for (const provider of left) {
    const adapter = deps.providers.get(provider);
    if (adapter === undefined) continue;
    const onHost = dataOnHost(data, provider, adapter);
    const quote = quoteRequest(catalogue, providerOf(provider), onHost, adapter.defaultQuality);
    const usd = quote.unpriced === true ? Number.POSITIVE_INFINITY : quote.usd;
    const load = await hostLoad(deps, loads, provider);
    const open = load.open && (await withinBudgetShare(deps.budgetShares, data.batchId, provider, usd));
    priced.push({ provider, data: onHost, usd, ...load, open });
  }
  return priced;
}

/**
 * A host's capacity in rows a second: its rate limit, or — without one — its concurrency at a second a request (a
 * guess that only weighs hosts without a limit against each other).
 */
function rowsPerSecond(deps: RouterDependencies, provider: HostName, announced?: number): number {
  const { requestsPerMinute: configured, concurrency } = deps.capacityOf(provider);
  const requestsPerMinute = effectiveRequestsPerMinute(configured, announced);
  return requestsPerMinute > 0 ? requestsPerMinute / 60 : Math.max(1, concurrency);
}

/**
 * How loaded `provider` is now: whether it can start a row soon — not paused for its account, not throttled, and
 * the rows waiting on it fewer than it starts in {@link START_SOON_MS} at its capacity (at least one) —
 * and how long a row handed to it now would wait, s (its waiting and running rows over its capacity).
 */
async function hostLoad(
  deps: RouterDependencies,
  loads: HostLoads,
  provider: HostName,
): Promise<{ open: boolean; waitS: number }> {
  const { waiting, active, paused, rateLimitTtlMs, failing, announcedRequestsPerMinute } =
    await loads.of(provider);
  const perSecond = rowsPerSecond(deps, provider, announcedRequestsPerMinute);
  const waitS = (waiting + active + 1) / perSecond;
  // The queue's limiter holds it back between two requests at its pace (a second at 60 a minute): only a longer hold
  // (a Retry-After, an open circuit breaker) makes it throttled.
  const paceMs = 60_000 / Math.max(1, deps.capacityOf(provider).requestsPerMinute);
  if (paused || rateLimitTtlMs > Math.max(ROUTE_RETRY_MS, 2 * paceMs)) return { open: false, waitS };
  // A failing host (its breaker opened since its last success) gets one row at a time, its probe: rows handed to it
  // now would only wait there, or leave it again when the probe fails.
  if (failing) return { open: waiting + active === 0, waitS };
  const backlog = Math.max(1, (perSecond * START_SOON_MS) / 1000);
  return { open: waiting < backlog, waitS };
}

/**
 * The open candidates within the row's premium bound (`--max-premium`: at most that many percent over its cheapest
 * candidate priced now, open or not).
 */
function withinPremium(routing: RowRouting, priced: readonly PricedCandidate[]): PricedCandidate[] {
  const open = priced.filter((candidate) => candidate.open);
  if (routing.maxPremiumPercent === undefined || priced.length === 0) return open;
  const cheapest = Math.min(...priced.map((candidate) => candidate.usd));
  const ceiling = cheapest * (1 + routing.maxPremiumPercent / 100) + 1e-9;
  return open.filter((candidate) => candidate.usd <= ceiling);
}

/**
 * The candidate the policy picks among the open ones, or undefined when none is open. `cheapest`: the lowest price
 * (on a tie, the one where the row would start first).
 * `fastest`: the host where the row would start first — its waiting and running rows over its capacity — so rows
 * spread over the hosts in proportion to their rate limits and a host back from an outage takes its part at once; on
 * a tie, the one furthest behind its share of the batch's rows (rows handed to it for its capacity, counted in Redis
 * across every router), then the cheaper.
 */
function choose(
  deps: RouterDependencies,
  routing: RowRouting,
  open: readonly PricedCandidate[],
  handed: Partial<Record<string, number>>,
): PricedCandidate | undefined {
  if (open.length === 0) return undefined;
  // Hosts at one price (accounts of one provider): the one where the row would start first.
  if (routing.policy === 'cheapest') return [...open].sort((a, b) => a.usd - b.usd || a.waitS - b.waitS)[0];
  const share = (candidate: PricedCandidate) =>
    ((handed[candidate.provider] ?? 0) + 1) / rowsPerSecond(deps, candidate.provider);
  return [...open].sort((a, b) => a.waitS - b.waitS || share(a) - share(b) || a.usd - b.usd)[0];
}

/** Every candidate host has been left: the row fails, its line saying why each was. */
async function failWithoutHost(deps: RouterDependencies, data: ImageJobData): Promise<RouteResult> {
  const tried = data.routing?.tried ?? [];
  const reasons = tried.map((host) => `${host.provider}: ${host.reason}`).join('; ');
  const line = failedLine(lineBase(data, data.model ?? 'gpt-image-2', tried.length, undefined), {
    code: 'no_host_left',
    message: `every candidate host was left without billing the row — ${reasons}`,
    requestId: null,
  });
  const outputRoot = await deps.facts.outputRoot(data.batchId);
  await recordRowOutcome(deps.store, data, line, outputRoot);
  deps.log.warn({ row: data.rowKey, reasons }, 'row failed: no candidate host left');
  return { status: 'failed' };
}

/** Where a row goes back to be routed again. */
export interface RouteBack {
  routeQueue: Queue;
  jobOptions: JobsOptions;
  rowHosts: RowHosts;
  /** The batches' priorities: the row's routing job gets its batch's (src/batch/priority.ts). */
  priorities: BatchPriorities;
  /** Counts the rows moved, by host and reason. */
  metrics?: Metrics;
}

/** The kind of reason a row left a host, as a metric label. */
function movedReasonKind(reason: string): string {
  if (/not started/.test(reason)) return 'not_started';
  if (/^rate limited/.test(reason)) return 'rate_limited';
  if (/^host unavailable/.test(reason)) return 'unavailable';
  return 'account';
}

/**
 * Send a row back to the route queue after `left.provider` certainly did not bill it (refused before sending,
 * 401/402/403, 429), with that host among `tried`: first the host gives the row up (so its job can no longer send it,
 * src/batch/row-hosts.ts), then the routing job is added under an id of its round (added once, however often this
 * runs). @returns false when the row has no other candidate (it stays where it is).
 */
export async function sendBackToRoute(
  back: RouteBack,
  data: ImageJobData,
  left: { provider: HostName; reason: string },
): Promise<boolean> {
  const routing = data.routing;
  if (routing === undefined) return false;
  const tried = [...routing.tried, left];
  const remaining = routing.candidates.filter((name) => !tried.some((host) => host.provider === name));
  if (remaining.length === 0) return false;
  // Given up by this host now, or by it before a crash (then the route job may be missing: added below).
  if (await back.rowHosts.move(data.batchId, data.rowKey, left.provider, ROUTE_HOLDER))
    back.metrics?.rowsMoved.inc({ provider: left.provider, reason: movedReasonKind(left.reason) });
  if ((await back.rowHosts.holder(data.batchId, data.rowKey)) !== ROUTE_HOLDER) return true;
  const {
    providerRequest: _request,
    submissionStartedAt: _sent,
    acceptedOnAttempt: _accepted,
    ...rest
  } = data;
  const { assigned: _assigned, ...kept } = routing;
  await addBatchJobs(back.routeQueue, back.priorities, data.batchId, [
    {
      name: data.operation,
      data: { ...rest, routing: { ...kept, tried } },
      opts: { ...back.jobOptions, jobId: routeJobIdFor(data.batchId, data.rowKey, tried.length) },
    },
  ]);
  return true;
}
