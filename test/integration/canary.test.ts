/**
 * The canary (`run --canary N`): N stratified rows run first, the rest is held — enqueued once, paid for nothing —
 * until `image-batch approve`; `--yes` approves by itself only when nothing failed and the cost is within tolerance.
 * Rows with several candidate hosts take part: a held one waits in the route queue with no host chosen.
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { BatchStore } from '../../src/batch/batch-store.js';
import { loadConfig } from '../../src/providers/configuration.js';
import { queueNameFor, ROUTE_QUEUE_NAME } from '../../src/shared/keys.js';
import { startWorkerPool } from '../../src/worker/worker-pool.js';
import { runCliInProcess, startCliInProcess, waitForOutput } from '../helpers/cli.js';
import { temporaryDirectory } from '../helpers/files.js';
import { jsonLine, manifestFolder, writeManifest } from '../helpers/manifests.js';
import { redisUrl } from '../helpers/redis.js';
import { resultLines } from '../helpers/results.js';
import { simulatorSuite } from '../helpers/simulator-suite.js';

const suite = simulatorSuite();
const environment = (extra: Record<string, string> = {}) => suite.environment(extra);

/** The batch's status as `status --json` prints it. */
async function statusOf(batch: string): Promise<Record<string, any>> {
  const result = await runCliInProcess(['status', batch, '--json'], environment());
  return JSON.parse(result.stdout) as Record<string, any>;
}

/** Submissions the simulator counted for prompts that start with `tag`. */
function paidFor(tag: string): number[] {
  return [...suite.simulator().submissionsByPrompt]
    .filter(([prompt]) => prompt.startsWith(tag))
    .map(([, count]) => count);
}

