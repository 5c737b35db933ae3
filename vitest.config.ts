import { defineConfig } from 'vitest/config';

/**
 * Three projects: `unit` (test/unit: no Redis, no network), `contract` (test/contract: each adapter against the
 * simulator in-process, no Redis), and `integration` (test/integration, test/faults, test/browser: real Redis, found or
 * started once by the global setup). `npm test` runs all three; `npm run test:unit` runs the first alone.
 */
export default defineConfig({
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
    ],
  },
});
