/**
 * The producer's running estimate of what the rows it enqueues will cost, by resolution tier and by provider × tier,
 * with how many rows are priced from derived figures, from the user's pricing file, or not at all.
 */
import { RESOLUTION_TIERS, type ResolutionTier } from '../cost/resolution-tier.js';
import { roundUsd } from '../cost/usd.js';
import type { ProviderName } from '../shared/config.js';
import type { ImageJobData } from '../shared/job-definitions.js';

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
}

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
  };
}

export function addToEstimate(estimate: CostEstimate, row: PendingRow): void {
  estimate.costUsd += row.costUsd;
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
}

/** Round the estimate's sums (after adding rows one by one). */
export function roundEstimate(estimate: CostEstimate): void {
  estimate.costUsd = roundUsd(estimate.costUsd);
  for (const tier of RESOLUTION_TIERS) {
    estimate.byTier[tier].cost_usd = roundUsd(estimate.byTier[tier].cost_usd);
    for (const byTier of Object.values(estimate.byProvider))
      byTier[tier].cost_usd = roundUsd(byTier[tier].cost_usd);
  }
}
