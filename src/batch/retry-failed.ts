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
import { addBatchJobs, jobPrioritiesFor } from './fair-share.js';

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
 * The collection job of a row (src/worker/collection.ts), when its host's collect queue still holds it and it failed:
 * the row's accepted request failed there, while its submission job finished (and, once finished, was removed).
 */
async function failedCollectionOf(
  collectQueues: ReadonlyMap<HostName, Queue>,
  batchId: string,
  line: ResultLine,
): Promise<Job<ImageJobData> | undefined> {
  const queue = collectQueues.get(hostOfLine(line));
  if (queue === undefined) return undefined;
  const job = await Job.fromId<ImageJobData>(queue, collectJobIdFor(jobIdFor(batchId, line.row_key)));
  return job !== undefined && (await job.getState()) === 'failed' ? job : undefined;
}

/** A row's job data made fresh for a new paid call: no saved request, no "sent" mark. */
function freshData(data: ImageJobData): ImageJobData {
  const fresh = { ...data };
  delete fresh.submissionStartedAt;
  delete fresh.providerRequest;
  delete fresh.acceptedOnAttempt;
  return fresh;
}

/**
 * Plan the retry of `status`'s failed rows (their jobs in `queues` and, for collected rows, `collectQueues`). Each
 * row is priced from its own job data (size, quality, images, inputs) by `quote` (USD): its submission job's, else its
 * failed collection job's; a row with neither counts as 0.
 */
export async function planRetry(
  status: BatchStatus,
  queues: ReadonlyMap<HostName, Queue>,
  collectQueues: ReadonlyMap<HostName, Queue>,
  quote: (data: ImageJobData) => number,
): Promise<RetryPlan> {
  const failed: ResultLine[] = [];
  for await (const text of outputStoreFor(status.outputDirectory).resultLines(status.batchId)) {
    const line = JSON.parse(text) as ResultLine;
    if (line.status === 'failed') failed.push(line);
  }
  let estimateUsd = 0;
  for (const line of failed) {
    const job =
      (await jobOf(queues, status.batchId, line)) ??
      (await failedCollectionOf(collectQueues, status.batchId, line));
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
 * src/worker/collection.ts) has no submission job any more (removed once it finished): the collection job is removed
 * and a fresh submission job added from its data. @returns the row keys retried.
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
    const forget = () => store.forgetFailure(status.batchId, line.row_key, line.error?.code ?? 'unknown');
    const job = await jobOf(queues, status.batchId, line);
    if (job !== undefined && (await job.getState()) === 'failed') {
      await job.updateData(freshData(job.data));
      if (!(await forget())) continue;
      // Back with the batch's priority now and a fresh fair-share tag (it may have changed since the row failed).
      const queue = queues.get(hostOfLine(line))!;
      const [priority] = await jobPrioritiesFor(
        queue,
        status.batchId,
        await store.priorities.of(status.batchId),
        1,
      );
      await job.changePriority({ priority: priority! });
      await job.retry('failed');
      retried.add(line.row_key);
      continue;
    }
    const collection = await failedCollectionOf(collectQueues, status.batchId, line);
    const queue = queues.get(hostOfLine(line));
    if (collection === undefined || queue === undefined || !(await forget())) continue;
    const { delay: _delay, jobId: _jobId, ...options } = collection.opts;
    await collection.remove();
    // A submission job kept completed (IMAGE_BATCH_KEEP_COMPLETED_JOBS) would make the add below a no-op.
    if (job !== undefined && (await job.getState()) === 'completed') await job.remove();
    await addBatchJobs(queue, store.priorities, status.batchId, [
      {
        name: collection.name,
        data: freshData(collection.data),
        opts: { ...options, jobId: jobIdFor(status.batchId, line.row_key) },
      },
    ]);
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
