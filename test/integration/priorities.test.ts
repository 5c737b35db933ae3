/**
 * Priorities and fair share (issue 30): rows of higher priority are sent first on a host; batches of one priority
 * share a host in proportion to their weights whatever order they were enqueued in, a budget-held batch's share goes
 * to the others; rows that waited long climb (ageing); a priority change killed half-way is finished later, nothing
 * lost.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { ImageBatch } from '../../src/library/index.js';
import { finishPriorityChanges } from '../../src/batch/priority-change.js';
import { BatchStore } from '../../src/batch/batch-store.js';
import { levelOfJobPriority } from '../../src/batch/priority.js';
import { queueNameFor } from '../../src/shared/keys.js';
import { killSpawnedProcesses, runCliInProcess, spawnCli } from '../helpers/cli.js';
import { temporaryDirectory } from '../helpers/files.js';
import { providerManifest } from '../helpers/manifests.js';
import { openTestRedis } from '../helpers/redis.js';
import { simulatorSuite } from '../helpers/simulator-suite.js';

const suite = simulatorSuite();
afterEach(() => {
  killSpawnedProcesses();
  suite.simulator().setLatency(0);
});

/** Enqueue `rows` OpenAI rows as batch `name` with the CLI's extra `flags`. */
async function enqueue(name: string, rows: number, out: string, flags: string[] = []): Promise<void> {
  const manifest = await providerManifest(name, rows, 'openai');
  const result = await runCliInProcess(
    ['enqueue', manifest, '--out', out, '--batch', name, '--window', '0', ...flags],
    suite.environment(),
  );
  expect(result.exitCode, result.stdout + result.stderr).toBe(0);
}

/**
 * The batch (prompt `<batch> <n>`) of each prompt of `batches` the simulator was first asked for, in order (the
 * simulator serves every test of the file).
 */
function submissionOrder(batches: readonly string[]): string[] {
  return [...suite.simulator().submissionsByPrompt.keys()]
    .map((prompt) => prompt.split(' ')[0]!)
    .filter((batch) => batches.includes(batch));
}

/** Work the OpenAI queue `concurrency` jobs at a time (default one) until `batches` are finished. */
async function workUntilFinished(
  batches: string[],
  environment = suite.environment(),
  concurrency = 1,
): Promise<void> {
  const images = new ImageBatch({ environment });
  const pool = await images.startWorkers({ providers: ['openai'], concurrency });
  try {
    for (const batch of batches) {
      const status = await images.waitForBatch(batch, { pollIntervalMs: 100 });
      expect(status.state).toBe('finished');
    }
  } finally {
    await pool.close();
    await images.close();
  }
}

/** How many of the first `count` submissions of `batches` each had. */
function shareOfFirst(batches: readonly string[], count: number): Record<string, number> {
  const shares: Record<string, number> = {};
  for (const batch of submissionOrder(batches).slice(0, count)) shares[batch] = (shares[batch] ?? 0) + 1;
  return shares;
}

describe('priorities', () => {
  it('sends an urgent batch enqueued behind a background one first', { timeout: 120_000 }, async () => {
    const out = await temporaryDirectory();
    await enqueue('nightly', 30, out, ['--priority', 'background']);
    await enqueue('urgent', 8, out, ['--priority', 'urgent']);
    await workUntilFinished(['urgent', 'nightly']);
    const order = submissionOrder(['urgent', 'nightly']);
    expect(order.slice(0, 8)).toEqual(Array(8).fill('urgent'));
    expect(order.filter((batch) => batch === 'nightly')).toHaveLength(30);
  });

  it('shares a host between batches of one priority by weight, whatever order they came in', async () => {
    const out = await temporaryDirectory();
    await enqueue('first', 40, out);
    await enqueue('second', 40, out);
    await enqueue('heavy', 60, out, ['--weight', '2']);
    await workUntilFinished(['first', 'second', 'heavy']);
    // Enqueued one after another, yet the first 40 submissions are shared 1 : 1 : 2.
    const shares = shareOfFirst(['first', 'second', 'heavy'], 40);
    expect(shares.first).toBeGreaterThanOrEqual(8);
    expect(shares.first).toBeLessThanOrEqual(12);
    expect(shares.second).toBeGreaterThanOrEqual(8);
    expect(shares.second).toBeLessThanOrEqual(12);
    expect(shares.heavy).toBeGreaterThanOrEqual(18);
    expect(shares.heavy).toBeLessThanOrEqual(22);
  });

  it('gives the share of a batch held at its budget cap to the others at once', async () => {
    const out = await temporaryDirectory();
    // One low-quality 1024x1024 image is about $0.006: the cap holds the batch after a row or two.
    await enqueue('capped', 30, out, ['--budget-usd', '0.012']);
    await enqueue('left', 20, out);
    await enqueue('right', 20, out);
    const images = new ImageBatch({ environment: suite.environment() });
    const pool = await images.startWorkers({ providers: ['openai'], concurrency: 1 });
    try {
      for (const batch of ['left', 'right'])
        expect((await images.waitForBatch(batch, { pollIntervalMs: 100 })).state).toBe('finished');
      expect((await images.status('capped'))!.state).toBe('budget_reached');
    } finally {
      await pool.close();
      await images.close();
    }
    const order = submissionOrder(['left', 'right']);
    // The two open batches alternate from the start (first in, first out would send all of `left` first).
    const firstTwenty = order.slice(0, 20);
    expect(firstTwenty.filter((batch) => batch === 'left').length).toBeGreaterThanOrEqual(8);
    expect(firstTwenty.filter((batch) => batch === 'right').length).toBeGreaterThanOrEqual(8);
  });

  it('lets rows that waited past the ageing time climb, so a background batch moves under urgent work', async () => {
    const out = await temporaryDirectory();
    const environment = suite.environment({ IMAGE_BATCH_AGEING_SECONDS: '1' });
    await enqueue('patient', 3, out, ['--priority', 'background']);
    // Urgent work for ~20 s at 250 ms a request, one at a time; background rows climb a level a second once 1 s old.
    await enqueue('busy', 80, out, ['--priority', 'urgent']);
    suite.simulator().setLatency(250);
    await workUntilFinished(['busy', 'patient'], environment);
    const order = submissionOrder(['busy', 'patient']);
    expect(order.slice(0, 3)).toEqual(['busy', 'busy', 'busy']);
    // Every background row was sent before the urgent batch ended.
    expect(order.lastIndexOf('patient')).toBeLessThan(order.lastIndexOf('busy'));
  });
});

