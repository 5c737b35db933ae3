/**
 * `npm run test:faults`: the fault-injection suite. Each scenario drives real worker processes against real Redis and
 * the simulator and asserts: every row ends in exactly one results line (none lost), no async request is paid twice,
 * and no request is sent while a Retry-After runs. The table of all scenarios is printed at the end.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProviderSimulator } from '../../src/simulator/server.js';
import { killSpawnedProcesses } from '../helpers/cli.js';
import { storedText } from '../helpers/redis.js';
import {
  startPersistentRedisServer,
  stopRedisServers,
  type PersistentRedisServer,
} from '../helpers/redis-servers.js';
import { faultSuite, scenarioRows as rows } from './harness.js';
import { providerKey } from '../../src/shared/keys.js';
import { openRedis } from '../../src/shared/redis.js';

const suite = faultSuite('Fault-injection suite');
const scenario = suite.scenario;
let simulator: ProviderSimulator;
beforeAll(() => {
  simulator = suite.simulator();
});

describe('worker crashes and shutdowns', () => {
  it('SIGKILL during a sync call: the row in flight is recorded uncertain, never re-sent; the rest complete', async () => {
    simulator.setLatency(1500);
    try {
      const { row, lines } = await scenario({
        name: 'SIGKILL during sync call',
        rows: rows('sigkill sync', 4),
        environment: { OXEN_MODE: 'sync', OXEN_CONCURRENCY: '2' },
        action: async (harness) => {
          await harness.waitForSubmissions(2);
          harness.workers[0]!.kill('SIGKILL');
          harness.startWorker();
        },
      });
      expect(lines.filter((line) => line.error?.code === 'uncertain_outcome')).toHaveLength(2);
      expect(row.completed).toBe(2);
      expect(row.duplicatePaid).toBe(0);
    } finally {
      simulator.setLatency(0);
    }
  });

  it('SIGKILL during an async wait: the next worker resumes every request by its id', async () => {
    simulator.setLatency(2500);
    try {
      const { row } = await scenario({
        name: 'SIGKILL during async wait',
        rows: rows('sigkill async', 4),
        action: async (harness) => {
          await harness.waitForSubmissions(4);
          await new Promise((resolve) => setTimeout(resolve, 300));
          harness.workers[0]!.kill('SIGKILL');
          harness.startWorker();
        },
      });
      expect(row.completed).toBe(4);
      expect(row.duplicatePaid).toBe(0);
    } finally {
      simulator.setLatency(0);
    }
  });

  it('SIGTERM drains: sync calls in flight finish, the rest is done by the next worker', async () => {
    simulator.setLatency(800);
    try {
      const { row } = await scenario({
        name: 'SIGTERM drain',
        rows: rows('sigterm', 4),
        environment: { OXEN_MODE: 'sync', OXEN_CONCURRENCY: '2' },
        action: async (harness) => {
          await harness.waitForSubmissions(2);
          const first = harness.workers[0]!;
          const exited = new Promise((resolve) => first.once('exit', resolve));
          first.kill('SIGTERM');
          expect(await exited).toBe(0);
          harness.startWorker();
        },
      });
      expect(row.completed).toBe(4);
      expect(row.duplicatePaid).toBe(0);
    } finally {
      simulator.setLatency(0);
    }
  });
});

describe('Redis restart', () => {
  let server: PersistentRedisServer;
  beforeAll(async () => {
    server = await startPersistentRedisServer();
  });
  afterAll(() => stopRedisServers());

  it('a Redis restart mid-batch (AOF on) loses no row and pays nothing twice', async () => {
    simulator.setLatency(300);
    try {
      const { row } = await scenario({
        name: 'Redis restart mid-batch',
        rows: rows('redis restart', 10),
        redisUrl: `redis://127.0.0.1:${server.port}`,
        environment: { OXEN_CONCURRENCY: '2' },
        timeoutMs: 90_000,
        action: async (harness) => {
          await harness.waitForSubmissions(3);
          await server.restart(1000);
        },
      });
      expect(row.completed).toBe(10);
      expect(row.duplicatePaid).toBe(0);
    } finally {
      simulator.setLatency(0);
    }
    // The scenario's own deadline is 90 s: past it, the pending rows and the workers' logs are printed.
  }, 120_000);
});

describe('provider faults', () => {
  it.each(['seconds', 'http-date', 'milliseconds'] as const)(
    '429 with Retry-After as %s: nothing is sent before it ends',
    async (form) => {
      const { row } = await scenario({
        name: `429 Retry-After (${form})`,
        rows: rows(`429 ${form}`, 3),
        faults: [{ status: 429, retryAfterSeconds: 2, retryAfterForm: form }],
      });
      expect(row.completed).toBe(3);
      expect(row.earlyRequests).toBe(0);
    },
  );

  it('500 twice, then success', async () => {
    const { row, lines } = await scenario({
      name: '500 twice then success',
      rows: rows('500 twice', 1),
      environment: { OXEN_MODE: 'sync' },
      faults: [{ status: 500, times: 2 }],
    });
    expect(row.completed).toBe(1);
    expect(lines[0]?.attempts).toBe(3);
  });

  it.each([
    ['openai', { OPENAI_TIMEOUT_MS: '1000' }],
    ['oxen', { OXEN_MODE: 'sync', OXEN_TIMEOUT_MS: '1000' }],
  ] as const)(
    'a synchronous %s call that times out after it was sent is never re-sent: uncertain_outcome, sent once',
    async (provider, environment) => {
      const { row, lines } = await scenario({
        name: `sync ${provider} call hangs past its timeout`,
        rows: rows(`hang ${provider}`, 1, { provider, resolution: '1024x1024' }),
        environment,
        faults: [{ provider, hang: true }],
      });
      expect(row.failed).toBe(1);
      expect(lines[0]?.error?.code).toBe('uncertain_outcome');
      expect(lines[0]?.error?.message).toMatch(/may have been accepted and billed, so it is not sent again/);
      expect(simulator.submissionsByPrompt.get(`hang ${provider} #0`)).toBe(1);
    },
  );

  it('an outage (every call 503) opens the breaker instead of burning attempts; rows finish once it ends', async () => {
    const before = simulator.submissionsByProvider.get('oxen') ?? 0;
    const { row } = await scenario({
      name: '503 outage (breaker)',
      rows: rows('outage', 4),
      environment: {
        IMAGE_BATCH_BREAKER_THRESHOLD: '3',
        IMAGE_BATCH_BREAKER_OPEN_MS: '400',
        OXEN_CONCURRENCY: '1',
      },
      faults: [{ status: 503, times: 8 }],
    });
    expect(row.completed).toBe(4);
    expect(row.failed).toBe(0);
    expect((simulator.submissionsByProvider.get('oxen') ?? 0) - before).toBe(12);
  });

  it('a content refusal fails its row at once with the reason', async () => {
    const { row, lines } = await scenario({
      name: 'content refusal',
      rows: [{ id: 'refused', prompt: '[simulate:refuse] fault suite', resolution: '1024x768' }],
    });
    expect(row.failed).toBe(1);
    expect(lines[0]?.error?.code).toBe('content_policy');
  });

  it('out of credit pauses the provider queue (rows kept), and `resume` finishes them', async () => {
    const { row } = await scenario({
      name: 'out of credit, then resume',
      rows: rows('credit', 3, { provider: 'fal', resolution: '1024x1024' }),
      environment: { FAL_CONCURRENCY: '1' },
      faults: [{ provider: 'fal', status: 403 }],
      action: async (harness) => {
        const redis = openRedis(harness.environment.REDIS_URL!);
        const key = providerKey(harness.environment.IMAGE_BATCH_QUEUE_PREFIX!, 'fal', 'paused-reason');
        const deadline = Date.now() + 20_000;
        while ((await redis.get(key)) === null && Date.now() < deadline)
          await new Promise((resolve) => setTimeout(resolve, 50));
        expect(await redis.get(key)).toMatch(/out of credit/);
        redis.disconnect();
        const { runCliProcess } = await import('../helpers/cli.js');
        const resumed = await runCliProcess(['resume', 'fal'], harness.environment);
        expect(resumed.stdout).toMatch(/Resumed fal \(it was paused: out of credit/);
      },
    });
    expect(row.completed).toBe(3);
    expect(row.failed).toBe(0);
  });

  it('a truncated download is fetched again without generating again', async () => {
    const { row } = await scenario({
      name: 'truncated download',
      rows: rows('truncated', 1),
      faults: [{ output: 'truncated' }],
    });
    expect(row.completed).toBe(1);
    expect(simulator.submissionsByPrompt.get('truncated #0')).toBe(1);
  });

  it('an image bomb (header claims 30000x30000) is refused before decoding; the request is not paid again', async () => {
    const { row, lines } = await scenario({
      name: 'image bomb',
      rows: rows('bomb', 1),
      faults: [{ output: 'bomb' }],
    });
    expect(row.failed).toBe(1);
    expect(lines[0]?.error?.code).toBe('invalid_response');
    expect(simulator.submissionsByPrompt.get('bomb #0')).toBe(1);
  });

  it('an output larger than the cap is refused', async () => {
    const { row, lines } = await scenario({
      name: 'oversize output',
      rows: rows('oversize', 1, { resolution: '3840x2160' }),
      environment: { IMAGE_BATCH_MAX_OUTPUT_BYTES: '100000', IMAGE_BATCH_ATTEMPTS: '1' },
    });
    expect(row.failed).toBe(1);
    expect(lines[0]?.error?.message).toMatch(/larger than the 100000 bytes allowed|100000 allowed/);
  });
});

describe('input', () => {
  it('a manifest with 10 % bad rows: the good ones complete, every bad one is rejected with its line', async () => {
    const manifestRows: Array<Record<string, unknown>> = rows('ten percent', 20);
    manifestRows[4] = { id: 'bad-size', prompt: 'bad size', resolution: '12x' };
    manifestRows[13] = { id: 'bad-count', prompt: 'bad count', num_images: 9 };
    const { row, rejects } = await scenario({ name: 'manifest with 10 % bad rows', rows: manifestRows });
    expect(rejects).toBe(2);
    expect(row.completed).toBe(18);
  });
});

describe('secrets', () => {
  it('a planted API key appears in no log, job data, results or rejects line, even when calls fail', async () => {
    const planted = 'sk-PLANTED-SECRET-4242';
    const { readFile: read } = await import('node:fs/promises');
    const manifestRows: Array<Record<string, unknown>> = [
      ...rows('secret', 2),
      { id: 'refused', prompt: '[simulate:refuse] secret suite', resolution: '1024x768' },
      { id: 'rejected', prompt: 'bad', resolution: 'huge' },
    ];
    let inspected = false;
    const { row } = await scenario({
      name: 'planted secret',
      rows: manifestRows,
      // Completed jobs are removed at once by default; kept here, their data is searched for the key too.
      environment: { OXEN_API_KEY: planted, LOG_LEVEL: 'debug', IMAGE_BATCH_KEEP_COMPLETED_JOBS: '100' },
      faults: [{ status: 500 }],
      inspect: async ({ prefix, out, workerOutput }) => {
        expect(workerOutput.length).toBeGreaterThan(0);
        expect(workerOutput).not.toContain(planted);
        const stored = await storedText(prefix);
        expect(stored).toContain('secret #0');
        expect(stored).not.toContain(planted);
        for (const name of ['results.jsonl', 'rejects.jsonl', 'summary.json']) {
          expect(await read(path.join(out, 'faults', name), 'utf8')).not.toContain(planted);
        }
        inspected = true;
      },
    });
    expect(inspected).toBe(true);
    expect(row.completed).toBe(2);
  });
});

afterAll(killSpawnedProcesses);
