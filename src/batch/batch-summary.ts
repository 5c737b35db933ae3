/**
 * summary.json of a batch: counts and cost by resolution tier, written atomically (temp file + rename, or one PUT).
 */
import type { BatchStatus } from './batch-store.js';
import { reportFigures, type ReportFigures } from './batch-report.js';
import { outputStoreFor } from '../storage/stores.js';

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
