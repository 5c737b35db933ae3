/**
 * The usual frame of a test file that runs the CLI against the simulator: one simulator for the file (key `sk-test`),
 * a fresh Redis key prefix per test (its keys deleted afterwards), temporary directories removed at the end, and the
 * environment that points every provider at the simulator.
 */
import { afterAll, beforeAll } from 'vitest';
import { ProviderSimulator, type SimulatorOptions } from '../../src/simulator/server.js';
import { removeTemporaryDirectories } from './files.js';
import { prefixPerTest, redisUrl } from './redis.js';
import { simulatorEnvironment } from './simulator-environment.js';

/** What a test reads of the frame while it runs. */
export interface SimulatorSuite {
  simulator(): ProviderSimulator;
  /** This test's Redis key prefix. */
  prefix(): string;
  /** The CLI environment: Redis, this test's prefix, silent logs, every provider at the simulator, quick backoff. */
  environment(extra?: Record<string, string>): Record<string, string>;
}

/** Register the frame's hooks in the calling test file. */
export function simulatorSuite(
  options: () => Promise<SimulatorOptions> = () => Promise.resolve({}),
): SimulatorSuite {
  let simulator: ProviderSimulator | undefined;
  const prefix = prefixPerTest();
  beforeAll(async () => {
    simulator = new ProviderSimulator({ ...(await options()), apiKey: 'sk-test' });
    await simulator.start();
  });
  afterAll(async () => {
    await simulator?.stop();
    await removeTemporaryDirectories();
  });
  return {
    simulator: () => simulator!,
    prefix,
    environment: (extra = {}) => ({
      REDIS_URL: redisUrl(),
      IMAGE_BATCH_QUEUE_PREFIX: prefix(),
      LOG_LEVEL: 'silent',
      ...simulatorEnvironment(simulator!.url, 'sk-test'),
      IMAGE_BATCH_BACKOFF_MS: '50',
      ...extra,
    }),
  };
}
