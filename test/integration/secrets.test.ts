/**
 * Issue 18, secrets: a provider error body that echoes the API key must not carry it into results, reports, output or
 * Redis (BullMQ's failedReason, events, pause reasons).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProviderSimulator } from '../../src/simulator/server.js';
import { runCliInProcess } from '../helpers/cli.js';
import { removeTemporaryDirectories, temporaryDirectory } from '../helpers/files.js';
import { jsonLine, manifestFolder, writeManifest } from '../helpers/manifests.js';
import { redisUrl, prefixPerTest, storedText } from '../helpers/redis.js';
import { simulatorEnvironment } from '../helpers/simulator-environment.js';

const KEY = 'sk-live-Secret0123456789abcdefXYZ';
/** Another account's key, in a provider's key shape, also echoed back. */
const FOREIGN_KEY = 'r8_ForeignKey0123456789abcdefgh';
let simulator: ProviderSimulator;
const prefix = prefixPerTest();

beforeAll(async () => {
  simulator = new ProviderSimulator({ apiKey: KEY });
  await simulator.start();
});
afterAll(async () => {
  await simulator.stop();
  await removeTemporaryDirectories();
});

async function runEchoing(status: number, batch: string) {
  simulator.injectFaults([
    {
      provider: 'openai',
      status,
      body: {
        error: {
          message: `Incorrect API key provided: ${KEY} (also seen: ${FOREIGN_KEY}, header Bearer ${KEY})`,
          type: 'invalid_request_error',
          param: null,
          code: 'invalid_api_key',
        },
      },
    },
  ]);
  const manifest = await writeManifest(await manifestFolder(), `${batch}.jsonl`, [
    jsonLine({ id: 'echo', provider: 'openai', prompt: 'a key in the answer', quality: 'low' }),
  ]);
  const out = await temporaryDirectory();
  const environment = {
    REDIS_URL: redisUrl(),
    IMAGE_BATCH_QUEUE_PREFIX: prefix(),
    LOG_LEVEL: 'info',
    ...simulatorEnvironment(simulator.url, KEY),
  };
  const run = await runCliInProcess(['run', manifest, '--out', out, '--batch', batch], environment);
  const report = await runCliInProcess(['report', batch, '--format', 'csv'], environment);
  return { run, report, out };
}

describe('secrets echoed by a provider', () => {
  it('a failed row: not in results, report, output or Redis', async () => {
    const { run, report, out } = await runEchoing(400, 'echo');
    const results = await readFile(path.join(out, 'echo', 'results.jsonl'), 'utf8');
    expect(results).toContain('Incorrect API key provided: [redacted]');
    const everything = [
      results,
      run.stdout,
      run.stderr,
      report.stdout,
      report.stderr,
      await storedText(prefix()),
    ];
    for (const text of everything) {
      expect(text).not.toContain(KEY);
      expect(text).not.toContain(FOREIGN_KEY);
    }
  });

  it('an account pause (401): not in the pause reason, the output or Redis', async () => {
    const { run } = await runEchoing(401, 'paused');
    expect(run.stdout + run.stderr).toMatch(/paused/i);
    for (const text of [run.stdout, run.stderr, await storedText(prefix())]) {
      expect(text).not.toContain(KEY);
      expect(text).not.toContain(FOREIGN_KEY);
    }
  });
});
