/**
 * summary.json of a batch: counts and cost by resolution tier, written atomically (temp file + rename, or one PUT).
 */
import type { BatchStatus } from './batch-store.js';
import { reportFigures, type ReportFigures } from './batch-report.js';
import { outputStoreFor } from '../storage/stores.js';
import { storageProblem } from './storage-pause.js';

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

/**
 * Write the batch's summary.json (in its output store) for `status`. A storage that is full or unavailable
 * (./storage-pause.ts) skips it: it is written again with the next outcome or run. @returns the summary.
 */
export async function writeBatchSummary(status: BatchStatus): Promise<BatchSummary> {
  const summary = summaryOf(status);
  try {
    await outputStoreFor(status.outputDirectory).writeText(
      status.batchId,
      'summary.json',
      `${JSON.stringify(summary, null, 2)}\n`,
    );
  } catch (error) {
    if (storageProblem(error) === undefined) throw error;
  }
  return summary;
}
