/**
 * Recording a row's final outcome: once in Redis (counters by tier), then its one results line in the batch's output
 * store (results.jsonl of a directory, `results/<row>.json` in S3), then summary.json when it was the batch's last
 * pending row.
 */
import { sourceOf } from './reuse-index.js';
import { provenanceCounts } from '../storage/provenance.js';
import { writeSidecars } from '../storage/sidecar.js';
import { safeFileStem } from '../shared/keys.js';
import { asEvent, rowContext, type TraceContext } from '../shared/tracing.js';
import type { BatchStore } from './batch-store.js';
import { writeBatchSummary } from './batch-summary.js';
import type { ImageJobData, ResultLine } from '../shared/job-definitions.js';
import { outputStoreFor } from '../storage/stores.js';
import type { ResolutionTier } from '../cost/resolution-tier.js';
import { hostOfJob } from '../shared/hosts.js';
import { storageProblem } from './storage-pause.js';

/**
 * Record `line` as the outcome of the row of `data`, under output root `outputRoot`, and settle the row's budget
 * reservation to `options.spentUsd`.
 * @returns false when the row's outcome had already been recorded (the job ran twice): nothing is written then.
 */
export function recordRowOutcome(
  store: BatchStore,
  data: ImageJobData,
  line: ResultLine,
  outputRoot: string,
  options: {
    /** USD counted as spent against the budget; default: the actual or estimated cost of a completed row, else 0. */
    spentUsd?: number;
    /** How long the row's request took on its host, ms, when measured (the timeline's latency chart). */
    latencyMs?: number;
    /** The attempt whose event the results line is; default: a span of its own in the row's trace (its enqueue span). */
    trace?: TraceContext | undefined;
  } = {},
): Promise<boolean> {
  const spentUsd =
    options.spentUsd ?? (line.status === 'completed' ? (line.cost_usd_actual ?? line.cost_usd) : 0);
  const { latencyMs } = options;
  const attributes = {
    'image_batch.status': line.status,
    'image_batch.cost_usd': line.cost_usd,
    'image_batch.spent_usd': spentUsd,
    ...(line.error === null ? {} : { 'error.type': line.error.code }),
  };
  // The end of the row's trace (src/shared/tracing.ts): an event of the attempt, else a span in the row's trace.
  const traced = { attributes, parent: options.trace, fallbackParent: () => rowContext(data.traceparent) };
  return asEvent('image_batch.results_line', traced, () =>
    recordOnce(store, data, line, outputRoot, spentUsd, latencyMs),
  );
}

async function recordOnce(
  store: BatchStore,
  data: ImageJobData,
  line: ResultLine,
  outputRoot: string,
  spentUsd: number,
  latencyMs: number | undefined,
): Promise<boolean> {
  const outputStore = outputStoreFor(outputRoot);
  // Sidecars first (rewritten alike if the job runs again): a results line never names an image without its sidecar.
  if (data.sidecar === true && line.status === 'completed')
    await writeSidecars(outputStore, data.batchId, line);
  const { recorded, pending } = await store.recordOutcome(data.batchId, data.rowKey, {
    status: line.status,
    tier: line.resolution_tier as ResolutionTier,
    images: line.outputs.length,
    costUsd: line.cost_usd,
    spentUsd,
    provider: data.provider,
    ...(data.account === undefined || data.account <= 1 ? {} : { host: hostOfJob(data) }),
    ...(line.error === null ? {} : { errorCode: line.error.code }),
    ...(line.cost_usd_actual === null ? {} : { actualUsd: line.cost_usd_actual }),
    resultLine: `${Date.now()}|${JSON.stringify(line)}`,
    ...(latencyMs === undefined ? {} : { latency: { host: hostOfJob(data), ms: latencyMs } }),
    ...(line.status === 'completed' ? { provenance: provenanceCounts(line.outputs) } : {}),
    ...(line.reused_from === undefined ? {} : { reused: true }),
  });
  if (!recorded) return false;
  try {
    await outputStore.writeResultLine(data.batchId, { rowKey: data.rowKey, text: JSON.stringify(line) });
  } catch (error) {
    const problem = storageProblem(error);
    if (problem === undefined) throw error;
    // The line stays kept in Redis (written on resume, or by the next worker that flushes pending lines).
    await store.setPaused(data.batchId, true, `${problem} writing the results line`);
    return true;
  }
  await store.confirmResultLine(data.batchId, data.rowKey);
  if (line.status === 'completed' && line.reuse_key !== undefined) {
    await store.reuse.record(outputStore.root, line.reuse_key, sourceOf(safeFileStem(data.batchId), line));
  }
  if (pending === 0) {
    const status = await store.status(data.batchId);
    if (status !== undefined && status.pending === 0) await writeBatchSummary(status);
  }
  return true;
}

/**
 * Write the results lines a killed worker recorded in Redis but may not have appended to results.jsonl: each goes in
 * once (a line already in the file is not written again). Only lines recorded more than `minimumAgeMs` ago are
 * taken (a live worker appends its line within milliseconds; a killed worker's job is recovered only after its lock
 * expired), and one flusher at a time works on a batch. Called when a job finds its row already finished, and at the
 * end of `run`. @returns how many lines were written.
 */
export async function flushPendingResultLines(
  store: BatchStore,
  batchId: string,
  outputRoot: string,
  minimumAgeMs: number,
): Promise<number> {
  const pending = await store.pendingResultLines(batchId);
  const now = Date.now();
  const stale = Object.entries(pending)
    .map(([rowKey, value]) => {
      const separator = value.indexOf('|');
      return { rowKey, at: Number(value.slice(0, separator)), line: value.slice(separator + 1) };
    })
    .filter((entry) => now - entry.at >= minimumAgeMs);
  if (stale.length === 0 || !(await store.claimResultsFlush(batchId))) return 0;
  try {
    const written = await outputStoreFor(outputRoot).writeMissingResultLines(
      batchId,
      stale.map((entry) => ({ rowKey: entry.rowKey, text: entry.line })),
    );
    for (const entry of stale) await store.confirmResultLine(batchId, entry.rowKey);
    const status = await store.status(batchId);
    if (written > 0 && status !== undefined && status.pending === 0) await writeBatchSummary(status);
    return written;
  } catch (error) {
    // A full disk: the lines stay kept in Redis until there is room (./storage-pause.ts).
    if (storageProblem(error) !== undefined) return 0;
    throw error;
  } finally {
    await store.releaseResultsFlush(batchId);
  }
}
