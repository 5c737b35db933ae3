/**
 * The producer's running estimate of what the rows it enqueues will cost, by resolution tier and by provider × tier,
 * with how many rows are priced from derived figures, from the user's pricing file, or not at all.
 */
import { RESOLUTION_TIERS, type ResolutionTier } from '../cost/resolution-tier.js';
import { roundUsd } from '../cost/usd.js';
import type { ProviderName } from '../shared/config.js';
import type { ImageJobData, Operation, Quality } from '../shared/job-definitions.js';

/** Estimated cost of rows, by resolution tier and by provider × tier. */
export interface CostEstimate {
  costUsd: number;
  byTier: Record<ResolutionTier, { images: number; cost_usd: number }>;
  byProvider: Partial<Record<ProviderName, Record<ResolutionTier, { images: number; cost_usd: number }>>>;
  /** Rows priced from a derived figure (the provider publishes none for them). */
  estimatedRows: number;
  /** Rows priced from the user's pricing file. */
  overriddenRows: number;
  /** Rows no published figure prices (counted at $0 in the sums above; see `unpricedReasons`). */
  unpricedRows: number;
  /** Why rows are unpriced, each reason once. */
  unpricedReasons: string[];
  /**
   * Rows grouped by provider, size, quality (as billed: the provider's default where the row names none) and mode,
   * with their images and estimated USD — what the cheaper-equivalent hints look at. At most
   * {@link MAX_ROW_GROUPS} groups are kept.
   */
  rowGroups: Record<string, RowGroup>;
  /** How many groups `rowGroups` holds. */
  rowGroupCount: number;
  /** Rows sent realtime to the one host they name (not routed, not through the Batch API), by provider: the plan of a finish-by time. */
  realtimeRows: Partial<Record<ProviderName, number>>;
  /** Rows that will copy an earlier output of the same request (`--reuse`), estimated free. */
  reusedRows: number;
  /** Rows going through OpenAI's Batch API: their estimate, and what they would cost realtime. */
  batchDelivery: { rows: number; costUsd: number; realtimeUsd: number };
  /**
   * Rows with several candidate hosts: their estimate on the host the plan sends each to (the cheapest), what they
   * would cost each on its most expensive candidate, and pinned to the first host it names; and by host, the rows
   * each accepts and what they would cost there (a host that accepts them all is a single host they could all use).
   */
  routed: {
    rows: number;
    costUsd: number;
    mostExpensiveUsd: number;
    firstNamedUsd: number;
    /** Of them, rows routed `fastest`: estimated at the dearest host they may go to. */
    fastestRows: number;
    byHost: Partial<Record<ProviderName, { rows: number; usd: number }>>;
  };
}

/** Rows of one provider × size × quality × mode. */
export interface RowGroup {
  provider: ProviderName;
  resolution: string;
  quality: Quality;
  operation: Operation;
  rows: number;
  images: number;
  costUsd: number;
}

/** Row groups kept for hints; a manifest with more distinct groups gets hints for the first ones. */
export const MAX_ROW_GROUPS = 1000;

/** A row checked and priced, waiting to be registered and added in its chunk. */
export interface PendingRow {
  rowKey: string;
  source: string;
  data: ImageJobData;
  tier: ResolutionTier;
  images: number;
  costUsd: number;
  estimated: boolean;
  overridden: boolean;
  /** Why no figure prices the row, when none does. */
  unpriced?: string;
  /** The quality the row is billed at: its own, else its provider's default. */
  billedQuality: Quality;
  /** For a Batch API row: what it would cost realtime, USD. */
  realtimeUsd?: number;
  /** For a row with several candidate hosts: what it costs on each that accepts it, in the order named, USD. */
  alternatives?: Array<{ provider: ProviderName; usd: number }>;
  /** A reuse row whose request has an earlier output under the output root: estimated free (src/worker/reuse.ts). */
  reused?: true;
}

function emptyTiers(): CostEstimate['byTier'] {
  const byTier = {} as CostEstimate['byTier'];
  for (const tier of RESOLUTION_TIERS) byTier[tier] = { images: 0, cost_usd: 0 };
  return byTier;
}