describe('a priority change', () => {
  // 3,000 rows: the change takes long enough (15 steps of 200 jobs) to be killed in the middle of it.
  it(
    'moves waiting rows to the new level; killed half-way, the next sweep finishes it, nothing lost',
    { timeout: 180_000 },
    async () => {
      const out = await temporaryDirectory();
      const rows = 3000;
      await enqueue('bulk', rows, out, ['--priority', 'background']);
      const redis = openTestRedis();
      const queue = new Queue(queueNameFor('openai'), { connection: redis, prefix: suite.prefix() });
      const levels = async () => {
        const entries = await redis.zrange(queue.keys.prioritized!, '0', '-1', 'WITHSCORES');
        const counts = new Map<number, number>();
        for (let index = 1; index < entries.length; index += 2) {
          const level = levelOfJobPriority(Math.floor(Number(entries[index]) / 2 ** 32));
          counts.set(level, (counts.get(level) ?? 0) + 1);
        }
        return counts;
      };
      try {
        expect(await levels()).toEqual(new Map([[9, rows]]));
        const child = spawnCli(['priority', 'bulk', 'urgent'], suite.environment());
        let seen = new Map<number, number>();
        for (;;) {
          seen = await levels();
          if ((seen.get(1) ?? 0) > 0 || child.exitCode !== null) break;
        }
        child.kill('SIGKILL');
        await new Promise((resolve) => child.once('exit', resolve));
        const moved = (await levels()).get(1) ?? 0;
        expect(moved, 'killed after some rows moved and before all did').toBeGreaterThan(0);
        expect(moved).toBeLessThan(rows);
        // The change is recorded: the batch's level, and the change under way.
        const store = new BatchStore(redis, suite.prefix());
        expect((await store.priorities.of('bulk')).level).toBe(1);
        expect(await redis.smembers(`${suite.prefix()}:priority-changes`)).toEqual(['bulk']);
        // A worker's sweep finishes it (once the killed process's lock has lapsed: seconds).
        const target = {
          redis,
          prefix: suite.prefix(),
          priorities: store.priorities,
          queues: [queue],
          batchIds: () => store.listBatches(),
        };
        const deadline = Date.now() + 20_000;
        while ((await redis.scard(`${suite.prefix()}:priority-changes`)) > 0 && Date.now() < deadline) {
          await finishPriorityChanges(target);
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
        expect(await levels()).toEqual(new Map([[1, rows]]));
        expect(await redis.smembers(`${suite.prefix()}:priority-changes`)).toEqual([]);
        // Every row still has its one job, whose own priority is the one it is queued at.
        const entries = await redis.zrange(queue.keys.prioritized!, '0', '-1', 'WITHSCORES');
        const ids = entries.filter((_, index) => index % 2 === 0);
        expect(new Set(ids)).toEqual(
          new Set(Array.from({ length: rows }, (_, index) => `bulk--bulk-${index}`)),
        );
        const stored = await Promise.all(
          ids.map((id) => redis.hget(`${queue.qualifiedName}:${id}`, 'priority')),
        );
        ids.forEach((_, index) =>
          expect(Number(stored[index])).toBe(Math.floor(Number(entries[2 * index + 1]) / 2 ** 32)),
        );
      } finally {
        await queue.close();
        redis.disconnect();
      }
    },
  );
});
