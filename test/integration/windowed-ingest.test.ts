/**
 * Windowed ingest (issue 27): `enqueue`/`run` read, check and price the whole manifest but put only a window of rows'
 * jobs into Redis; workers add the rest from the batch's manifest cursor as rows finish; a killed producer resumes
 * from the cursor; an edited manifest is refused.
 */
import { appendFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { ManifestCursors } from '../../src/batch/manifest-cursor.js';
import { batchKeys } from '../../src/shared/keys.js';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { s3ClientConfig, s3SettingsFromEnv } from '../../src/storage/s3-store.js';
import { killSpawnedProcesses, runCliInProcess, runCliProcess, spawnCli } from '../helpers/cli.js';
import { startObjectStorage } from '../helpers/object-storage.js';
import { temporaryDirectory } from '../helpers/files.js';
import { jsonLine, rowsPerProviderManifest } from '../helpers/manifests.js';
import { keysMatching, openTestRedis } from '../helpers/redis.js';
import { resultLines } from '../helpers/results.js';
import { simulatorSuite } from '../helpers/simulator-suite.js';
import { type RedisConnection } from '../../src/shared/redis.js';

const suite = simulatorSuite();
afterEach(() => {
  killSpawnedProcesses();
  suite.simulator().setLatency(0);
});

/** Paid submissions the simulator received for each prompt starting with `name`. */
function paymentsFor(name: string): number[] {
  return [...suite.simulator().submissionsByPrompt]
    .filter(([prompt]) => prompt.startsWith(name))
    .map(([, count]) => count);
}

/** Rows of `batch` that have a job in Redis now (submission, route or collection job). */
async function rowsWithJobs(redis: RedisConnection, batch: string): Promise<number> {
  const keys = await keysMatching(redis, `${suite.prefix()}:*:${batch}--*`);
  const rows = new Set<string>();
  for (const key of keys) {
    const match = /:[^:]+--([^:-]+-\d+)(?:--[^:]*)?$/.exec(key);
    if (match !== null) rows.add(match[1]!);
  }
  return rows.size;
}

async function statusOf(
  batch: string,
): Promise<{ pending: number; inManifests?: { rows: number; window: number } }> {
  const result = await runCliInProcess(['status', batch, '--json'], suite.environment());
  expect(result.exitCode, result.stdout + result.stderr).toBe(0);
  return JSON.parse(result.stdout) as { pending: number; inManifests?: { rows: number; window: number } };
}

async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('windowed ingest', () => {
  it(
    'enqueues only a window of jobs, counts the rest as pending in the manifest, and workers add them as rows finish',
    { timeout: 120_000 },
    async () => {
      const redis = openTestRedis();
      try {
        const manifest = await rowsPerProviderManifest('window', 15);
        const out = await temporaryDirectory();
        const environment = suite.environment();
        const enqueue = await runCliInProcess(
          ['enqueue', manifest, '--out', out, '--batch', 'window', '--window', '8'],
          environment,
        );
        expect(enqueue.stdout, enqueue.stderr).toMatch(/read 30 rows; enqueued 30; 0 rejected/);
        expect(enqueue.stdout).toMatch(/22 of them wait in the manifest \(window 8 rows/);
        expect(await rowsWithJobs(redis, 'window')).toBe(8);
        const before = await statusOf('window');
        expect(before.pending).toBe(30);
        expect(before.inManifests).toEqual({ rows: 22, window: 8 });

        suite.simulator().setLatency(150);
        spawnCli(['worker', '--provider', 'openai', 'fal'], environment);
        let most = 0;
        await waitFor(async () => {
          most = Math.max(most, await rowsWithJobs(redis, 'window'));
          return (await resultLines(out, 'window').catch(() => [])).length >= 30;
        }, 60_000);
        expect(most).toBeGreaterThan(0);
        expect(most).toBeLessThanOrEqual(8);
        const lines = await resultLines(out, 'window');
        expect(new Set(lines.map((line) => line.row_key)).size).toBe(30);
        expect(lines.every((line) => line.status === 'completed')).toBe(true);
        expect(paymentsFor('window ')).toHaveLength(30);
        expect(paymentsFor('window ').every((count) => count === 1)).toBe(true);
        const after = await statusOf('window');
        expect(after.pending).toBe(0);
        expect(after.inManifests?.rows).toBe(0);
      } finally {
        redis.disconnect();
      }
    },
  );

  it(
    'a producer killed mid-batch resumes from the manifest cursor: every row once, nothing paid twice',
    { timeout: 120_000 },
    async () => {
      const redis = openTestRedis();
      try {
        const manifest = await rowsPerProviderManifest('resume', 40, ['openai']);
        const out = await temporaryDirectory();
        // Jobs the killed process held are found stalled within a second or two.
        const environment = suite.environment({
          IMAGE_BATCH_LOCK_DURATION_MS: '1500',
          IMAGE_BATCH_STALLED_INTERVAL_MS: '500',
        });
        const runArguments = ['run', manifest, '--out', out, '--batch', 'resume', '--window', '6'];
        suite.simulator().setLatency(100);
        const first = spawnCli(runArguments, environment);
        const cursors = new ManifestCursors(redis, suite.prefix());
        // Killed once the cursor has moved well into the file: part of the rows done, the rest still in the manifest.
        await waitFor(async () => ((await cursors.read('resume'))?.position?.line ?? 0) > 12, 60_000);
        first.kill('SIGKILL');
        await new Promise((resolve) => first.once('exit', resolve));
        const atKill = (await cursors.read('resume'))!;
        expect(atKill.position).toBeDefined();
        expect(atKill.position!.line).toBeLessThan(41);
        const linesAtKill = (await resultLines(out, 'resume').catch(() => [])).length;
        expect(linesAtKill).toBeLessThan(40);

        const again = await runCliInProcess(runArguments, environment);
        expect(again.stdout, again.stdout + again.stderr).toMatch(
          /read 40 rows; enqueued 0; 40 already enqueued/,
        );
        const lines = await resultLines(out, 'resume');
        expect(new Set(lines.map((line) => line.row_key)).size).toBe(40);
        expect(lines).toHaveLength(40);
        // A call cut by the kill is never sent again (at most once each); every row was paid for at most once.
        expect(paymentsFor('resume ').every((count) => count === 1)).toBe(true);
        expect((await cursors.read('resume'))!.position).toBeUndefined();
      } finally {
        redis.disconnect();
      }
    },
  );

  it(
    'a manifest in S3-compatible storage is read and refilled from its cursor the same way (ranged GETs)',
    { timeout: 120_000 },
    async () => {
      const storage = await startObjectStorage();
      try {
        const s3 = new S3Client({
          ...s3ClientConfig(s3SettingsFromEnv(storage.environment)),
          credentials: {
            accessKeyId: storage.environment.AWS_ACCESS_KEY_ID!,
            secretAccessKey: storage.environment.AWS_SECRET_ACCESS_KEY!,
          },
        });
        const body = Array.from({ length: 14 }, (_, index) =>
          jsonLine({
            id: `s3-${index}`,
            provider: 'openai',
            prompt: `from s3 #${index}`,
            resolution: '1024x1024',
          }),
        ).join('\n');
        await s3.send(
          new PutObjectCommand({ Bucket: storage.bucket, Key: 'manifests/s3rows.jsonl', Body: body }),
        );
        s3.destroy();
        const out = await temporaryDirectory();
        const manifest = `s3://${storage.bucket}/manifests/s3rows.jsonl`;
        const environment = suite.environment(storage.environment);
        const run = await runCliProcess(
          ['run', manifest, '--out', out, '--batch', 's3rows', '--window', '4'],
          environment,
        );
        expect(run.exitCode, run.stdout + run.stderr).toBe(0);
        expect(run.stdout).toMatch(/10 of them wait in the manifest \(window 4 rows/);
        expect(run.stdout).toMatch(/14 completed, 0 failed, 0 pending/);
        const lines = await resultLines(out, 's3rows');
        expect(new Set(lines.map((line) => line.row_key)).size).toBe(14);
        expect(paymentsFor('from s3 ')).toHaveLength(14);
        expect(paymentsFor('from s3 ').every((count) => count === 1)).toBe(true);
        const missing = await runCliProcess(
          ['enqueue', `s3://${storage.bucket}/manifests/none.csv`, '--out', out],
          environment,
        );
        expect(missing.exitCode).toBe(2);
        expect(missing.stderr).toMatch(/none\.csv: no such object/);
      } finally {
        await storage.stop();
      }
    },
  );

  it(
    'a canary picks from the whole manifest, not only the window; once approved the rest is added from the cursor',
    { timeout: 120_000 },
    async () => {
      const manifest = await rowsPerProviderManifest('canary', 12);
      const out = await temporaryDirectory();
      const run = await runCliInProcess(
        ['run', manifest, '--out', out, '--batch', 'canary', '--window', '5', '--canary', '3', '--yes'],
        suite.environment(),
      );
      expect(run.exitCode, run.stdout + run.stderr).toBe(0);
      expect(run.stdout).toMatch(/19 of them wait in the manifest \(window 5 rows/);
      expect(run.stdout).toMatch(/Canary of batch canary: 3 rows — 3 completed/);
      // The canary's strata: openai and fal rows, although the window held only openai rows.
      const redis = openTestRedis();
      try {
        const canaryRows = await redis.smembers(batchKeys(suite.prefix(), 'canary').canaryRows);
        expect(canaryRows.some((row) => row.startsWith('fal-'))).toBe(true);
        expect(canaryRows.some((row) => row.startsWith('openai-'))).toBe(true);
      } finally {
        redis.disconnect();
      }
      expect(run.stdout).toMatch(/24 completed, 0 failed, 0 pending/);
      const lines = await resultLines(out, 'canary');
      expect(new Set(lines.map((line) => line.row_key)).size).toBe(24);
      expect(paymentsFor('canary ').every((count) => count === 1)).toBe(true);
      expect(paymentsFor('canary ')).toHaveLength(24);
    },
  );

  it('refuses a manifest edited since the batch first read it', async () => {
    const manifest = await rowsPerProviderManifest('edited', 10, ['openai']);
    const out = await temporaryDirectory();
    const environment = suite.environment();
    const enqueue = ['enqueue', manifest, '--out', out, '--batch', 'edited', '--window', '4'];
    expect((await runCliInProcess(enqueue, environment)).exitCode).toBe(0);
    await appendFile(
      manifest,
      jsonLine({ id: 'late', prompt: 'edited late row', resolution: '1024x1024' }) + '\n',
    );
    const again = await runCliInProcess(enqueue, environment);
    expect(again.exitCode).toBe(2);
    expect(again.stderr + again.stdout).toMatch(/edited\.jsonl changed since batch edited first read it/);
  });
});
