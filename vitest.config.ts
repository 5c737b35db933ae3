import path from 'node:path';
import { defineConfig } from 'vitest/config';

/**
 * Test files that run a second time on a local three-master Redis Cluster (issue 27): the pipeline on every provider,
 * the budget cap, kill -9 of workers, re-runs, routing between hosts, the OpenAI Batch API, windowed ingest, and
 * every Lua script (test/cluster).
 */
const CLUSTER_TESTS = [
  'test/cluster/**/*.test.ts',
  'test/integration/run-batch.test.ts',
  'test/integration/finished-rows.test.ts',
  'test/integration/windowed-ingest.test.ts',
  'test/integration/openai-batch.test.ts',
  'test/faults/budget.test.ts',
  'test/faults/fault-scenarios.test.ts',
  'test/faults/routing-faults.test.ts',
];

/**
 * Four projects: `unit` (test/unit: no Redis, no network), `contract` (test/contract: each adapter against the
 * simulator in-process, no Redis), `integration` (test/integration, test/faults, test/browser: real Redis, found or
 * started once by the global setup), and `cluster` (the files above again, on a Redis Cluster started from the
 * `redis-server` on PATH). `npm test` runs all four; `npm run test:unit` runs the first alone.
 */
export default defineConfig({
  // The package's own name, as a user imports it (package.json `exports`), resolves to its source in tests.
  resolve: { alias: [{ find: /^image-batch$/, replacement: path.resolve('src/library/index.ts') }] },
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests share 2 cores with Redis and the simulator: keep file parallelism modest.
    maxWorkers: 2,
    reporters: ['default', './test/helpers/summary-reporter.ts'],
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      { extends: true, test: { name: 'contract', include: ['test/contract/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/faults/**/*.test.ts', 'test/browser/**/*.test.ts'],
          globalSetup: ['test/helpers/global-setup.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'cluster',
          include: CLUSTER_TESTS,
          globalSetup: ['test/helpers/cluster-setup.ts'],
        },
      },
    ],
  },
});
