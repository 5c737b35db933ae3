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
afterEach(() => suite.simulator().clearFaults());

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
