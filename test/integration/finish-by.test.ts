/**
 * Finish-by times (issue 30): enqueue says whether the configured rate limits allow the time and status marks a batch
 * that will miss it late; rows that can wait 24 hours go through OpenAI's Batch API unless a delivery is named; rows
 * on a host with a start deadline are sent with the time left, so one the host cannot start in time is aborted
 * unbilled.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ImageBatch } from '../../src/library/index.js';
import { runCliInProcess } from '../helpers/cli.js';
import { temporaryDirectory } from '../helpers/files.js';
import { providerManifest } from '../helpers/manifests.js';
import { resultLines } from '../helpers/results.js';
import { simulatorSuite } from '../helpers/simulator-suite.js';

const suite = simulatorSuite();
afterEach(() => suite.simulator().setHostConditions('fal', {}));

/** `enqueue` of `rows` rows for `provider` as batch `name`, with `flags`; its output. */
async function enqueue(
  name: string,
  rows: number,
  flags: string[],
  environment = suite.environment(),
  provider = 'openai',
): Promise<string> {
  const manifest = await providerManifest(name, rows, provider);
  const out = await temporaryDirectory();
  const result = await runCliInProcess(
    ['enqueue', manifest, '--out', out, '--batch', name, ...flags],
    environment,
  );
  expect(result.exitCode, result.stdout + result.stderr).toBe(0);
  return result.stdout;
}

async function statusOf(name: string): Promise<Record<string, unknown>> {
  const result = await runCliInProcess(['status', name, '--json'], suite.environment());
  expect(result.exitCode, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

describe('finish-by', () => {
  it('says at enqueue whether the rate limits allow the time, and status marks a batch that will miss it', async () => {
    // 30 rows at 60 requests a minute: about 30 s.
    const slow = suite.environment({ OPENAI_REQUESTS_PER_MINUTE: '60' });
    const tight = await enqueue('tight', 30, ['--finish-by', '15s'], slow);
    expect(tight).toMatch(/Finish by .*: will be missed — at the configured rate limits it finishes about/);
    const roomy = await enqueue('roomy', 30, ['--finish-by', '10m'], slow);
    expect(roomy).toMatch(/Finish by .*: can be met/);
    expect((await statusOf('tight')).finishBy).toMatchObject({ late: true });
    expect((await statusOf('roomy')).finishBy).toMatchObject({ late: false });
    const text = await runCliInProcess(['status', 'tight'], suite.environment());
    expect(text.stdout).toMatch(/Finish by .*: LATE; expected to finish about/);
    // An urgent batch is planned behind nothing; a background one behind the rows of higher priority waiting.
    const behind = await enqueue('behind', 30, ['--finish-by', '45s', '--priority', 'background'], slow);
    expect(behind).toMatch(/will be missed/);
    const refused = await runCliInProcess(['enqueue', 'x.jsonl', '--finish-by', 'soon'], suite.environment());
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stderr).toMatch(/neither a duration .* nor an ISO time/);
  });

  it('sends OpenAI rows through the Batch API when the time is a day or more away, unless a delivery is named', async () => {
    expect(await enqueue('daylong', 4, ['--finish-by', '2d'])).toMatch(
      /4 rows go through OpenAI's Batch API/,
    );
    expect(await enqueue('today', 4, ['--finish-by', '3h'])).not.toMatch(/Batch API/);
    expect(await enqueue('insisted', 4, ['--finish-by', '2d', '--delivery', 'realtime'])).not.toMatch(
      /Batch API/,
    );
    const images = new ImageBatch({ environment: suite.environment() });
    try {
      // Batch API rows wait for a request file; realtime rows wait on the OpenAI queue.
      const { store } = await images.connection();
      expect(await store.openaiBatches.waitingCount('daylong', 'generate')).toBe(4);
      expect(await store.openaiBatches.waitingCount('insisted', 'generate')).toBe(0);
    } finally {
      await images.close();
    }
  });

  it('sends rows with the time left as their start deadline: a host that cannot start them in time aborts them unbilled', async () => {
    suite.simulator().setHostConditions('fal', { startDelayMs: 60_000 });
    await enqueue('deadline', 2, ['--finish-by', '12s'], suite.environment(), 'fal');
    const images = new ImageBatch({ environment: suite.environment() });
    const pool = await images.startWorkers({ providers: ['fal'] });
    try {
      const status = await images.waitForBatch('deadline', { pollIntervalMs: 200 });
      expect(status).toMatchObject({ state: 'finished', failed: 2 });
    } finally {
      await pool.close();
      await images.close();
    }
    const lines = await resultLinesOf('deadline');
    for (const line of lines) expect(line.error?.code).toBe('not_started');
    // fal accepted each row once and never started it: not billed.
    for (const prompt of ['deadline 0', 'deadline 1'])
      expect(suite.simulator().unbilledByPrompt.get(prompt)).toBe(1);
  });
});

/** The results lines of batch `name`. */
async function resultLinesOf(name: string) {
  const status = await statusOf(name);
  return resultLines(status.outputDirectory as string, name);
}
