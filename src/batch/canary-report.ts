/**
 * What a batch's canary showed (src/batch/canary.ts): its rows' outcomes, failures by reason, the measured cost per
 * image against the estimate, and where its images are — for `run`, `status` and the dashboard, and for `--yes`, which
 * approves only when nothing failed and the measured cost per image is within the tolerance of the estimate.
 */
import type { ResultLine } from '../shared/job-definitions.js';
import { outputStoreFor } from '../storage/stores.js';
import { fileLocation } from '../storage/output-store.js';
import { formatUsd, roundUsd } from '../cost/usd.js';
import type { BatchStatus } from './batch-store.js';
import { differencePercent, formatPercent } from './batch-report.js';

/** The figures of a canary. USD amounts are of the canary's completed rows. */
export interface CanaryReport {
  batchId: string;
  size: number;
  state: 'awaiting' | 'approved';
  rows: number;
  completed: number;
  failed: number;
  failedByReason: Record<string, number>;
  /** Rows held until approval. */
  held: number;
  images: number;
  estimatedUsd: number;
  /** Of the rows whose provider reported usage: images, our estimate and the actual USD. */
  measured: { images: number; estimatedUsd: number; actualUsd: number };
  /** Estimated and measured USD per image of those rows, and the error of the estimate in per cent (null: none). */
  estimatedPerImageUsd: number | null;
  actualPerImageUsd: number | null;
  differencePercent: number | null;
  /** Where the canary's images are (paths or s3:// URLs). */
  imagePaths: string[];
}

/** The report of `status`'s canary, read from its results lines; undefined when the batch has no canary. */
export async function canaryReport(status: BatchStatus): Promise<CanaryReport | undefined> {
  const canary = status.canary;
  if (canary === undefined) return undefined;
  const canaryRows = new Set(canary.rowKeys);
  const store = outputStoreFor(status.outputDirectory);
  const location = store.batchLocation(status.batchId);
  const report: CanaryReport = {
    batchId: status.batchId,
    size: canary.size,
    state: canary.state,
    rows: canary.rowKeys.length,
    completed: canary.completed,
    failed: canary.failed,
    failedByReason: {},
    held: canary.held,
    images: 0,
    estimatedUsd: 0,
    measured: { images: 0, estimatedUsd: 0, actualUsd: 0 },
    estimatedPerImageUsd: null,
    actualPerImageUsd: null,
    differencePercent: null,
    imagePaths: [],
  };
  for await (const text of store.resultLines(status.batchId)) {
    const line = JSON.parse(text) as ResultLine;
    if (!canaryRows.has(line.row_key)) continue;
    if (line.status === 'failed') {
      const reason = line.error?.code ?? 'unknown';
      report.failedByReason[reason] = (report.failedByReason[reason] ?? 0) + 1;
      continue;
    }
    report.images += line.outputs.length;
    report.estimatedUsd += line.cost_usd;
    if (line.cost_usd_actual !== null) {
      report.measured.images += line.outputs.length;
      report.measured.estimatedUsd += line.cost_usd;
      report.measured.actualUsd += line.cost_usd_actual;
    }
    for (const output of line.outputs) report.imagePaths.push(fileLocation(location, output.path));
  }
  report.estimatedUsd = roundUsd(report.estimatedUsd);
  const { measured } = report;
  measured.estimatedUsd = roundUsd(measured.estimatedUsd);
  measured.actualUsd = roundUsd(measured.actualUsd);
  if (measured.images > 0) {
    report.estimatedPerImageUsd = roundUsd(measured.estimatedUsd / measured.images);
    report.actualPerImageUsd = roundUsd(measured.actualUsd / measured.images);
    report.differencePercent = differencePercent(measured.estimatedUsd, measured.actualUsd);
  } else if (report.images > 0) {
    report.estimatedPerImageUsd = roundUsd(report.estimatedUsd / report.images);
  }
  return report;
}

/**
 * Whether `--yes` may approve: nothing failed, and the measured cost per image is within `tolerancePercent` of the
 * estimate. Where no canary row's provider reports usage the cost cannot be measured: the estimate then stands, and
 * only failures decide (said in `reason`).
 */
export function canaryVerdict(
  report: CanaryReport,
  tolerancePercent: number,
): { approve: boolean; reason: string } {
  if (report.failed > 0) return { approve: false, reason: `${report.failed} canary row(s) failed` };
  if (report.differencePercent === null)
    return {
      approve: true,
      reason: 'nothing failed; the cost was not measured (no canary row reported usage), the estimate stands',
    };
  const within = Math.abs(report.differencePercent) <= tolerancePercent;
  return {
    approve: within,
    reason: `the measured cost per image is ${formatPercent(report.differencePercent)} from the estimate (tolerance ±${tolerancePercent} %)${within ? '' : ': over it'}`,
  };
}

/** The canary as lines for people. */
export function canaryLines(report: CanaryReport): string[] {
  const perImage = (usd: number | null) => (usd === null ? '—' : formatUsd(usd));
  const lines = [
    `Canary of batch ${report.batchId}: ${report.rows} rows — ${report.completed} completed, ${report.failed} failed; ` +
      `${report.held} rows held until it is approved.`,
    `  cost per image: estimated ${perImage(report.estimatedPerImageUsd)}, measured ${perImage(report.actualPerImageUsd)} (${formatPercent(report.differencePercent)})` +
      (report.measured.images === 0
        ? ' — no canary row reported usage'
        : ` over ${report.measured.images} image(s) with reported usage`),
  ];
  for (const [reason, count] of Object.entries(report.failedByReason))
    lines.push(`  failed ${reason}: ${count}`);
  lines.push(`  images (${report.imagePaths.length}):`);
  lines.push(...report.imagePaths.slice(0, 50).map((imagePath) => `    ${imagePath}`));
  if (report.imagePaths.length > 50) lines.push(`    … and ${report.imagePaths.length - 50} more`);
  return lines;
}
