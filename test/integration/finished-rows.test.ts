/**
 * Redis holds what is in flight, not history (issue 27): a finished row's jobs are removed once its outcome is
 * recorded, and what it leaves (the batch's row index, each row's outcome in it) is enough that re-running the manifest into the
 * batch pays for nothing — also while an asynchronous row is being collected, and after Redis restarts.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { batchKeys } from '../../src/shared/keys.js';
import { killSpawnedProcesses, runCliInProcess, spawnCli } from '../helpers/cli.js';
import { temporaryDirectory } from '../helpers/files.js';
import { jsonLine, manifestFolder, rowsPerProviderManifest, writeManifest } from '../helpers/manifests.js';
import { redisUrl, keysMatching, openTestRedis, rowRecords } from '../helpers/redis.js';
import { startPersistentRedisServer, stopRedisServers } from '../helpers/redis-servers.js';
import { readJsonLines, resultLines } from '../helpers/results.js';
import { simulatorSuite } from '../helpers/simulator-suite.js';
import { openRedis } from '../../src/shared/redis.js';

const suite = simulatorSuite();
afterEach(() => {
  killSpawnedProcesses();
  suite.simulator().setLatency(0);
});
afterAll(stopRedisServers);

/** Paid submissions the simulator received whose prompt starts with `name`. */
function paidFor(name: string): number {
  let total = 0;
  for (const [prompt, count] of suite.simulator().submissionsByPrompt)
    if (prompt.startsWith(name)) total += count;
  return total;
}

/** Keys under `prefix` that belong to a job of `batch` (job hashes, their logs and locks). */
async function jobKeysOf(url: string, prefix: string, batch: string): Promise<string[]> {
  const redis = openRedis(url);
  try {
    return (await keysMatching(redis, `${prefix}:*`)).filter((key) => key.includes(`:${batch}--`));
  } finally {
    redis.disconnect();
  }
}

function runArguments(manifest: string, out: string, batch: string): string[] {
  return ['run', manifest, '--out', out, '--batch', batch, '--requests-per-minute', '0'];
}

describe('finished rows', () => {
  it('leave no job in Redis, and a re-run of the manifest adds no line and pays nothing', async () => {
    const manifest = await rowsPerProviderManifest('leave', 6);
    const out = await temporaryDirectory();
    const environment = suite.environment();
    const first = await runCliInProcess(runArguments(manifest, out, 'leave'), environment);
    expect(first.stdout, first.stdout + first.stderr).toMatch(/12 completed, 0 failed, 0 pending/);
    expect(paidFor('leave')).toBe(12);
    expect(await jobKeysOf(redisUrl(), suite.prefix(), 'leave')).toEqual([]);
    const redis = openTestRedis();
    try {
      expect(await redis.hlen(batchKeys(suite.prefix(), 'leave').collecting)).toBe(0);
    } finally {
      redis.disconnect();
    }
    const again = await runCliInProcess(runArguments(manifest, out, 'leave'), environment);
    expect(again.exitCode, again.stdout + again.stderr).toBe(0);
    expect(paidFor('leave')).toBe(12);
    const lines = await resultLines(out, 'leave');
    expect(lines).toHaveLength(12);
    expect(new Set(lines.map((line) => line.row_key)).size).toBe(12);
  });

  it('a re-run while queued rows are being collected sends none of them again', async () => {
    const simulator = suite.simulator();
    simulator.setLatency(3000);
    const manifest = await rowsPerProviderManifest('collecting', 4);
    const out = await temporaryDirectory();
    const environment = suite.environment();
    const enqueue = ['enqueue', manifest, '--out', out, '--batch', 'collecting'];
    expect((await runCliInProcess(enqueue, environment)).exitCode).toBe(0);
    spawnCli(['worker', '--provider', 'fal'], environment);
    // Every fal row accepted and handed to its collection job: the submission jobs are done and gone.
    const deadline = Date.now() + 20_000;
    while (paidFor('collecting fal') < 4 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 50));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await runCliInProcess(enqueue, environment)).exitCode).toBe(0);
    const done = await runCliInProcess(runArguments(manifest, out, 'collecting'), environment);
    expect(done.stdout, done.stdout + done.stderr).toMatch(/8 completed, 0 failed, 0 pending/);
    expect(paidFor('collecting fal')).toBe(4);
    expect(paidFor('collecting openai')).toBe(4);
    expect(await resultLines(out, 'collecting')).toHaveLength(8);
  });

  it('a re-run after Redis restarted (append-only file) pays nothing either', async () => {
    const server = await startPersistentRedisServer();
    const url = `redis://127.0.0.1:${server.port}`;
    const manifest = await rowsPerProviderManifest('restarted', 3);
    const out = await temporaryDirectory();
    const environment = suite.environment({ REDIS_URL: url });
    const first = await runCliInProcess(runArguments(manifest, out, 'restarted'), environment);
    expect(first.stdout, first.stdout + first.stderr).toMatch(/6 completed, 0 failed, 0 pending/);
    await server.restart();
    expect(await jobKeysOf(url, suite.prefix(), 'restarted')).toEqual([]);
    const again = await runCliInProcess(runArguments(manifest, out, 'restarted'), environment);
    expect(again.exitCode, again.stdout + again.stderr).toBe(0);
    expect(paidFor('restarted')).toBe(6);
    expect(await resultLines(out, 'restarted')).toHaveLength(6);
  });
});

