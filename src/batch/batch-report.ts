/**
 * `image-batch report`: a batch's figures for people and for finance — rows, completed, failed by reason, images by
 * tier, estimated and actual USD by tier and provider, spend against the cap — as a table, JSON, or CSV (one line per
 * row, written with csv-stringify with formula escaping on, since prompts can start with `=`).
 */
import { stringify } from 'csv-stringify/sync';
import type { BatchStatus } from './batch-store.js';
import { RESOLUTION_TIERS, type ResolutionTier } from '../cost/resolution-tier.js';
import { formatUsd, roundUsd } from '../cost/usd.js';
import type { ResultLine } from '../shared/job-definitions.js';

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

/** The report as table lines. */
export function reportTable(figures: ReportFigures): string[] {
  const lines = [
    `Batch ${figures.batch_id} (${figures.state})`,
    `  rows ${figures.counts.rows}: ${figures.counts.completed} completed, ${figures.counts.failed} failed, ` +
      `${figures.counts.rejected} rejected, ${figures.counts.pending} pending`,
  ];
  for (const [reason, count] of Object.entries(figures.failed_by_reason))
    lines.push(`  failed ${reason}: ${count}`);
  lines.push(
    `  ${'provider'.padEnd(10)} ${'tier'.padEnd(16)} ${'images'.padStart(7)} ${'estimated'.padStart(11)} ${'actual'.padStart(11)}`,
  );
  for (const [provider, byTier] of Object.entries(figures.by_provider)) {
    for (const tier of RESOLUTION_TIERS) {
      const entry = byTier[tier];
      if (entry === undefined || entry.images === 0) continue;
      lines.push(
        `  ${provider.padEnd(10)} ${tier.padEnd(16)} ${String(entry.images).padStart(7)} ${formatUsd(entry.cost_usd).padStart(11)} ${(entry.actual_usd === null ? '—' : formatUsd(entry.actual_usd)).padStart(11)}`,
      );
    }
  }
  for (const tier of RESOLUTION_TIERS) {
    const entry = figures.cost_by_tier[tier];
    lines.push(
      `  ${'all'.padEnd(10)} ${tier.padEnd(16)} ${String(entry.images).padStart(7)} ${formatUsd(entry.cost_usd).padStart(11)} ${(entry.actual_usd === null ? '—' : formatUsd(entry.actual_usd)).padStart(11)}`,
    );
  }
  lines.push(`  total estimated ${formatUsd(figures.cost_usd_total)}`);
  if (figures.budget.cap_usd !== null) {
    lines.push(
      `  budget: spent ${formatUsd(figures.budget.spent_usd)} of ${formatUsd(figures.budget.cap_usd)} (${formatUsd(figures.budget.reserved_usd)} reserved in flight)`,
    );
  }
  lines.push('  (actual: from usage the provider reported, OpenAI tokens; — where none was reported)');
  return lines;
}

const CSV_COLUMNS = [
  'row_key',
  'manifest',
  'line',
  'provider',
  'model',
  'status',
  'error_code',
  'error_message',
  'resolution',
  'resolution_tier',
  'images',
  'cost_usd',
  'cost_usd_actual',
  'request_id',
  'prompt',
] as const;

/** Write the per-row CSV of a batch's results lines (JSON texts) to `write`, streaming (constant memory). */
export async function writeReportCsv(
  resultLines: AsyncIterable<string>,
  write: (text: string) => void,
): Promise<number> {
  write(stringify([CSV_COLUMNS]));
  let rows = 0;
  for await (const text of resultLines) {
    const line = JSON.parse(text) as ResultLine & { prompt?: string };
    rows += 1;
    write(
      stringify(
        [
          [
            line.row_key,
            line.manifest,
            line.line,
            line.provider,
            line.model,
            line.status,
            line.error?.code ?? '',
            line.error?.message ?? '',
            line.resolution,
            line.resolution_tier,
            line.outputs.length,
            line.cost_usd,
            line.cost_usd_actual ?? '',
            line.request_id ?? '',
            line.prompt ?? '',
          ],
        ],
        { escape_formulas: true },
      ),
    );
  }
  return rows;
}
