/**
 * The fault suite's routing scenarios (issue 25): rows with several candidate hosts through real worker processes,
 * real Redis and the simulator, while a host's key is revoked, its credit runs out mid-batch, or a worker is killed in
 * the middle of moving rows — every row once, none lost, none paid on two hosts.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { killSpawnedProcesses } from '../helpers/cli.js';
import { faultSuite, scenarioRows as rows } from './harness.js';

const suite = faultSuite('Fault-injection suite: routing');
afterAll(killSpawnedProcesses);
afterEach(() => {
  suite.simulator().clearFaults();
  suite.simulator().clearHostConditions();
});

/** A scenario of routed rows: besides none lost, none paid on two hosts. */
async function scenario(options: Parameters<typeof suite.scenario>[0]) {
  const result = await suite.scenario(options);
  expect(result.row.duplicatePaid).toBe(0);
  return result;
}

/** Rows the cheapest-first policy sends to OpenAI (1024x1024 low), with fal as the other candidate. */
const routed = (name: string, count: number) =>
  rows(name, count, { resolution: '1024x1024', quality: 'low', provider: ['openai', 'fal'] });

describe('routing under host failures', () => {
  it('revoked key: every row moves from OpenAI (401) to fal, each made once', async () => {
    const { row, lines } = await scenario({
      name: 'revoked key, rows move',
      rows: routed('revoked key', 8),
      faults: [{ provider: 'openai', status: 401, times: 1000 }],
    });
    expect(row.completed).toBe(8);
    expect(lines.every((line) => line.provider === 'fal')).toBe(true);
  });

  it('credit out mid-batch: rows OpenAI made stay made, the rest go to fal', async () => {
    const { row, lines } = await scenario({
      name: 'credit out mid-batch',
      rows: routed('credit out', 8),
      environment: { OPENAI_CONCURRENCY: '1' },
      faults: [
        {
          provider: 'openai',
          status: 429,
          after: 3,
          times: 1000,
          body: {
            error: {
              message: 'You exceeded your current quota',
              type: 'insufficient_quota',
              code: 'insufficient_quota',
              param: null,
            },
          },
        },
      ],
    });
    expect(row.completed).toBe(8);
    // OpenAI made at most the 3 it had credit for; rows it refused say so (others went to fal while it was busy).
    expect(lines.filter((line) => line.provider === 'openai').length).toBeLessThanOrEqual(3);
    for (const line of lines.filter((entry) => (entry.hosts_tried ?? []).length > 0))
      expect(line.hosts_tried).toEqual([
        { provider: 'openai', reason: expect.stringMatching(/out of credit/) },
      ]);
  });

  it(
    'kill -9 during moves: a worker killed while rows leave a revoked host; the next one finishes, each row once',
    { timeout: 90_000 },
    async () => {
      try {
        const result = await scenario({
          name: 'kill -9 during a move',
          rows: routed('kill during move', 10),
          faults: [{ provider: 'openai', status: 401, times: 1000 }],
          action: async (harness) => {
            await harness.waitForSubmissions(3);
            harness.workers[0]!.kill('SIGKILL');
            harness.startWorker();
          },
          timeoutMs: 60_000,
        });
        const { row } = result;
        // A call cut off by the kill may have been billed: its row ends uncertain_outcome, never sent again; every other
        // row completes on fal, once.
        const uncertain = result.lines.filter((line) => line.error?.code === 'uncertain_outcome');
        expect(row.completed + uncertain.length).toBe(10);
        expect(
          result.lines.filter((line) => line.status === 'completed').every((line) => line.provider === 'fal'),
        ).toBe(true);
      } finally {
        suite.simulator().setLatency(0);
      }
    },
  );
});

/** Prompts of a scenario's rows. */
const promptsOf = (entries: Array<Record<string, unknown>>) => entries.map((entry) => String(entry.prompt));

