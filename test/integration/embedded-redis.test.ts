/**
 * `run` without a shared Redis: it starts a private redis-server with its data under `<out>/.redis/`, says so, stops
 * it at the end, and after an interruption the same command continues the batch from that data.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findRedisServer, isAlive } from '../../src/shared/embedded-redis.js';
import { ProviderSimulator } from '../../src/simulator/server.js';
import { killSpawnedProcesses, runCliProcess, spawnCli } from '../helpers/cli.js';
import { removeTemporaryDirectories, temporaryDirectory } from '../helpers/files.js';
import { jsonLine, manifestFolder, writeManifest } from '../helpers/manifests.js';
import { simulatorEnvironment } from '../helpers/simulator-environment.js';

let simulator: ProviderSimulator;
/** Private Redis servers the runs here started: stopped at the end even when a test fails midway. */
const privatePids = new Set<number>();
const hasRedisServer = (await findRedisServer()) !== undefined;

beforeAll(async () => {
  simulator = new ProviderSimulator({ latencyMs: 50 });
  await simulator.start();
});
afterAll(async () => {
  killSpawnedProcesses();
  for (const pid of privatePids) if (isAlive(pid)) process.kill(pid, 'SIGTERM');
  await simulator.stop();
  await removeTemporaryDirectories();
});

/** The pid `run` printed for its private Redis. */
function privatePid(stdout: string): number {
  const match = /pid (\d+)/.exec(stdout);
  expect(match, stdout).not.toBeNull();
  privatePids.add(Number(match![1]));
  return Number(match![1]);
}

async function manifestOf(count: number, tag: string): Promise<string> {
  const folder = await manifestFolder();
  const rows = Array.from({ length: count }, (_, index) =>
    jsonLine({ id: `row-${index}`, prompt: `${tag} ${index}`, resolution: '1024x768' }),
  );
  return writeManifest(folder, `${tag}.jsonl`, rows);
}

describe.skipIf(!hasRedisServer)('run with a private Redis', () => {
  it('REDIS_URL=embedded: starts one under <out>/.redis, says so, finishes the batch and stops it', async () => {
    const out = await temporaryDirectory();
    const manifest = await manifestOf(3, 'embedded');
    const result = await runCliProcess(['run', manifest, '--out', out, '--batch', 'private'], {
      REDIS_URL: 'embedded',
      LOG_LEVEL: 'warn',
      ...simulatorEnvironment(simulator.url, 'sk-embedded'),
    });
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain(
      `Redis: REDIS_URL=embedded; started a private one (pid ${privatePid(result.stdout)}, data in ${path.join(out, '.redis')})`,
    );
    expect(result.stdout).toMatch(/3 completed, 0 failed, 0 pending/);
    expect(isAlive(privatePid(result.stdout))).toBe(false);
    expect(existsSync(path.join(out, '.redis', 'appendonlydir'))).toBe(true);
  });

  it('an interrupted run continues from the private Redis it left, paying for no row twice', async () => {
    const out = await temporaryDirectory();
    const manifest = await manifestOf(6, 'interrupted');
    const environment = {
      REDIS_URL: 'embedded',
      LOG_LEVEL: 'warn',
      ...simulatorEnvironment(simulator.url, 'sk-embedded'),
      OXEN_CONCURRENCY: '1',
      // The killed run's job is taken over once its lock runs out.
      IMAGE_BATCH_LOCK_DURATION_MS: '1500',
      IMAGE_BATCH_STALLED_INTERVAL_MS: '500',
    };
    simulator.setLatency(1500);
    const before = simulator.paidRequestTotal;
    try {
      const first = spawnCli(['run', manifest, '--out', out, '--batch', 'interrupted'], environment);
      let stdout = '';
      first.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      const exited = new Promise((resolve) => first.on('exit', resolve));
      const results = path.join(out, 'interrupted', 'results.jsonl');
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        const lines = await readFile(results, 'utf8').catch(() => '');
        if (lines.trim() !== '') break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      // The next row is submitted within milliseconds and then waits 1.5 s for its result: kill it while it waits
      // (its request id saved), not while it is being sent.
      await new Promise((resolve) => setTimeout(resolve, 500));
      first.kill('SIGKILL');
      await exited;
      const leftPid = privatePid(stdout);
      expect(isAlive(leftPid)).toBe(true);

      simulator.setLatency(50);
      const again = await runCliProcess(
        ['run', manifest, '--out', out, '--batch', 'interrupted'],
        environment,
      );
      expect(again.exitCode, again.stdout + again.stderr).toBe(0);
      expect(again.stdout).toContain(`continuing with the private Redis an interrupted run left`);
      expect(again.stdout).toMatch(/6 completed, 0 failed, 0 pending/);
      expect(isAlive(leftPid)).toBe(false);
      for (let index = 0; index < 6; index += 1)
        expect(simulator.submissionsByPrompt.get(`interrupted ${index}`)).toBe(1);
      expect(simulator.paidRequestTotal - before).toBe(6);
      expect((await readFile(results, 'utf8')).trim().split('\n')).toHaveLength(6);
    } finally {
      simulator.setLatency(50);
    }
  });
});

describe('without a shared Redis, the other verbs', () => {
  it('say that they need one (REDIS_URL=embedded is for run only)', async () => {
    const result = await runCliProcess(['status', 'anything'], { REDIS_URL: 'embedded', LOG_LEVEL: 'warn' });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/REDIS_URL=embedded starts a private Redis for `image-batch run` only/);
  });
});
