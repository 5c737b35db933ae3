/**
 * summary.json of a batch: counts and cost by resolution tier, written atomically (temp file + rename).
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import type { BatchStatus } from './batch-store.js';
import { batchPaths } from './output-layout.js';

/** The content of summary.json. */
export interface BatchSummary {
  batch_id: string;
  created_at: string;
  finished: boolean;
  manifests: string[];
  counts: { rows: number; completed: number; failed: number; rejected: number; pending: number };
  /** Estimated USD of all completed images. */
  cost_usd_total: number;
  cost_by_tier: BatchStatus['costByTier'];
  written_at: string;
}

/** The summary of a batch status. */
export function summaryOf(status: BatchStatus): BatchSummary {
  return {
    batch_id: status.batchId,
    created_at: status.createdAt,
    finished: status.pending === 0,
    manifests: status.manifests,
    counts: {
      rows: status.rows + status.rejected,
      completed: status.completed,
      failed: status.failed,
      rejected: status.rejected,
      pending: status.pending,
    },
    cost_usd_total: status.costUsdTotal,
    cost_by_tier: status.costByTier,
    written_at: new Date().toISOString(),
  };
}

/** Write `<out>/<batch>/summary.json` for `status`. @returns the summary written. */
export async function writeBatchSummary(status: BatchStatus): Promise<BatchSummary> {
  const paths = batchPaths(status.outputDirectory, status.batchId);
  const summary = summaryOf(status);
  await mkdir(paths.directory, { recursive: true });
  const temporary = `${paths.summary}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(summary, null, 2)}\n`);
  await rename(temporary, paths.summary);
  return summary;
}