export function emptyEstimate(): CostEstimate {
  return {
    costUsd: 0,
    byTier: emptyTiers(),
    byProvider: {},
    estimatedRows: 0,
    overriddenRows: 0,
    unpricedRows: 0,
    unpricedReasons: [],
    rowGroups: {},
    rowGroupCount: 0,
    realtimeRows: {},
    reusedRows: 0,
    batchDelivery: { rows: 0, costUsd: 0, realtimeUsd: 0 },
    routed: { rows: 0, costUsd: 0, mostExpensiveUsd: 0, firstNamedUsd: 0, fastestRows: 0, byHost: {} },
  };
}

export function addToEstimate(estimate: CostEstimate, row: PendingRow): void {
  estimate.costUsd += row.costUsd;
  if (row.reused === true) estimate.reusedRows += 1;
  estimate.byTier[row.tier].images += row.images;
  estimate.byTier[row.tier].cost_usd += row.costUsd;
  const byProvider = (estimate.byProvider[row.data.provider] ??= emptyTiers());
  byProvider[row.tier].images += row.images;
  byProvider[row.tier].cost_usd += row.costUsd;
  if (row.unpriced !== undefined) {
    estimate.unpricedRows += 1;
    if (!estimate.unpricedReasons.includes(row.unpriced)) estimate.unpricedReasons.push(row.unpriced);
  } else if (row.estimated) estimate.estimatedRows += 1;
  if (row.overridden) estimate.overriddenRows += 1;
  if (row.realtimeUsd === undefined && (row.alternatives ?? []).length === 0)
    estimate.realtimeRows[row.data.provider] = (estimate.realtimeRows[row.data.provider] ?? 0) + 1;
  if (row.realtimeUsd !== undefined) {
    estimate.batchDelivery.rows += 1;
    estimate.batchDelivery.costUsd += row.costUsd;
    estimate.batchDelivery.realtimeUsd += row.realtimeUsd;
  }
  if (row.alternatives !== undefined && row.alternatives.length > 0) {
    estimate.routed.rows += 1;
    estimate.routed.costUsd += row.costUsd;
    estimate.routed.mostExpensiveUsd += Math.max(...row.alternatives.map((entry) => entry.usd));
    estimate.routed.firstNamedUsd += row.alternatives[0]!.usd;
    if (row.data.routing?.policy === 'fastest') estimate.routed.fastestRows += 1;
    for (const { provider, usd } of row.alternatives) {
      const host = (estimate.routed.byHost[provider] ??= { rows: 0, usd: 0 });
      host.rows += 1;
      host.usd += usd;
    }
  }
  const { data } = row;
  const key = [data.provider, data.resolution, row.billedQuality, data.operation].join(' ');
  let group = estimate.rowGroups[key];
  if (group === undefined && estimate.rowGroupCount < MAX_ROW_GROUPS) {
    estimate.rowGroupCount += 1;
    group = {
      provider: data.provider,
      resolution: data.resolution,
      quality: row.billedQuality,
      operation: data.operation,
      rows: 0,
      images: 0,
      costUsd: 0,
    };
    estimate.rowGroups[key] = group;
  }
  if (group !== undefined) {
    group.rows += 1;
    group.images += row.images;
    group.costUsd += row.costUsd;
  }
}

/** Round the estimate's sums (after adding rows one by one). */
export function roundEstimate(estimate: CostEstimate): void {
  estimate.costUsd = roundUsd(estimate.costUsd);
  estimate.batchDelivery.costUsd = roundUsd(estimate.batchDelivery.costUsd);
  estimate.batchDelivery.realtimeUsd = roundUsd(estimate.batchDelivery.realtimeUsd);
  for (const field of ['costUsd', 'mostExpensiveUsd', 'firstNamedUsd'] as const)
    estimate.routed[field] = roundUsd(estimate.routed[field]);
  for (const host of Object.values(estimate.routed.byHost)) host.usd = roundUsd(host.usd);
  for (const tier of RESOLUTION_TIERS) {
    estimate.byTier[tier].cost_usd = roundUsd(estimate.byTier[tier].cost_usd);
    for (const byTier of Object.values(estimate.byProvider))
      byTier[tier].cost_usd = roundUsd(byTier[tier].cost_usd);
  }
}
