/**
 * Recording a row's final outcome: once in Redis (counters by tier), then its one line in results.jsonl, then
 * summary.json when it was the batch's last pending row.
 */
import type { BatchStore } from '../shared/batch-store.js';
import { writeBatchSummary } from '../shared/batch-summary.js';
import type { ImageJobData, ResultLine } from '../shared/job-definitions.js';
import { batchPaths } from '../shared/output-layout.js';
import type { ResolutionTier } from '../shared/resolution-tier.js';
import { appendResultLine } from './results-log.js';

/**
 * Record `line` as the outcome of the row of `data`, under output root `outputRoot`, and settle the row's budget
 * reservation to `spentUsd`.
 * @returns false when the row's outcome had already been recorded (the job ran twice): nothing is written then.
 */
export async function recordRowOutcome(
  store: BatchStore,
  data: ImageJobData,
  line: ResultLine,
  outputRoot: string,
  /** USD counted as spent against the budget; default: the actual or estimated cost of a completed row, else 0. */
  spentUsd: number = line.status === 'completed' ? (line.cost_usd_actual ?? line.cost_usd) : 0,
): Promise<boolean> {
  const recorded = await store.recordOutcome(data.batchId, data.rowKey, {
    status: line.status,
    tier: line.resolution_tier as ResolutionTier,
    images: line.outputs.length,
    costUsd: line.cost_usd,
    spentUsd,
    provider: data.provider,
    ...(line.error === null ? {} : { errorCode: line.error.code }),
    ...(line.cost_usd_actual === null ? {} : { actualUsd: line.cost_usd_actual }),
  });
  if (!recorded) return false;
  await appendResultLine(batchPaths(outputRoot, data.batchId).results, line);
  const status = await store.status(data.batchId);
  if (status !== undefined && status.pending === 0) await writeBatchSummary(status);
  return true;
}