describe('the row index', () => {
  it('a row key already in the batch from another manifest is rejected naming that manifest and line', async () => {
    const folder = await manifestFolder();
    const first = await writeManifest(folder, 'first.jsonl', [
      jsonLine({ id: 'kept', prompt: 'index one', resolution: '1024x1024' }),
      jsonLine({ id: 'Twice', prompt: 'index two', resolution: '1024x1024' }),
    ]);
    const second = await writeManifest(folder, 'second.jsonl', [
      jsonLine({ id: 'fresh', prompt: 'index three', resolution: '1024x1024' }),
      jsonLine({ id: 'Twice', prompt: 'index four', resolution: '1024x1024' }),
      jsonLine({ id: 'twice', prompt: 'index five', resolution: '1024x1024' }),
    ]);
    const out = await temporaryDirectory();
    const environment = suite.environment();
    for (const manifest of [first, second]) {
      const result = await runCliInProcess(
        ['enqueue', manifest, '--out', out, '--batch', 'index', '--max-rejected', '5'],
        environment,
      );
      expect(result.exitCode, result.stderr).toBe(0);
    }
    const rejects = await readJsonLines<{ line: number; code: string; message: string }>(
      `${out}/index/rejects.jsonl`,
    );
    expect(rejects).toHaveLength(2);
    expect(rejects[0]).toMatchObject({ line: 2, code: 'duplicate_row_key' });
    expect(rejects[0]!.message).toContain(`${first}:2`);
    expect(rejects[1]).toMatchObject({ line: 3, code: 'row_key_collision' });
    expect(rejects[1]!.message).toContain('"Twice"');
  });

  it('of a 6,000-row manifest stays in compact buckets: under 48 bytes of Redis a row, every row there', async () => {
    const folder = await manifestFolder();
    const lines = ['id,prompt,resolution,quality,provider'];
    for (let index = 0; index < 6_000; index += 1)
      lines.push(`row-${index},A compact index image,1024x1024,low,openai`);
    const manifest = await writeManifest(folder, 'compact.csv', lines);
    const out = await temporaryDirectory();
    const result = await runCliInProcess(
      ['enqueue', manifest, '--out', out, '--batch', 'compact', '--window', '50'],
      suite.environment(),
    );
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    const redis = openTestRedis();
    try {
      const buckets = await keysMatching(redis, `${suite.prefix()}:batch:{compact}:rows:*`);
      expect(buckets.length).toBeGreaterThan(1);
      let bytes = 0;
      for (const bucket of buckets) {
        expect(await redis.object('ENCODING', bucket)).toBe('listpack');
        bytes += (await redis.memory('USAGE', bucket)) ?? 0;
      }
      expect(Object.keys(await rowRecords(redis, suite.prefix(), 'compact'))).toHaveLength(6_000);
      expect(bytes / 6_000).toBeLessThan(48);
    } finally {
      redis.disconnect();
    }
  });
});
