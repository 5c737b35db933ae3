/**
 * The worker as a user stops it, run as a child process: SIGTERM drains gracefully and leaves accepted async requests
 * parked for the next run; after SIGKILL a new worker finishes every row with one submission per row.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobIdFor, queueNameFor } from '../../src/shared/keys.js';
import { ProviderSimulator } from '../../src/simulator/server.js';
import { killSpawnedProcesses, runCliProcess, spawnCli } from '../helpers/cli.js';
import { removeTemporaryDirectories, temporaryDirectory } from '../helpers/files.js';
import { jsonLine, manifestFolder, writeManifest } from '../helpers/manifests.js';
import { redisUrl, prefixPerTest } from '../helpers/redis.js';
import { simulatorEnvironment } from '../helpers/simulator-environment.js';

const prefix = prefixPerTest();

afterAll(removeTemporaryDirectories);

describe('worker', () => {
  let simulator: ProviderSimulator;
  beforeAll(async () => {
    simulator = new ProviderSimulator({ latencyMs: 1500 });
    await simulator.start();
  });
  afterAll(async () => simulator.stop());

  it('on SIGTERM leaves accepted async requests parked; the next run collects them without submitting again', async () => {
    const folder = await manifestFolder();
    const rows = Array.from({ length: 6 }, (_, index) =>
      jsonLine({ id: `r${index}`, prompt: `drain row ${index}`, resolution: '1024x768' }),
    );
    const manifest = await writeManifest(folder, 'rows.jsonl', rows);
    const out = await temporaryDirectory();
    const environment = {
      REDIS_URL: redisUrl(),
      IMAGE_BATCH_QUEUE_PREFIX: prefix(),
      ...simulatorEnvironment(simulator.url, 'anything'),
      LOG_LEVEL: 'warn',
    };
    const enqueue = await runCliProcess(['enqueue', manifest, '--out', out, '--batch', 'drain'], environment);
    expect(enqueue.exitCode).toBe(0);
    expect(enqueue.stdout).toContain('enqueued 6');

    const worker = spawnCli(['worker', '--provider', 'oxen', '--concurrency', '2'], environment);
    const exited = new Promise<number>((resolve) => worker.on('exit', (code) => resolve(code ?? -1)));
    const deadline = Date.now() + 30_000;
    while (simulator.paidRequestTotal < 2 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 50));
    // Accepted requests are parked (they hold no slot), so more than 2 may be in flight by now.
    expect(simulator.paidRequestTotal).toBeGreaterThanOrEqual(2);
    worker.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(worker.output().stdout).toContain('no job was left behind');

    const status = JSON.parse(
      (await runCliProcess(['status', 'drain', '--json'], environment)).stdout,
    ) as Record<string, number>;
    expect(status).toMatchObject({ rows: 6, failed: 0 });
    expect(status.pending).toBeGreaterThan(0);

    const resumed = await runCliProcess(['run', manifest, '--out', out, '--batch', 'drain'], environment);
    expect(resumed.exitCode).toBe(0);
    expect(resumed.stdout).toMatch(/6 completed, 0 failed, 0 pending/);
    expect(simulator.paidRequestTotal).toBe(6);
    for (let index = 0; index < 6; index += 1)
      expect(simulator.submissionsByPrompt.get(`drain row ${index}`)).toBe(1);
  });

  it('after SIGKILL with async requests in flight, a new worker finishes every row with one submission per row', async () => {
    const folder = await manifestFolder();
    const providers = [
      ['oxen', '1024x768'],
      ['fal', '1024x1024'],
      ['replicate', '1536x1024'],
      ['wavespeed', '1024x576'],
    ] as const;
    const rows = providers.flatMap(([provider, resolution]) => [
      jsonLine({ id: `${provider}-gen`, provider, prompt: `crash ${provider} generate`, resolution }),
      jsonLine({
        id: `${provider}-edit`,
        provider,
        prompt: `crash ${provider} edit`,
        image_urls: ['images/dune.jpg'],
        resolution,
      }),
    ]);
    const manifest = await writeManifest(folder, 'crash.jsonl', rows);
    const out = await temporaryDirectory();
    const environment = {
      REDIS_URL: redisUrl(),
      IMAGE_BATCH_QUEUE_PREFIX: prefix(),
      ...simulatorEnvironment(simulator.url, 'anything'),
      IMAGE_BATCH_LOCK_DURATION_MS: '1500',
      IMAGE_BATCH_STALLED_INTERVAL_MS: '500',
      LOG_LEVEL: 'warn',
    };
    simulator.setLatency(4000);
    const before = simulator.paidRequestTotal;
    try {
      expect(
        (await runCliProcess(['enqueue', manifest, '--out', out, '--batch', 'crash'], environment)).exitCode,
      ).toBe(0);
      const worker = spawnCli(['worker'], environment);
      const killed = new Promise((resolve) => worker.on('exit', resolve));
      const redis = new Redis(redisUrl());
      const allSaved = async () => {
        for (const [provider] of providers) {
          for (const suffix of ['gen', 'edit']) {
            const data = await redis.hget(
              `${prefix()}:${queueNameFor(provider)}:${jobIdFor('crash', `${provider}-${suffix}`)}`,
              'data',
            );
            if (data === null || !data.includes('"providerRequest"')) return false;
          }
        }
        return true;
      };
      const deadline = Date.now() + 30_000;
      while (!(await allSaved()) && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 50));
      redis.disconnect();
      expect(simulator.paidRequestTotal - before).toBe(8);
      worker.kill('SIGKILL');
      await killed;

      const resumed = await runCliProcess(['run', manifest, '--out', out, '--batch', 'crash'], environment);
      expect(resumed.exitCode, `${resumed.stdout}\n${resumed.stderr}`).toBe(0);
      expect(resumed.stdout).toMatch(/8 completed, 0 failed, 0 pending/);
      for (const [provider] of providers) {
        expect(simulator.submissionsByPrompt.get(`crash ${provider} generate`)).toBe(1);
        expect(simulator.submissionsByPrompt.get(`crash ${provider} edit`)).toBe(1);
      }
      expect(simulator.paidRequestTotal - before).toBe(8);
      const results = (await readFile(path.join(out, 'crash', 'results.jsonl'), 'utf8')).trim().split('\n');
      expect(results).toHaveLength(8);
    } finally {
      simulator.setLatency(1500);
    }
  });
});

afterAll(killSpawnedProcesses);
