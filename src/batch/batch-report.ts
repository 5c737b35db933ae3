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

/**
 * One provider × tier cell of the reconciliation: images and estimated USD of the completed rows; of the rows whose
 * provider reported usage, the estimate (`estimated_usd_with_actual`) and the actual USD, and the error of the
 * estimate in per cent (`(actual − estimate) / estimate × 100`, one decimal); nulls where no row reported usage.
 */
export interface TierCell {
  images: number;
  cost_usd: number;
  actual_usd: number | null;
  estimated_usd_with_actual: number | null;
  difference_percent: number | null;
}

/** Figures by resolution tier, with actual cost where providers reported usage. */
export type TierFigures = Record<ResolutionTier, TierCell>;

/** The figures of `image-batch report` and summary.json. */
export interface ReportFigures {
  batch_id: string;
  state: BatchStatus['state'];
  counts: { rows: number; completed: number; failed: number; rejected: number; pending: number };
  /** Completed rows whose images are copies of an earlier output (`--reuse`), not paid for. */
  reused_rows: number;
  failed_by_reason: Record<string, number>;
  cost_usd_total: number;
  cost_by_tier: TierFigures;
  by_provider: Record<string, Partial<TierFigures>>;
  budget: { cap_usd: number | null; spent_usd: number; reserved_usd: number };
  /** Stored images by C2PA provenance (src/storage/provenance.ts): valid (or trusted), invalid, missing. */
  provenance: { valid: number; invalid: number; missing: number };
}

/** The report figures of a batch status. */
export function reportFigures(status: BatchStatus): ReportFigures {
  const counters = status.counters;
  const tierFigures = (images: number, costUsd: number, scope: string): TierCell => {
    const actual = counters[`actual_usd:${scope}`];
    const estimated = counters[`estimated_usd_with_actual:${scope}`];
    return {
      images,
      cost_usd: roundUsd(costUsd),
      actual_usd: actual === undefined ? null : roundUsd(actual),
      estimated_usd_with_actual: estimated === undefined ? null : roundUsd(estimated),
      difference_percent: differencePercent(estimated, actual),
    };
  };
  const costByTier = {} as TierFigures;
  for (const tier of RESOLUTION_TIERS) {
    costByTier[tier] = tierFigures(status.costByTier[tier].images, status.costByTier[tier].cost_usd, tier);
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
        `${provider}:${tier}`,
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
    reused_rows: counters.reused ?? 0,
    cost_usd_total: status.costUsdTotal,
    cost_by_tier: costByTier,
    by_provider: byProvider,
    budget: {
      cap_usd: status.budgetUsd ?? null,
      spent_usd: status.spentUsd,
      reserved_usd: status.reservedUsd,
    },
    provenance: {
      valid: counters['c2pa:valid'] ?? 0,
      invalid: counters['c2pa:invalid'] ?? 0,
      missing: counters['c2pa:missing'] ?? 0,
    },
  };
}

/** `(actual − estimate) / estimate` in per cent, one decimal; null when either is missing or the estimate is 0. */
export function differencePercent(estimated: number | undefined, actual: number | undefined): number | null {
  if (estimated === undefined || actual === undefined || estimated <= 0) return null;
  return Math.round(((actual - estimated) / estimated) * 1000) / 10;
}

/** `+1.2 %`, `−3.0 %`, or `—`. */
export function formatPercent(percent: number | null): string {
  if (percent === null) return '—';
  return `${percent > 0 ? '+' : percent < 0 ? '−' : '±'}${Math.abs(percent).toFixed(1)} %`;
}

/** One line of the reconciliation table. */
function cellLine(provider: string, tier: string, entry: TierCell): string {
  const money = (usd: number | null) => (usd === null ? '—' : formatUsd(usd)).padStart(11);
  return (
    `  ${provider.padEnd(10)} ${tier.padEnd(16)} ${String(entry.images).padStart(7)} ${money(entry.cost_usd)}` +
    ` ${money(entry.estimated_usd_with_actual)} ${money(entry.actual_usd)} ${formatPercent(entry.difference_percent).padStart(8)}`
  );
}

/** The table header of {@link cellLine}. */
export const RECONCILIATION_HEADER =
  `  ${'provider'.padEnd(10)} ${'tier'.padEnd(16)} ${'images'.padStart(7)} ${'estimated'.padStart(11)}` +
  ` ${'reported:est'.padStart(11)} ${'actual'.padStart(11)} ${'error'.padStart(8)}`;

/** Reconciliation lines: estimate vs actual by provider × tier, then all providers by tier. */
export function reconciliationLines(figures: ReportFigures): string[] {
  const lines = [RECONCILIATION_HEADER];
  for (const [provider, byTier] of Object.entries(figures.by_provider)) {
    for (const tier of RESOLUTION_TIERS) {
      const entry = byTier[tier];
      if (entry !== undefined && entry.images > 0) lines.push(cellLine(provider, tier, entry));
    }
  }
  for (const tier of RESOLUTION_TIERS) lines.push(cellLine('all', tier, figures.cost_by_tier[tier]));
  lines.push(
    '  (reported:est and actual: the rows whose provider reported usage — OpenAI tokens — priced by our estimate and by',
    '   the usage; error = (actual − estimate) / estimate; — where no row reported usage)',
  );
  return lines;
}

/** The report as table lines. */
export function reportTable(figures: ReportFigures): string[] {
  const lines = [
    `Batch ${figures.batch_id} (${figures.state})`,
    `  rows ${figures.counts.rows}: ${figures.counts.completed} completed` +
      (figures.reused_rows > 0 ? ` (${figures.reused_rows} reused, not paid)` : '') +
      `, ${figures.counts.failed} failed, ` +
      `${figures.counts.rejected} rejected, ${figures.counts.pending} pending`,
  ];
  for (const [reason, count] of Object.entries(figures.failed_by_reason))
    lines.push(`  failed ${reason}: ${count}`);
  lines.push(...reconciliationLines(figures));
  lines.push(`  total estimated ${formatUsd(figures.cost_usd_total)}`);
  const { valid, invalid, missing } = figures.provenance;
  lines.push(`  provenance (C2PA) of the images: ${valid} valid, ${invalid} invalid, ${missing} missing`);
  if (figures.budget.cap_usd !== null) {
    lines.push(
      `  budget: spent ${formatUsd(figures.budget.spent_usd)} of ${formatUsd(figures.budget.cap_usd)} (${formatUsd(figures.budget.reserved_usd)} reserved in flight; spent counts actual figures where reported)`,
    );
  }
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
  'cost_usd_difference',
  'request_id',
  'prompt',
  'c2pa',
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
            line.cost_usd_difference ?? '',
            line.request_id ?? '',
            line.prompt ?? '',
            line.outputs.map((output) => output.c2pa?.state ?? '').join(';'),
          ],
        ],
        { escape_formulas: true },
      ),
    );
  }
  return rows;
}