describe('routing under start deadlines and outages', () => {
  it('start deadline passed: fal never starts the rows in time; each moves, unbilled, to WaveSpeedAI', async () => {
    suite.simulator().setHostConditions('fal', { startDelayMs: 60_000 });
    const entries = rows('start deadline', 6, {
      resolution: '1024x1024',
      quality: 'low',
      provider: ['fal', 'wavespeed'],
    });
    const { row, lines } = await scenario({
      name: 'start deadline passed',
      rows: entries,
      environment: { IMAGE_BATCH_START_DEADLINE_MS: '1500' },
    });
    expect(row.completed).toBe(6);
    expect(lines.every((line) => line.provider === 'wavespeed')).toBe(true);
    for (const line of lines)
      expect(line.hosts_tried).toEqual([{ provider: 'fal', reason: expect.stringMatching(/not started/) }]);
    // fal accepted each row once and never started it (unbilled); WaveSpeedAI made each once.
    for (const prompt of promptsOf(entries)) expect(suite.simulator().unbilledByPrompt.get(prompt)).toBe(1);
  });

  it('a host that starts the row after its deadline: the cancel finds it started, the row stays and is made once', async () => {
    // Replicate holds each prediction queued past its 1 s deadline; the worker's cancel (after the grace) races its
    // start and finds it started: nothing is moved while the request may still finish, and it is followed to its end.
    const simulator = suite.simulator();
    simulator.setHostConditions('replicate', { startDelayMs: 60_000 });
    simulator.cancelRacesStart = true;
    const entries = rows('late start', 4, {
      resolution: '1024x1024',
      quality: 'low',
      provider: ['replicate', 'wavespeed'],
    });
    try {
      const { row, lines } = await scenario({
        name: 'host starts after its deadline',
        rows: entries,
        environment: { IMAGE_BATCH_START_DEADLINE_MS: '1000' },
      });
      expect(row.completed).toBe(4);
      expect(lines.every((line) => line.provider === 'replicate' && line.hosts_tried?.length === 0)).toBe(
        true,
      );
      for (const prompt of promptsOf(entries)) expect(simulator.submissionsByPrompt.get(prompt)).toBe(1);
    } finally {
      simulator.cancelRacesStart = false;
    }
  });

  it('host outage: OpenAI answers 503 for a while; rows not yet sent go to fal, the rest finish when it is back', async () => {
    const now = Date.now();
    suite.simulator().setHostConditions('openai', { outage: { fromMs: now, untilMs: now + 6_000 } });
    const { row, lines } = await scenario({
      name: 'host outage',
      rows: routed('outage', 12),
      environment: {
        OPENAI_CONCURRENCY: '2',
        IMAGE_BATCH_BREAKER_THRESHOLD: '2',
        IMAGE_BATCH_BREAKER_OPEN_MS: '3000',
        IMAGE_BATCH_ATTEMPTS: '5',
      },
      timeoutMs: 60_000,
    });
    expect(row.completed).toBe(12);
    expect(lines.filter((line) => line.provider === 'fal').length).toBeGreaterThan(0);
    // A row OpenAI answered 503 stays there (a 5xx may have been billed) and is made there once it is back.
    for (const line of lines.filter((entry) => entry.provider === 'openai'))
      expect(line.hosts_tried).toEqual([]);
  });

  it('a host down longer than the rows have attempts: with its breaker open, the rows keep them and finish when it is back', async () => {
    const now = Date.now();
    suite.simulator().setHostConditions('openai', { outage: { fromMs: now, untilMs: now + 8_000 } });
    const { row, lines } = await scenario({
      name: 'outage longer than attempts',
      rows: rows('long outage', 8, { resolution: '1024x1024', quality: 'low', provider: 'openai' }),
      environment: {
        OPENAI_CONCURRENCY: '8',
        IMAGE_BATCH_ATTEMPTS: '2',
        IMAGE_BATCH_BREAKER_THRESHOLD: '2',
        IMAGE_BATCH_BREAKER_OPEN_MS: '1000',
      },
      timeoutMs: 60_000,
    });
    // Two attempts each, and many more 503s than that: every failure after the breaker opened was the host's.
    expect(row.completed).toBe(8);
    expect(lines.every((line) => line.provider === 'openai' && line.status === 'completed')).toBe(true);
  });
});
