/**
 * The `--fallback realtime` of the OpenAI Batch API driver: the unfinished rows of an expired or cancelled batch go
 * to the ordinary OpenAI queue as realtime jobs.
 */
import { Queue } from 'bullmq';
import type { RedisConnection } from '../../shared/redis.js';
import type { ImageJobData } from '../../shared/job-definitions.js';
import { PROVIDER_BACKOFF_TYPE } from '../../shared/job-definitions.js';
import { jobIdFor, queueNameFor } from '../../shared/keys.js';
import { addBatchJobs } from '../../batch/fair-share.js';
import { BatchPriorities } from '../../batch/priority.js';

/**
 * Send rows to the ordinary OpenAI queue (`--fallback realtime`), without their Batch API delivery, with their batch's
 * priority; their job ids are the ones they would have had realtime, so a row sent twice is added once.
 */
export async function sendToRealtime(
  options: { redis: RedisConnection; queuePrefix: string; attempts: number; backoffDelayMs: number },
  batchId: string,
  rows: readonly ImageJobData[],
): Promise<void> {
  const queue = new Queue(queueNameFor('openai'), {
    connection: options.redis,
    prefix: options.queuePrefix,
  });
  try {
    await addBatchJobs(
      queue,
      new BatchPriorities(options.redis, options.queuePrefix),
      batchId,
      rows.map((data) => {
        const { delivery: _delivery, ...realtime } = data;
        return {
          name: realtime.operation,
          data: realtime,
          opts: {
            jobId: jobIdFor(batchId, data.rowKey),
            attempts: options.attempts,
            backoff: { type: PROVIDER_BACKOFF_TYPE, delay: options.backoffDelayMs },
            removeOnComplete: true,
            removeOnFail: { age: 30 * 24 * 3600 },
          },
        };
      }),
    );
  } finally {
    await queue.close();
  }
}
