/**
 * A late result (issue 26: a worker cut off from Redis by a network partition, not crashed). While it waited for the
 * host, its job lock expired and another worker took the row: finding the paid call marked as sent with no answer, it
 * recorded the row `uncertain_outcome` (it may have been billed, so it is never sent again). When the cut-off worker
 * comes back with the host's answer, its images are stored and the row's outcome is replaced by the completed one —
 * the image the user paid for is kept, the row keeps one results line, and nothing was sent twice. Any other recorded
 * outcome stays, and the late result is only logged.
 */
import type { ImageJobData, ResultLine } from '../shared/job-definitions.js';
import { outputStoreFor } from '../storage/stores.js';
import type { BatchStore } from './batch-store.js';
import { recordRowOutcome } from './row-outcome.js';

/**
 * Replace the row's `uncertain_outcome` by `line` (its completed line). @returns true when it did; false when the row
 * has another outcome (then `line` is not written).
 */
export async function useLateResult(
  store: BatchStore,
  data: ImageJobData,
  line: ResultLine,
  outputRoot: string,
): Promise<boolean> {
  const output = outputStoreFor(outputRoot);
  let recorded: ResultLine | undefined;
  // A rare path (a partition): the batch's lines are read to find the row's.
  for await (const text of output.resultLines(data.batchId)) {
    const parsed = JSON.parse(text) as ResultLine;
    if (parsed.row_key === data.rowKey) recorded = parsed;
  }
  if (recorded?.status !== 'failed' || recorded.error?.code !== 'uncertain_outcome') return false;
  if (!(await store.forgetFailure(data.batchId, data.rowKey, 'uncertain_outcome'))) return false;
  await output.removeResultLines(
    data.batchId,
    new Set([data.rowKey]),
    (text) => (JSON.parse(text) as ResultLine).status === 'failed',
  );
  // The uncertain outcome counted the row's estimate as spent already: it is not counted again.
  return recordRowOutcome(store, data, line, outputRoot, { spentUsd: 0 });
}
