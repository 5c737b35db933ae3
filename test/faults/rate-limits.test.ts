/**
 * Rate limits against a simulator that enforces 600 requests/min per provider: with our limit set to it, no 429 and
 * the batch paced at the limit; with no limit of ours, the batch still finishes, waiting out each Retry-After.
 * Figures (achieved rate, goodput after the first 429) are printed, not asserted: timing belongs to benchmarks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProviderSimulator } from '../../src/simulator/server.js';
import { killSpawnedProcesses } from '../helpers/cli.js';
import { removeTemporaryDirectories } from '../helpers/files.js';
import { redisUrl } from '../helpers/redis.js';
import { runScenario } from './harness.js';

const LIMIT_PER_MINUTE = 600;
const ROWS = 600;
let simulator: ProviderSimulator;
const report: string[] = [];

beforeAll(async () => {
  simulator = new ProviderSimulator({ rateLimitPerMinute: LIMIT_PER_MINUTE });
  await simulator.start();
});
afterAll(async () => {
  await simulator.stop();
  await removeTemporaryDirectories();
  process.stdout.write(`\nRate limits (simulator enforcing ${LIMIT_PER_MINUTE}/min)\n${report.join('\n')}\n`);
});

const rows = (name: string) =>
  Array.from({ length: ROWS }, (_, index) => ({
    id: `r${index}`,
    prompt: `${name} #${index}`,
    resolution: '1024x768',
    output_format: 'jpeg',
  }));

/** Accepted submissions of `prefix` prompts per minute, between the first and the last one. */
function acceptedRate(prompts: string, from?: number): { perMinute: number; accepted: number } {
  const times = simulator.recordedRequests
    .filter((request) => request.prompt.startsWith(prompts) && request.status >= 200 && request.status < 300)
    .map((request) => request.at)
    .filter((at) => from === undefined || at >= from)
    .sort((a, b) => a - b);
  if (times.length < 2) return { perMinute: 0, accepted: times.length };
  return { perMinute: ((times.length - 1) / (times.at(-1)! - times[0]!)) * 60_000, accepted: times.length };
}

describe('rate limits', () => {
  it(`with our limit set to the provider's (${LIMIT_PER_MINUTE}/min), ${ROWS} rows see no 429`, async () => {
    const throttledBefore = simulator.throttledByProvider.get('oxen') ?? 0;
    const { row } = await runScenario({
      name: 'limit set',
      rows: rows('limit set'),
      simulator,
      redisUrl: redisUrl(),
      environment: {
        OXEN_MODE: 'sync',
        OXEN_REQUESTS_PER_MINUTE: String(LIMIT_PER_MINUTE),
        OXEN_CONCURRENCY: '16',
      },
      timeoutMs: 180_000,
    });
    const throttled = (simulator.throttledByProvider.get('oxen') ?? 0) - throttledBefore;
    const { perMinute } = acceptedRate('limit set');
    report.push(
      `- limit set: ${row.completed}/${ROWS} completed, ${throttled} answered 429, ${perMinute.toFixed(0)} requests/min = ${((perMinute / LIMIT_PER_MINUTE) * 100).toFixed(1)} % of the limit`,
    );
    expect(row.completed).toBe(ROWS);
    expect(row.lost).toBe(0);
    expect(throttled).toBe(0);
  }, 300_000);

  it(`with no limit of ours, ${ROWS} rows finish, every Retry-After honoured`, async () => {
    const throttledBefore = simulator.throttledByProvider.get('oxen') ?? 0;
    const { row } = await runScenario({
      name: 'limit unset',
      rows: rows('limit unset'),
      simulator,
      redisUrl: redisUrl(),
      environment: { OXEN_MODE: 'sync', OXEN_REQUESTS_PER_MINUTE: '0', OXEN_CONCURRENCY: '16' },
      timeoutMs: 240_000,
    });
    const throttled = (simulator.throttledByProvider.get('oxen') ?? 0) - throttledBefore;
    const firstThrottle = simulator.recordedRequests.find(
      (request) => request.prompt.startsWith('limit unset') && request.status === 429,
    )?.at;
    const { perMinute } = acceptedRate('limit unset', firstThrottle);
    report.push(
      `- limit unset: ${row.completed}/${ROWS} completed, ${throttled} answered 429, goodput after the first 429 ${perMinute.toFixed(0)} requests/min = ${((perMinute / LIMIT_PER_MINUTE) * 100).toFixed(1)} % of the limit, ${row.earlyRequests} requests before a Retry-After ended`,
    );
    expect(row.completed).toBe(ROWS);
    expect(row.lost).toBe(0);
    expect(row.earlyRequests).toBe(0);
  }, 300_000);

  it('images a minute: rows of 4 images are spaced by the images they make, across two workers', async () => {
    const { row } = await runScenario({
      name: 'images per minute',
      rows: Array.from({ length: 5 }, (_, index) => ({
        id: `r${index}`,
        provider: 'openai',
        prompt: `images per minute #${index}`,
        quality: 'low',
        num_images: 4,
      })),
      simulator,
      redisUrl: redisUrl(),
      workers: 2,
      environment: { OPENAI_IMAGES_PER_MINUTE: '120', OPENAI_CONCURRENCY: '8' },
      timeoutMs: 60_000,
    });
    expect(row.completed).toBe(5);
    // 120 images a minute is 2 a second: each row of 4 waits for 4 to be there, about 2 s after the one before.
    const times = simulator.recordedRequests
      .filter((request) => request.prompt.startsWith('images per minute'))
      .map((request) => request.at)
      .sort((a, b) => a - b);
    expect(times).toHaveLength(5);
    for (let index = 1; index < times.length; index += 1)
      expect(times[index]! - times[index - 1]!).toBeGreaterThanOrEqual(1500);
  }, 90_000);
});

afterAll(killSpawnedProcesses);
