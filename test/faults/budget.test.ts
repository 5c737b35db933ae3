/**
 * Budget caps under concurrency: 10 rows, a cap worth 5 rows' estimate, 8 concurrent jobs across two worker
 * processes — exactly 5 paid calls, the batch `budget_reached`; raising the cap finishes it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchStore } from '../../src/batch/batch-store.js';
import { PriceCatalogue } from '../../src/cost/price-catalogue.js';
import { SIMULATED_OXEN_COST_PER_IMAGE } from '../../src/simulator/apis/oxen.js';
import { ProviderSimulator } from '../../src/simulator/server.js';
import { runCliProcess } from '../helpers/cli.js';
import { killSpawnedProcesses } from '../helpers/cli.js';
import { removeTemporaryDirectories } from '../helpers/files.js';
import { redisUrl } from '../helpers/redis.js';
import { runScenario } from './harness.js';
import { openRedis } from '../../src/shared/redis.js';

let simulator: ProviderSimulator;
beforeAll(async () => {
  simulator = new ProviderSimulator({ latencyMs: 400 });
  await simulator.start();
});
afterAll(async () => {
  await simulator.stop();
  await removeTemporaryDirectories();
});

describe('budget cap', () => {
  it('10 rows, a cap of 5 rows, 8 concurrent jobs: exactly 5 paid calls, then budget_reached; a higher cap finishes it', async () => {
    // With a key, each Oxen row is priced at what the host's model endpoint serves (pricing.cost_per_image).
    const estimate = new PriceCatalogue().quote('oxen', {
      operation: 'generate',
      resolution: { width: 1024, height: 768 },
      quality: 'high',
      numImages: 1,
      inputImageCount: 0,
      servedUsdPerImage: SIMULATED_OXEN_COST_PER_IMAGE,
    }).usd;
    const cap = (5 * estimate).toFixed(6);
    const rows = Array.from({ length: 10 }, (_, index) => ({
      id: `b${index}`,
      prompt: `budget row ${index}`,
      resolution: '1024x768',
    }));
    let paidAtCap = -1;
    const { row } = await runScenario({
      name: 'budget cap',
      rows,
      simulator,
      redisUrl: redisUrl(),
      workers: 2,
      enqueueArguments: ['--budget-usd', cap],
      environment: { OXEN_MODE: 'sync', OXEN_CONCURRENCY: '8', IMAGE_BATCH_BUDGET_RECHECK_MS: '300' },
      timeoutMs: 60_000,
      action: async (harness) => {
        const redis = openRedis(harness.environment.REDIS_URL!);
        const store = new BatchStore(redis, harness.environment.IMAGE_BATCH_QUEUE_PREFIX!);
        const deadline = Date.now() + 30_000;
        for (;;) {
          const status = await store.status('faults');
          if (status?.state === 'budget_reached' && status.reservedUsd === 0 && status.completed === 5) break;
          if (Date.now() > deadline) throw new Error(`budget never reached: ${JSON.stringify(status)}`);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        await new Promise((resolve) => setTimeout(resolve, 1000));
        paidAtCap = rows.reduce(
          (total, entry) => total + (simulator.submissionsByPrompt.get(entry.prompt) ?? 0),
          0,
        );
        const report = await runCliProcess(['report', 'faults', '--format', 'json'], harness.environment);
        expect(JSON.parse(report.stdout)).toMatchObject({
          state: 'budget_reached',
          counts: { completed: 5, pending: 5 },
          budget: { cap_usd: Number(cap), spent_usd: Number(cap), reserved_usd: 0 },
        });
        const raised = await runCliProcess(
          ['budget', 'faults', String(Number(cap) * 2)],
          harness.environment,
        );
        expect(raised.stdout).toMatch(/budget cap/);
        redis.disconnect();
      },
    });
    expect(paidAtCap).toBe(5);
    expect(row.completed).toBe(10);
    expect(row.duplicatePaid).toBe(0);
    expect(
      rows.reduce((total, entry) => total + (simulator.submissionsByPrompt.get(entry.prompt) ?? 0), 0),
    ).toBe(10);
  });
});

afterAll(killSpawnedProcesses);
