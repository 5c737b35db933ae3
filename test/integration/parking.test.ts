/**
 * Parked requests: an accepted async request waits without a worker slot, so a worker with a concurrency of 2 keeps
 * dozens of requests in flight; a row whose request failed after it was accepted is retried by retrying its submission.
 */
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { BatchStore } from '../../src/batch/batch-store.js';
import { openCollectQueues, openProviderQueues } from '../../src/batch/queues.js';
import { planRetry, retryFailedRows } from '../../src/batch/retry-failed.js';
import { runCliInProcess } from '../helpers/cli.js';
import { temporaryDirectory } from '../helpers/files.js';
import { providerManifest } from '../helpers/manifests.js';
import { redisUrl } from '../helpers/redis.js';
import { resultLines } from '../helpers/results.js';
import { simulatorSuite } from '../helpers/simulator-suite.js';

const suite = simulatorSuite();

function runArguments(manifest: string, out: string, batch: string): string[] {
  return ['run', manifest, '--out', out, '--batch', batch, '--requests-per-minute', '0'];
}

describe('parked requests', () => {
  it('a worker running 2 jobs at once keeps 40 requests in flight: waiting requests hold no slot', async () => {
    const simulator = suite.simulator();
    simulator.setLatency(4000);
    try {
      const manifest = await providerManifest('parked', 40, 'fal');
      const out = await temporaryDirectory();
      const run = await runCliInProcess(
        runArguments(manifest, out, 'parked'),
        suite.environment({ FAL_CONCURRENCY: '2', FAL_POLL_INTERVAL_MS: '200' }),
      );
      expect(run.stdout, run.stdout + run.stderr).toMatch(/40 completed, 0 failed, 0 pending/);
      // Holding a slot while waiting, 2 slots would keep at most 2 requests in flight.
      expect(simulator.peakInFlightByProvider.get('fal')).toBeGreaterThanOrEqual(30);
      const lines = await resultLines(out, 'parked');
      expect(new Set(lines.map((line) => line.row_key)).size).toBe(40);
      expect(lines.every((line) => line.attempts === 1 && line.outputs.length === 1)).toBe(true);
    } finally {
      simulator.setLatency(0);
    }
  });

  it('a row whose accepted request failed is retried by submitting it again, once, and keeps one line', async () => {
    const simulator = suite.simulator();
    simulator.injectFaults([{ provider: 'fal', taskFailure: 'the GPU fell over' }]);
    const manifest = await providerManifest('collected', 1, 'fal');
    const out = await temporaryDirectory();
    const environment = suite.environment();
    const before = simulator.submissionsByProvider.get('fal') ?? 0;
    const first = await runCliInProcess(runArguments(manifest, out, 'collected'), environment);
    expect(first.stdout, first.stdout + first.stderr).toMatch(/0 completed, 1 failed/);
    expect((await resultLines(out, 'collected'))[0]).toMatchObject({ status: 'failed', attempts: 1 });
    const redis = new Redis(redisUrl());
    const queues = openProviderQueues(redis, suite.prefix(), ['fal']);
    const collectQueues = openCollectQueues(redis, suite.prefix(), ['fal']);
    try {
      const store = new BatchStore(redis, suite.prefix());
      const status = (await store.status('collected'))!;
      const submissions = new Map(queues.map(({ name, queue }) => [name, queue]));
      const collecting = new Map(collectQueues.map(({ name, queue }) => [name, queue]));
      const plan = await planRetry(status, submissions, collecting, () => 0.01);
      expect(plan.failed).toHaveLength(1);
      const retried = await retryFailedRows(store, submissions, collecting, status, plan);
      expect([...retried]).toEqual(['collected-0']);
    } finally {
      await Promise.all([...queues, ...collectQueues].map(({ queue }) => queue.close()));
      redis.disconnect();
    }
    const second = await runCliInProcess(runArguments(manifest, out, 'collected'), environment);
    expect(second.stdout, second.stdout + second.stderr).toMatch(/1 completed, 0 failed, 0 pending/);
    expect((simulator.submissionsByProvider.get('fal') ?? 0) - before).toBe(2);
    const lines = await resultLines(out, 'collected');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ status: 'completed' });
  });
});
