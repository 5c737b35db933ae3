/**
 * The status-poll budget (`<P>_POLLS_PER_MINUTE`, shared by every worker through Redis): many requests in flight do
 * not poll a provider past it, and a 429 answered to a poll holds the pollers back without costing any row an attempt.
 */
import { describe, expect, it } from 'vitest';
import { runCliInProcess } from '../helpers/cli.js';
import { temporaryDirectory } from '../helpers/files.js';
import { providerManifest } from '../helpers/manifests.js';
import { resultLines } from '../helpers/results.js';
import { simulatorSuite } from '../helpers/simulator-suite.js';

const suite = simulatorSuite();

/** `run` of `manifest` into `out` as batch `batch`, `concurrency` jobs at once, no creation limit of ours. */
function runArguments(manifest: string, out: string, batch: string, concurrency: number): string[] {
  return [
    'run',
    manifest,
    '--out',
    out,
    '--batch',
    batch,
    '--concurrency',
    String(concurrency),
    '--requests-per-minute',
    '0',
  ];
}

describe('poll budget', () => {
  it('20 requests in flight, polled every 50 ms each, stay within 600 polls a minute', async () => {
    const simulator = suite.simulator();
    simulator.setLatency(3000);
    const before = simulator.statusCallsByProvider.get('fal') ?? 0;
    try {
      const manifest = await providerManifest('budget', 20, 'fal');
      const out = await temporaryDirectory();
      const started = Date.now();
      const run = await runCliInProcess(
        runArguments(manifest, out, 'budget', 20),
        suite.environment({ FAL_CONCURRENCY: '20', FAL_POLL_INTERVAL_MS: '50', FAL_POLLS_PER_MINUTE: '600' }),
      );
      const seconds = (Date.now() - started) / 1000;
      expect(run.stdout, run.stdout + run.stderr).toMatch(/20 completed, 0 failed, 0 pending/);
      const polls = (simulator.statusCallsByProvider.get('fal') ?? 0) - before;
      // Unbudgeted, 20 requests polled every 50 ms make 400 status calls a second for 3 s. The budget allows 10 a
      // second (98 % of 600/min) plus a second of burst; each row's result fetch counts as a status call too.
      expect(polls).toBeLessThanOrEqual(Math.ceil(10 * seconds) + 10 + 20);
      expect(polls).toBeGreaterThanOrEqual(20);
    } finally {
      simulator.setLatency(0);
    }
  });

  it('429s answered to polls hold the pollers back and cost no row an attempt', async () => {
    const simulator = suite.simulator();
    simulator.setLatency(1000);
    simulator.setStatusRateLimit(120);
    const throttledBefore = simulator.throttledStatusCallsByProvider.get('fal') ?? 0;
    try {
      const manifest = await providerManifest('throttled', 10, 'fal');
      const out = await temporaryDirectory();
      const run = await runCliInProcess(
        runArguments(manifest, out, 'throttled', 10),
        suite.environment({ FAL_CONCURRENCY: '10', FAL_POLL_INTERVAL_MS: '50', FAL_POLLS_PER_MINUTE: '0' }),
      );
      expect(run.stdout, run.stdout + run.stderr).toMatch(/10 completed, 0 failed, 0 pending/);
      expect((simulator.throttledStatusCallsByProvider.get('fal') ?? 0) - throttledBefore).toBeGreaterThan(0);
      const lines = await resultLines(out, 'throttled');
      expect(lines.map((line) => line.attempts)).toEqual(Array.from({ length: 10 }, () => 1));
    } finally {
      simulator.setLatency(0);
      simulator.setStatusRateLimit(undefined);
    }
  });
});
