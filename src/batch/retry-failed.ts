/**
 * Retrying a finished batch's failed rows (the dashboard's "retry failed rows"): which rows failed and what retrying
 * them would cost (each a paid call, so the user confirms first), then, once confirmed, each row's job is made fresh
 * (no saved request, no "sent" mark), its failed outcome forgotten, the job retried, and its failed results line
 * removed so that the row keeps one line.
 */
import { Job, type Queue } from 'bullmq';
import { hostName, type HostName } from '../shared/hosts.js';
import type { ImageJobData, ResultLine } from '../shared/job-definitions.js';
import { collectJobIdFor, jobIdFor } from '../shared/keys.js';
import { outputStoreFor } from '../storage/stores.js';
import type { BatchStatus, BatchStore } from './batch-store.js';

/** The failed rows of a batch, what retrying them would cost, or why they cannot be retried now. */
export interface RetryPlan {
  failed: ResultLine[];
  /** Estimated USD of retrying every failed row. */
  estimateUsd: number;
  blockedReason: string | undefined;
}

/** The host a line's row was made on (lines written before accounts name none: the first). */
function hostOfLine(line: ResultLine): HostName {
  return hostName(line.provider, line.account ?? 1);
}

/** The job of a row, when its host's queue still holds it. */
async function jobOf(
  queues: ReadonlyMap<HostName, Queue>,
  batchId: string,
  line: ResultLine,
): Promise<Job<ImageJobData> | undefined> {
  const queue = queues.get(hostOfLine(line));
  return queue === undefined ? undefined : Job.fromId<ImageJobData>(queue, jobIdFor(batchId, line.row_key));
}

/**
 * Plan the retry of `status`'s failed rows. Each row is priced from its own job data (size, quality, images, inputs)
 * by `quote` (USD); a row whose job is gone counts as 0.
 */
export async function planRetry(
  status: BatchStatus,
  queues: ReadonlyMap<HostName, Queue>,
  quote: (data: ImageJobData) => number,
): Promise<RetryPlan> {
  const failed: ResultLine[] = [];
  for await (const text of outputStoreFor(status.outputDirectory).resultLines(status.batchId)) {
    const line = JSON.parse(text) as ResultLine;
    if (line.status === 'failed') failed.push(line);
  }
  let estimateUsd = 0;
  for (const line of failed) {
    const job = await jobOf(queues, status.batchId, line);
    if (job !== undefined) estimateUsd += quote(job.data);
  }
  const blockedReason =
    failed.length === 0
      ? 'This batch has no failed rows.'
      : status.pending > 0
        ? `Wait until the batch has finished (${status.pending} rows pending) before retrying its failed rows.`
        : undefined;
  return { failed, estimateUsd, blockedReason };
}

/**
 * Retry the failed rows of `plan`. A row whose accepted request failed in its collection job (`collectQueues`,
 * src/worker/collection.ts) has a completed submission job: the collection job is removed and the submission job
 * retried from completed. @returns the row keys retried.
 */
export async function retryFailedRows(
  store: BatchStore,
  queues: ReadonlyMap<HostName, Queue>,
  collectQueues: ReadonlyMap<HostName, Queue>,
  status: BatchStatus,
  plan: RetryPlan,
): Promise<Set<string>> {
  const retried = new Set<string>();
  for (const line of plan.failed) {
    const job = await jobOf(queues, status.batchId, line);
    if (job === undefined) continue;
    const state = await job.getState();
    const collectQueue = collectQueues.get(hostOfLine(line));
    const collection =
      state === 'completed' && collectQueue !== undefined
        ? await Job.fromId<ImageJobData>(collectQueue, collectJobIdFor(job.id!))
        : undefined;
    const collectionFailed = collection !== undefined && (await collection.getState()) === 'failed';
    if (state !== 'failed' && !collectionFailed) continue;
    const data = { ...job.data };
    delete data.submissionStartedAt;
    delete data.providerRequest;
    await job.updateData(data);
    if (!(await store.forgetFailure(status.batchId, line.row_key, line.error?.code ?? 'unknown'))) continue;
    if (collectionFailed) await collection.remove();
    await job.retry(collectionFailed ? 'completed' : 'failed');
    retried.add(line.row_key);
  }
  // One results line per row: the failed lines of retried rows go; their new outcome is appended when it comes.
  await outputStoreFor(status.outputDirectory).removeResultLines(
    status.batchId,
    retried,
    (text) => (JSON.parse(text) as ResultLine).status === 'failed',
  );
  return retried;
}
