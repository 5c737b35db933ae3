/**
 * Recording a row's final outcome: once in Redis (counters by tier), then its one line in results.jsonl, then
 * summary.json when it was the batch's last pending row.
 */
import type { BatchStore } from '../shared/batch-store.js';
import { writeBatchSummary } from '../shared/batch-summary.js';
import type { ImageJobData, ResultLine } from '../shared/job-definitions.js';
import { batchPaths } from '../shared/output-layout.js';
import type { ResolutionTier } from '../shared/resolution-tier.js';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
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
    resultLine: JSON.stringify(line),
  });
  if (!recorded) return false;
  await appendResultLine(batchPaths(outputRoot, data.batchId).results, line);
  await store.confirmResultLine(data.batchId, data.rowKey);
  const status = await store.status(data.batchId);
  if (status !== undefined && status.pending === 0) await writeBatchSummary(status);
  return true;
}

/**
 * Write the results lines a killed worker recorded in Redis but may not have appended to results.jsonl: each goes in
 * once (a line already in the file is not written again). Called when a job finds its row already finished.
 * @returns how many lines were written.
 */
export async function flushPendingResultLines(
  store: BatchStore,
  batchId: string,
  outputRoot: string,
): Promise<number> {
  const pending = await store.pendingResultLines(batchId);
  const rowKeys = Object.keys(pending);
  if (rowKeys.length === 0) return 0;
  const resultsPath = batchPaths(outputRoot, batchId).results;
  const present = new Set<string>();
  try {
    for await (const text of createInterface({ input: createReadStream(resultsPath), crlfDelay: Infinity })) {
      if (text.trim() === '') continue;
      const key = (JSON.parse(text) as { row_key?: string }).row_key;
      if (key !== undefined && key in pending) present.add(key);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  let written = 0;
  for (const rowKey of rowKeys) {
    if (!present.has(rowKey)) {
      await appendResultLine(resultsPath, JSON.parse(pending[rowKey]!) as ResultLine);
      written += 1;
    }
    await store.confirmResultLine(batchId, rowKey);
  }
  const status = await store.status(batchId);
  if (written > 0 && status !== undefined && status.pending === 0) await writeBatchSummary(status);
  return written;
}
