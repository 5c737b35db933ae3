/**
 * `npm run bench -- --only scheduling` (issue 30): priorities and fair share on simulated hosts with real-looking
 * limits (OpenAI at 600 requests a minute, half a second a request, 16 at once), one run each:
 *
 * - an urgent 100-row batch enqueued behind 100,000 background rows (a worker already busy with them): its time from
 *   enqueue to its last row, against the same batch alone (target ≤ 2×);
 * - 10 batches of equal priority and weight, enqueued one after another, then worked: Jain's fairness index of the
 *   rows each finished, every full minute while all had rows left (target ≥ 0.95);
 * - the scheduler's cost on dispatch: our worker on 10,000 jobs with their priorities (the producer's path now) against
 *   the same jobs moved into BullMQ's wait list without one (the path before issue 30), 3 pairs, order alternating
 *   (target ≥ 95 %).
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { Queue } from 'bullmq';
import { BatchStore } from '../src/batch/batch-store.js';
import { queueNameFor } from '../src/shared/keys.js';
import type { ProviderSimulator } from '../src/simulator/server.js';
import {
  cli,
  deletePrefix,
  figure,
  formatFigure,
  log,
  newPrefix,
  percent,
  perSecond,
  quick,
  redisUrl,
  rows,
  runNode,
  scratch,
  SMALL_SIZE,
} from './harness.js';
import { measureOurWorker, providerEnvironment, withSimulator } from './worker-runs.js';

/** Requests a minute of the simulated OpenAI in the first two rows. */
const PER_MINUTE = 600;

/** The environment of the first two rows' enqueues and worker. */
function limitedEnvironment(simulator: ProviderSimulator, prefix: string): Record<string, string> {
  return {
    ...providerEnvironment(simulator, 'openai', 16),
    OPENAI_REQUESTS_PER_MINUTE: String(PER_MINUTE),
    REDIS_URL: redisUrl,
    IMAGE_BATCH_QUEUE_PREFIX: prefix,
    LOG_LEVEL: 'warn',
  };
}

/** Enqueue `count` rows as batch `batch` under `prefix` with `flags`. */
async function enqueueBatch(
  environment: Record<string, string>,
  batch: string,
  count: number,
  flags: string[],
): Promise<void> {
  const manifest = path.join(scratch, `scheduling-${environment.IMAGE_BATCH_QUEUE_PREFIX}-${batch}.jsonl`);
  const lines = Array.from({ length: count }, (_, index) =>
    JSON.stringify({
      id: `${batch}-${index}`,
      provider: 'openai',
      prompt: `${batch} ${index}`,
      quality: 'low',
    }),
  );
  await writeFile(manifest, `${lines.join('\n')}\n`);
  const out = path.join(scratch, environment.IMAGE_BATCH_QUEUE_PREFIX!);
  const run = await runNode(
    [cli, 'enqueue', manifest, '--batch', batch, '--out', out, ...flags],
    environment,
  );
  if (!run.stdout.includes(`enqueued ${count}`))
    throw new Error(`could not enqueue ${batch}:\n${run.stderr}`);
}

/** Run a worker on `prefix` while `work` runs; stopped afterwards. */
async function withWorker(environment: Record<string, string>, work: () => Promise<void>): Promise<void> {
  await runNode(
    [cli, 'worker', '--provider', 'openai', '--concurrency', '16'],
    environment,
    async (child) => {
      try {
        await work();
      } finally {
        child.kill('SIGTERM');
      }
    },
  );
}

