/**
 * summary.json of a batch: counts and cost by resolution tier, written atomically (temp file + rename, or one PUT).
 */
import type { BatchStatus } from './batch-store.js';
import { outputStoreFor } from './output-store.js';
import { roundUsd } from './price-catalogue.js';
import { RESOLUTION_TIERS, type ResolutionTier } from './resolution-tier.js';

/** Figures by resolution tier, with actual cost where providers reported usage. */
export type TierFigures = Record<
  ResolutionTier,
  { images: number; cost_usd: number; actual_usd: number | null }
>;

/** The figures of `image-batch report` and summary.json. */
export interface ReportFigures {
  batch_id: string;
  state: BatchStatus['state'];
  counts: { rows: number; completed: number; failed: number; rejected: number; pending: number };
  failed_by_reason: Record<string, number>;
  cost_usd_total: number;
  cost_by_tier: TierFigures;
  by_provider: Record<string, Partial<TierFigures>>;
  budget: { cap_usd: number | null; spent_usd: number; reserved_usd: number };
}

/** The report figures of a batch status. */
export function reportFigures(status: BatchStatus): ReportFigures {
  const counters = status.counters;
  const tierFigures = (images: number, costUsd: number, actualKey: string) => ({
    images,
    cost_usd: roundUsd(costUsd),
    actual_usd: counters[actualKey] === undefined ? null : roundUsd(counters[actualKey]),
  });
  const costByTier = {} as TierFigures;
  for (const tier of RESOLUTION_TIERS) {
    costByTier[tier] = tierFigures(
      status.costByTier[tier].images,
      status.costByTier[tier].cost_usd,
      `actual_usd:${tier}`,
    );
  }
  const byProvider: Record<string, Partial<TierFigures>> = {};
  const failedByReason: Record<string, number> = {};
  for (const [name, value] of Object.entries(counters)) {
    const reason = /^failed_reason:(.+)$/.exec(name)?.[1];
    if (reason !== undefined) failedByReason[reason] = value;
    const match = /^images:([a-z]+):(standard|high-resolution)$/.exec(name);
    if (match !== null) {
      const [, provider, tier] = match as unknown as [string, string, ResolutionTier];
      (byProvider[provider] ??= {})[tier] = tierFigures(
        value,
        counters[`cost_usd:${provider}:${tier}`] ?? 0,
        `actual_usd:${provider}:${tier}`,
      );
    }
  }
  return {
    batch_id: status.batchId,
    state: status.state,
    counts: {
      rows: status.rows + status.rejected,
      completed: status.completed,
      failed: status.failed,
      rejected: status.rejected,
      pending: status.pending,
    },
    failed_by_reason: failedByReason,
    cost_usd_total: status.costUsdTotal,
    cost_by_tier: costByTier,
    by_provider: byProvider,
    budget: {
      cap_usd: status.budgetUsd ?? null,
      spent_usd: status.spentUsd,
      reserved_usd: status.reservedUsd,
    },
  };
}

/** The content of summary.json. */
export interface BatchSummary extends ReportFigures {
  created_at: string;
  finished: boolean;
  manifests: string[];
  written_at: string;
}

/** The summary of a batch status. */
export function summaryOf(status: BatchStatus): BatchSummary {
  return {
    ...reportFigures(status),
    created_at: status.createdAt,
    finished: status.pending === 0,
    manifests: status.manifests,
    written_at: new Date().toISOString(),
  };
}

/** Write the batch's summary.json (in its output store) for `status`. @returns the summary written. */
export async function writeBatchSummary(status: BatchStatus): Promise<BatchSummary> {
  const summary = summaryOf(status);
  await outputStoreFor(status.outputDirectory).writeText(
    status.batchId,
    'summary.json',
    `${JSON.stringify(summary, null, 2)}\n`,
  );
  return summary;
}
