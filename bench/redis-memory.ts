/**
 * Redis memory per row (issue 27: Redis holds what is in flight, not history), on the default settings (completed jobs
 * removed at once): rows of one batch enqueued (waiting: their jobs and the batch's row index), then worked to the end
 * by one worker on the simulator's instant OpenAI (finished: only the row index, each row's outcome in it, and counters stay). Measured
 * as the summed `MEMORY USAGE` of the run's keys, BullMQ's event stream apart: it is capped (10,000 events a queue),
 * not per row.
 */
import type { Redis } from 'ioredis';
import { deletePrefix, log, quick, rows, SMALL_SIZE } from './harness.js';
import { enqueueJobs, providerEnvironment, runOurWorker } from './worker-runs.js';
import type { ProviderSimulator } from '../src/simulator/server.js';

/** Bytes of every key under `prefix` (`MEMORY USAGE`, all samples), the event streams apart. */
async function prefixBytes(redis: Redis, prefix: string): Promise<{ rows: number; events: number }> {
  let rowBytes = 0;
  let eventBytes = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    const pipeline = redis.pipeline();
    for (const key of keys) pipeline.memory('USAGE', key, 'SAMPLES', '0');
    const sizes = ((await pipeline.exec()) ?? []).map(([, value]) => Number(value ?? 0));
    keys.forEach((key, index) => {
      if (key.endsWith(':events')) eventBytes += sizes[index]!;
      else rowBytes += sizes[index]!;
    });
  } while (cursor !== '0');
  return { rows: rowBytes, events: eventBytes };
}

/** The memory row of the results table. */
export async function redisMemoryPerRow(redis: Redis, simulator: ProviderSimulator): Promise<void> {
  const count = quick ? 5000 : 50_000;
  log(`Redis memory: ${count} rows, waiting then finished`);
  const prefix = await enqueueJobs(redis, count, SMALL_SIZE, { keepCompletedJobs: 0 });
  try {
    const waiting = await prefixBytes(redis, prefix);
    await runOurWorker(redis, prefix, providerEnvironment(simulator, 'openai', 16), [
      ...['--provider', 'openai', '--concurrency', '16', '--requests-per-minute', '0'],
    ]);
    const finished = await prefixBytes(redis, prefix);
    const perWaiting = waiting.rows / count;
    const perFinished = finished.rows / count;
    rows.push({
      benchmark: `Redis memory per row (${count.toLocaleString('en')} rows)`,
      measure: `bytes per finished row (row index, outcome; jobs removed); per waiting row ${Math.round(perWaiting)} B; event streams ${Math.round(finished.events / 1024)} KiB in all (capped)`,
      ours: `${Math.round(perFinished)} B`,
      bare: '',
      ratio: '',
      target: '≤ 200 B per finished row',
      met: perFinished <= 200,
    });
  } finally {
    await deletePrefix(redis, prefix);
  }
}
