/**
 * Prometheus metrics of a worker: rows, spend by tier, provider latency, 429s and job states, at /metrics.
 */
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchStore } from '../../src/batch/batch-store.js';
import { loadConfig } from '../../src/providers/configuration.js';
import type { ProviderName } from '../../src/shared/config.js';
import { SIMULATED_OXEN_COST_PER_IMAGE } from '../../src/simulator/apis/oxen.js';
import { ProviderSimulator } from '../../src/simulator/server.js';
import { startWorkerPool } from '../../src/worker/worker-pool.js';
import { runCliInProcess } from '../helpers/cli.js';
import { removeTemporaryDirectories, temporaryDirectory } from '../helpers/files.js';
import { jsonLine, manifestFolder, writeManifest } from '../helpers/manifests.js';
import { deleteKeysWithPrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { simulatorEnvironment } from '../helpers/simulator-environment.js';

const prefix = uniquePrefix();
let simulator: ProviderSimulator;
beforeAll(async () => {
  simulator = new ProviderSimulator();
  await simulator.start();
});
afterAll(async () => {
  await simulator.stop();
  await deleteKeysWithPrefix(prefix);
  await removeTemporaryDirectories();
});

/** The environment of this file's workers: its prefix, every provider at the simulator. */
function workerEnvironment(): Record<string, string> {
  return {
    REDIS_URL: redisUrl(),
    IMAGE_BATCH_QUEUE_PREFIX: prefix,
    LOG_LEVEL: 'silent',
    ...simulatorEnvironment(simulator.url, 'k'),
  };
}

/** A worker pool of `providers` serving metrics on a free port, with its own Redis connection. */
function startPool(environment: Record<string, string>, providers: ProviderName[]) {
  const redis = new Redis(redisUrl(), { maxRetriesPerRequest: null });
  const store = new BatchStore(redis, prefix);
  const pool = startWorkerPool({
    config: loadConfig(environment),
    redis,
    store,
    providers,
    log: pino({ level: process.env.TEST_LOG ?? 'silent' }),
    metricsPort: 0,
  });
  return { redis, store, pool };
}

describe('metrics', () => {
  it('a worker serves rows, USD by tier, latency, 429s and job states at /metrics', async () => {
    const environment = workerEnvironment();
    const folder = await manifestFolder();
    const manifest = await writeManifest(folder, 'metrics.jsonl', [
      jsonLine({ id: 'm1', prompt: 'metrics one', resolution: '1024x768' }),
      jsonLine({ id: 'm2', prompt: 'metrics two', resolution: '2560x1440' }),
    ]);
    const out = await temporaryDirectory();
    expect(
      (await runCliInProcess(['enqueue', manifest, '--out', out, '--batch', 'metrics'], environment))
        .exitCode,
    ).toBe(0);
    simulator.injectFaults([{ status: 429, retryAfterSeconds: 1 }]);
    const { redis, store, pool } = startPool(environment, ['oxen']);
    try {
      const deadline = Date.now() + 20_000;
      while ((await store.status('metrics'))!.pending > 0 && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 100));
      // The row's metrics are counted just after its outcome is recorded: read until they are in (or the deadline).
      let text = '';
      do text = await (await fetch((await pool.metricsUrl())!)).text();
      while (
        !/image_batch_rows_total\{provider="oxen",status="completed"\} 2/.test(text) &&
        Date.now() < deadline
      );
      expect(text).toMatch(/image_batch_rows_total\{provider="oxen",status="completed"\} 2/);
      // With a key, Oxen rows are priced at what the host's model endpoint serves (pricing.cost_per_image), per image.
      const served = String(SIMULATED_OXEN_COST_PER_IMAGE).replace('.', '\\.');
      expect(text).toMatch(
        new RegExp(`image_batch_spent_usd_total\\{provider="oxen",tier="standard"\\} ${served}\\n`),
      );
      expect(text).toMatch(
        new RegExp(`image_batch_spent_usd_total\\{provider="oxen",tier="high-resolution"\\} ${served}\\n`),
      );
      expect(text).toMatch(/image_batch_rate_limited_total\{provider="oxen"\} 1/);
      expect(text).toMatch(
        /image_batch_provider_request_seconds_count\{provider="oxen",operation="generate",outcome="completed"\} 2/,
      );
      // Jobs are removed as they complete (issue 27): the gauge counts what is in Redis, the rows counter what finished.
      expect(text).toMatch(/image_batch_jobs\{provider="oxen",queue="submit",state="completed"\} 0/);
    } finally {
      await pool.close();
      redis.disconnect();
    }
  });

  it('routing: rows handed to each host, rows moved off a host and why, and the host set aside', async () => {
    const environment = workerEnvironment();
    const manifest = await writeManifest(
      await manifestFolder(),
      'metrics-routed.jsonl',
      Array.from({ length: 4 }, (_, index) =>
        jsonLine({
          id: `m${index}`,
          prompt: `routed metrics ${index}`,
          quality: 'low',
          provider: ['openai', 'fal'],
        }),
      ),
    );
    const out = await temporaryDirectory();
    const enqueued = await runCliInProcess(
      ['enqueue', manifest, '--out', out, '--batch', 'routed'],
      environment,
    );
    expect(enqueued.exitCode).toBe(0);
    simulator.injectFaults([{ provider: 'openai', status: 401, times: 100 }]);
    const { redis, pool } = startPool(environment, ['openai', 'fal']);
    try {
      const deadline = Date.now() + 20_000;
      let text = '';
      // The set-aside gauge is refreshed by the pool's sweep of paused queues (every 5 s).
      do text = await (await fetch((await pool.metricsUrl())!)).text();
      while (
        !(
          /image_batch_rows_routed_total\{provider="fal"\} 4/.test(text) &&
          /image_batch_host_set_aside\{provider="openai"\} 1/.test(text)
        ) &&
        Date.now() < deadline &&
        (await new Promise((resolve) => setTimeout(resolve, 200))) === undefined
      );
      expect(text).toMatch(/image_batch_rows_routed_total\{provider="fal"\} 4/);
      expect(text).toMatch(/image_batch_rows_moved_total\{provider="openai",reason="account"\} [1-4]/);
      expect(text).toMatch(/image_batch_host_set_aside\{provider="openai"\} 1/);
    } finally {
      simulator.clearFaults();
      await pool.close();
      redis.disconnect();
    }
  });
});