describe('canary', () => {
  it('200 rows, --canary 10: ten stratified rows run, the batch waits; approve finishes the rest, each row paid once', async () => {
    const tag = `canary-${suite.prefix()}`;
    const providers = ['openai', 'fal', 'oxen', 'replicate'];
    const sizes = ['1024x1024', '1536x1024'];
    const qualities = ['low', 'medium'];
    const rows = Array.from({ length: 200 }, (_, index) =>
      jsonLine({
        id: `row-${index}`,
        provider: providers[index % 4],
        prompt: `${tag} picture ${index}`,
        resolution: sizes[Math.floor(index / 4) % 2],
        quality: qualities[Math.floor(index / 8) % 2],
      }),
    );
    const folder = await manifestFolder();
    const manifest = await writeManifest(folder, 'canary.jsonl', rows);
    const out = await temporaryDirectory();
    const run = startCliInProcess(
      ['run', manifest, '--out', out, '--batch', 'canary', '--canary', '10'],
      environment(),
    );
    await waitForOutput(run.output, /Waiting for approval: `image-batch approve canary`/);
    const waiting = await statusOf('canary');
    expect(waiting.state).toBe('awaiting_approval');
    expect(waiting).toMatchObject({ rows: 200, pending: 190 });
    expect(waiting.completed + waiting.failed).toBe(10);
    // 16 strata (4 providers × 2 sizes × 2 qualities; row i is in stratum i mod 16): ten rows, ten strata.
    const canaryLines = await resultLines(out, 'canary');
    const strata = new Set(canaryLines.map((line) => Number(line.row_key.slice('row-'.length)) % 16));
    expect(canaryLines).toHaveLength(10);
    expect(new Set(canaryLines.map((line) => line.provider)).size).toBe(4);
    expect(strata.size).toBe(10);
    // Nothing beyond the canary was paid for, even after a while.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(paidFor(tag).reduce((sum, count) => sum + count, 0)).toBe(10);

    const approved = await runCliInProcess(['approve', 'canary'], environment());
    expect(approved.exitCode, approved.stdout + approved.stderr).toBe(0);
    expect(approved.stdout).toMatch(/canary approved; released 190 held rows/);
    const finished = await run.done;
    expect(finished.exitCode, finished.stdout + finished.stderr).toBe(0);
    expect(finished.stdout).toMatch(
      /Canary of batch canary: 10 rows — 10 completed, 0 failed; 190 rows held/,
    );
    expect(finished.stdout).toMatch(/200 completed, 0 failed, 0 pending/);
    const lines = await resultLines(out, 'canary');
    expect(new Set(lines.map((line) => line.row_key)).size).toBe(200);
    const paid = paidFor(tag);
    expect(paid).toHaveLength(200);
    expect(paid.every((count) => count === 1)).toBe(true);
    // Approving again releases nothing and pays nothing.
    const again = await runCliInProcess(['approve', 'canary'], environment());
    expect(again.stdout).toMatch(/released 0 held rows/);
  });

  it('--yes approves a canary within tolerance by itself; a failed canary row waits for a person', async () => {
    const tag = `yes-${suite.prefix()}`;
    const folder = await manifestFolder();
    const good = await writeManifest(
      folder,
      'good.jsonl',
      Array.from({ length: 12 }, (_, index) =>
        jsonLine({
          provider: 'openai',
          prompt: `${tag} good ${index}`,
          resolution: '1024x1024',
          quality: 'low',
        }),
      ),
    );
    const out = await temporaryDirectory();
    const auto = await runCliInProcess(
      ['run', good, '--out', out, '--batch', 'auto', '--canary', '3', '--yes'],
      environment(),
    );
    expect(auto.exitCode, auto.stdout + auto.stderr).toBe(0);
    expect(auto.stdout).toMatch(
      /Approved \(--yes\): the measured cost per image is ±0\.0 % from the estimate/,
    );
    expect(auto.stdout).toMatch(/12 completed, 0 failed, 0 pending/);

    const refused = await writeManifest(folder, 'refused.jsonl', [
      jsonLine({ provider: 'openai', prompt: `${tag} [simulate:refuse] bad`, resolution: '1024x1024' }),
      ...Array.from({ length: 5 }, (_, index) =>
        jsonLine({ provider: 'openai', prompt: `${tag} after ${index}`, resolution: '1024x1024' }),
      ),
    ]);
    const run = startCliInProcess(
      ['run', refused, '--out', out, '--batch', 'refused', '--canary', '1', '--yes'],
      environment(),
    );
    await waitForOutput(run.output, /Not approved by --yes: 1 canary row\(s\) failed/);
    expect((await statusOf('refused')).state).toBe('awaiting_approval');
    expect(paidFor(`${tag} after`)).toEqual([]);
    await runCliInProcess(['approve', 'refused'], environment());
    const finished = await run.done;
    expect(finished.stdout).toMatch(/5 completed, 1 failed, 0 pending/);
    expect(paidFor(`${tag} [simulate:refuse]`)).toEqual([1]);
  });

  it('a held job promoted by hand (bull-board "promote") still waits and pays nothing until approval', async () => {
    const tag = `promoted-${suite.prefix()}`;
    const folder = await manifestFolder();
    const manifest = await writeManifest(
      folder,
      'promoted.jsonl',
      Array.from({ length: 3 }, (_, index) =>
        jsonLine({ provider: 'openai', prompt: `${tag} ${index}`, resolution: '1024x1024', quality: 'low' }),
      ),
    );
    const out = await temporaryDirectory();
    const enqueued = await runCliInProcess(
      ['enqueue', manifest, '--out', out, '--batch', 'promoted', '--canary', '1'],
      environment(),
    );
    expect(enqueued.exitCode, enqueued.stdout).toBe(0);
    const redis = new Redis(redisUrl(), { maxRetriesPerRequest: null });
    const queue = new Queue(queueNameFor('openai'), { connection: redis, prefix: suite.prefix() });
    const pool = startWorkerPool({
      config: loadConfig(environment()),
      redis,
      store: new BatchStore(redis, suite.prefix()),
      providers: ['openai'],
      log: pino({ level: 'silent' }),
    });
    try {
      await queue.promoteJobs();
      for (let wait = 0; wait < 100 && paidFor(tag).length < 1; wait += 1)
        await new Promise((resolve) => setTimeout(resolve, 100));
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(paidFor(tag)).toEqual([1]);
      expect(await queue.getDelayedCount()).toBe(2);
      const approved = await runCliInProcess(['approve', 'promoted'], environment());
      expect(approved.stdout).toMatch(/released 2 held rows/);
      for (let wait = 0; wait < 100 && paidFor(tag).length < 3; wait += 1)
        await new Promise((resolve) => setTimeout(resolve, 100));
      expect(paidFor(tag)).toEqual([1, 1, 1]);
    } finally {
      await pool.close();
      await queue.close();
      redis.disconnect();
    }
  });

  it('routed rows (--providers): canary rows get a host, held rows wait in the route queue with none until approval', async () => {
    const tag = `routed-${suite.prefix()}`;
    const folder = await manifestFolder();
    const manifest = await writeManifest(
      folder,
      'routed.jsonl',
      Array.from({ length: 8 }, (_, index) =>
        jsonLine({
          id: `routed-${index}`,
          prompt: `${tag} ${index}`,
          resolution: index % 2 === 0 ? '1024x1024' : '1536x1024',
          quality: 'low',
        }),
      ),
    );
    const out = await temporaryDirectory();
    const run = startCliInProcess(
      ['run', manifest, '--out', out, '--batch', 'routed', '--providers', 'openai,fal', '--canary', '2'],
      environment(),
    );
    await waitForOutput(run.output, /Waiting for approval: `image-batch approve routed`/);
    // Two strata (the two sizes on the same candidate hosts): one canary row each, routed and paid once.
    const canaryLines = await resultLines(out, 'routed');
    expect(new Set(canaryLines.map((line) => line.resolution)).size).toBe(2);
    expect(canaryLines.every((line) => ['openai', 'fal'].includes(line.provider))).toBe(true);
    const redis = new Redis(redisUrl(), { maxRetriesPerRequest: null });
    const routeQueue = new Queue(ROUTE_QUEUE_NAME, { connection: redis, prefix: suite.prefix() });
    try {
      expect(await routeQueue.getDelayedCount()).toBe(6);
      // Promoted by hand, the held routing jobs get no host: the router holds them again.
      await routeQueue.promoteJobs();
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(await routeQueue.getDelayedCount()).toBe(6);
      expect(paidFor(tag)).toEqual([1, 1]);
    } finally {
      await routeQueue.close();
      redis.disconnect();
    }
    const approved = await runCliInProcess(['approve', 'routed'], environment());
    expect(approved.stdout).toMatch(/canary approved; released 6 held rows/);
    const finished = await run.done;
    expect(finished.exitCode, finished.stdout + finished.stderr).toBe(0);
    expect(finished.stdout).toMatch(/8 completed, 0 failed, 0 pending/);
    expect(paidFor(tag)).toEqual(Array.from({ length: 8 }, () => 1));
  });

  it('refuses --canary on a batch whose rows already run without one', async () => {
    const folder = await manifestFolder();
    const manifest = await writeManifest(folder, 'late.jsonl', [
      jsonLine({ provider: 'openai', prompt: `late-${suite.prefix()}`, resolution: '1024x1024' }),
    ]);
    const out = await temporaryDirectory();
    expect(
      (await runCliInProcess(['enqueue', manifest, '--out', out, '--batch', 'late'], environment())).exitCode,
    ).toBe(0);
    const late = await runCliInProcess(
      ['enqueue', manifest, '--out', out, '--batch', 'late', '--canary', '1'],
      environment(),
    );
    expect(late.exitCode).toBe(2);
    expect(late.stderr).toMatch(/batch late already has 1 rows running without a canary/);
  });
});