/** Wait until batch `batch` has no pending row; @returns when (ms since the epoch). */
async function finished(store: BatchStore, batch: string, timeoutMs = 15 * 60_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await store.status(batch);
    if (status !== undefined && status.pending === 0)
      return Date.parse(status.lastOutcomeAt ?? '') || Date.now();
    if (Date.now() > deadline) throw new Error(`batch ${batch} did not finish`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** The urgent batch's time alone and behind 100,000 background rows, s. */
async function urgentBehindBackground(redis: Redis, simulator: ProviderSimulator): Promise<void> {
  const background = quick ? 20_000 : 100_000;
  const seconds: number[] = [];
  for (const behind of [false, true]) {
    const prefix = newPrefix();
    const environment = limitedEnvironment(simulator, prefix);
    const store = new BatchStore(redis, prefix);
    try {
      if (behind) await enqueueBatch(environment, 'nightly', background, ['--priority', 'background']);
      await withWorker(environment, async () => {
        // The worker busy with the background rows for a while first.
        if (behind) await new Promise((resolve) => setTimeout(resolve, 20_000));
        const start = Date.now();
        await enqueueBatch(environment, 'urgent', 100, ['--priority', 'urgent']);
        seconds.push(((await finished(store, 'urgent')) - start) / 1000);
      });
      log(
        `scheduling: urgent 100 rows ${behind ? `behind ${background} background rows` : 'alone'}: ${seconds.at(-1)!.toFixed(1)} s`,
      );
    } finally {
      await deletePrefix(redis, prefix);
    }
  }
  const [alone, behind] = seconds as [number, number];
  rows.push({
    benchmark: `Urgent 100 rows behind ${background.toLocaleString('en')} background rows`,
    measure: `s from enqueue to the last row, OpenAI simulated at ${PER_MINUTE} requests/min (alone → behind)`,
    ours: `${alone.toFixed(1)} s → ${behind.toFixed(1)} s`,
    peer: '—',
    versusPeer: '—',
    bare: '—',
    ratio: `${(behind / alone).toFixed(2)}×`,
    target: '≤ 2× alone',
    met: behind / alone <= 2,
  });
}

/** Jain's fairness index of `shares`: (Σx)² / (n Σx²), 1 when all are equal. */
export function jainIndex(shares: readonly number[]): number {
  const sum = shares.reduce((total, value) => total + value, 0);
  const squares = shares.reduce((total, value) => total + value * value, 0);
  return squares === 0 ? 1 : (sum * sum) / (shares.length * squares);
}

/** 10 equal batches enqueued one after another: Jain's index every full minute while all had rows left. */
async function tenEqualBatches(redis: Redis, simulator: ProviderSimulator): Promise<void> {
  const batches = Array.from({ length: 10 }, (_, index) => `equal${index}`);
  const perBatch = quick ? 100 : 200;
  const prefix = newPrefix();
  const environment = limitedEnvironment(simulator, prefix);
  const store = new BatchStore(redis, prefix);
  const finishedAt = new Map<string, number[]>();
  try {
    for (const batch of batches) await enqueueBatch(environment, batch, perBatch, []);
    await withWorker(environment, async () => {
      for (const batch of batches) await finished(store, batch);
    });
    for (const batch of batches) {
      const text = await readFile(path.join(scratch, prefix, batch, 'results.jsonl'), 'utf8');
      finishedAt.set(
        batch,
        text
          .split('\n')
          .filter((line) => line !== '')
          .map((line) => Date.parse((JSON.parse(line) as { finished_at: string }).finished_at)),
      );
    }
  } finally {
    await deletePrefix(redis, prefix);
  }
  const all = [...finishedAt.values()].flat();
  const start = Math.min(...all);
  // Full minutes before the first batch ran out of rows.
  const firstDone = Math.min(...[...finishedAt.values()].map((times) => Math.max(...times)));
  const minutes = Math.floor((firstDone - start) / 60_000);
  const indexes: number[] = [];
  for (let minute = 0; minute < minutes; minute += 1) {
    const from = start + minute * 60_000;
    const shares = batches.map(
      (batch) => finishedAt.get(batch)!.filter((at) => at >= from && at < from + 60_000).length,
    );
    indexes.push(jainIndex(shares));
    log(
      `scheduling: minute ${minute + 1}: rows per batch ${shares.join(' ')}, Jain ${indexes.at(-1)!.toFixed(3)}`,
    );
  }
  if (indexes.length === 0) throw new Error('no full minute with every batch running: more rows are needed');
  const lowest = Math.min(...indexes);
  rows.push({
    benchmark: '10 batches of equal priority, enqueued one after another',
    measure: `Jain's fairness index of rows finished per batch, each full minute (${indexes.length}) while all had rows left`,
    ours: indexes.map((index) => index.toFixed(3)).join(', '),
    peer: '—',
    versusPeer: '—',
    bare: '—',
    ratio: `lowest ${lowest.toFixed(3)}`,
    target: '≥ 0.95 every minute',
    met: lowest >= 0.95,
  });
}

/**
 * Move every job of the OpenAI queue under `prefix` from the prioritized set to the wait list without a priority, in
 * the order they would have been served: the path before issue 30 (BullMQ adds to the wait list's head, workers take
 * from its tail).
 */
async function withoutPriorities(redis: Redis, prefix: string): Promise<void> {
  const queue = new Queue(queueNameFor('openai'), { connection: redis, prefix });
  try {
    const ids = await redis.zrange(queue.keys.prioritized!, '0', '-1');
    for (let start = 0; start < ids.length; start += 1000) {
      const chunk = ids.slice(start, start + 1000);
      const multi = redis.multi();
      for (const id of chunk) multi.hset(`${queue.qualifiedName}:${id}`, 'priority', '0');
      multi.lpush(queue.keys.wait!, ...chunk);
      multi.zrem(queue.keys.prioritized!, ...chunk);
      await multi.exec();
    }
  } finally {
    await queue.close();
  }
}

/** Our worker on `jobs` jobs at concurrency 50, with or without their priorities: jobs/s. */
async function dispatchRate(
  redis: Redis,
  simulator: ProviderSimulator,
  jobs: number,
  prioritized: boolean,
): Promise<number> {
  const run = { provider: 'openai' as const, jobs, resolution: SMALL_SIZE, concurrency: 50 };
  const beforeWorker = (prefix: string) => withoutPriorities(redis, prefix);
  return (await measureOurWorker(redis, simulator, prioritized ? run : { ...run, beforeWorker })).rate;
}

/** The scheduler's cost on dispatch: with priorities against without, in pairs. */
async function schedulerOverhead(redis: Redis, simulator: ProviderSimulator): Promise<void> {
  const jobs = quick ? 2000 : 10_000;
  const withIt: number[] = [];
  const without: number[] = [];
  for (let pair = 0; pair < (quick ? 1 : 3); pair += 1) {
    const order = pair % 2 === 0 ? [true, false] : [false, true];
    for (const prioritized of order)
      (prioritized ? withIt : without).push(await dispatchRate(redis, simulator, jobs, prioritized));
    log(
      `scheduling: dispatch with priorities ${perSecond(withIt.at(-1)!)}, without ${perSecond(without.at(-1)!)}`,
    );
  }
  const ratios = figure(withIt.map((value, index) => value / without[index]!));
  rows.push({
    benchmark: 'Dispatch with priorities and fair-share tags, concurrency 50',
    measure: `jobs/s (${jobs.toLocaleString('en')} jobs; ratio: with / the same jobs without a priority, as before)`,
    ours: formatFigure(figure(withIt), perSecond),
    peer: '—',
    versusPeer: '—',
    // The baseline of this row: the same jobs on the path before issue 30.
    bare: `${formatFigure(figure(without), perSecond)} without priorities`,
    ratio: formatFigure(ratios, percent),
    target: '≥ 95 % (overhead ≤ 5 %)',
    met: ratios.median >= 0.95,
  });
}

export async function scheduling(redis: Redis): Promise<void> {
  await withSimulator(async (simulator) => {
    simulator.setHostConditions('openai', { rateLimitPerMinute: PER_MINUTE, latencyMs: 500 });
    try {
      await urgentBehindBackground(redis, simulator);
      await tenEqualBatches(redis, simulator);
    } finally {
      simulator.clearHostConditions();
    }
    await schedulerOverhead(redis, simulator);
  });
}
