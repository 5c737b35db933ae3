/**
 * A worker cut off from Redis by a network partition — not a crash — while it waits for a paid synchronous call
 * (issue 26). A TCP proxy between that worker and Redis black-holes the traffic (no RST) for longer than the job's
 * lock: another worker takes the row and, finding the call sent without an answer, records it `uncertain_outcome`
 * (never sent again). When the partition ends, the first worker's late answer is used: its image is kept and the row
 * ends completed, with one results line — paid once.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, expect, it } from 'vitest';
import type { ResultLine } from '../../src/shared/job-definitions.js';
import { killSpawnedProcesses, runCliProcess, spawnCli } from '../helpers/cli.js';
import { temporaryDirectory } from '../helpers/files.js';
import { jsonLine, manifestFolder, writeManifest } from '../helpers/manifests.js';
import { readJsonLines } from '../helpers/results.js';
import { redisUrl } from '../helpers/redis.js';
import { simulatorSuite } from '../helpers/simulator-suite.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

const suite = simulatorSuite();
let proxy: TcpProxy | undefined;
afterEach(() => {
  killSpawnedProcesses();
  suite.simulator().setLatency(0);
});
afterAll(async () => proxy?.stop());

/** Wait until `check` holds (polled every 100 ms), or fail naming `what`. */
async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  limitMs = 45_000,
): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The results lines in `file`, none while it is not there. */
function linesOf(file: string): Promise<ResultLine[]> {
  return readJsonLines<ResultLine>(file).catch(() => []);
}

it('a partitioned worker: the row moves to another worker, is paid once, and the late image is kept', async () => {
  const redis = new URL(redisUrl());
  proxy = await startTcpProxy(redis.hostname, Number(redis.port || 6379));
  const prompt = 'partition: a windmill on a hill, seen through fog';
  const manifest = await writeManifest(await manifestFolder(), 'partition.jsonl', [
    jsonLine({ id: 'cut-off', provider: 'openai', prompt, quality: 'low' }),
  ]);
  const out = await temporaryDirectory();
  const environment = suite.environment({
    IMAGE_BATCH_LOCK_DURATION_MS: '1500',
    IMAGE_BATCH_STALLED_INTERVAL_MS: '500',
    LOG_LEVEL: 'warn',
  });
  const enqueued = await runCliProcess(
    ['enqueue', manifest, '--out', out, '--batch', 'partition'],
    environment,
  );
  expect(enqueued.exitCode, enqueued.stderr).toBe(0);
  // The synchronous call takes 5 s at the host.
  suite.simulator().setLatency(5000);
  const sent = () => suite.simulator().recordedRequests.filter((request) => request.prompt === prompt).length;
  const before = sent();
  spawnCli(['worker', '--provider', 'openai'], {
    ...environment,
    REDIS_URL: `redis://127.0.0.1:${proxy.port}`,
  });
  await waitFor('the first worker to send the row', () => sent() > before);
  proxy.blackhole(true);
  spawnCli(['worker', '--provider', 'openai'], environment);
  const results = path.join(out, 'partition', 'results.jsonl');
  // The second worker takes the row once the first one's lock expired, and does not send it again.
  await waitFor('the row recorded uncertain_outcome', async () =>
    (await linesOf(results)).some((line) => line.error?.code === 'uncertain_outcome'),
  );
  expect(sent() - before).toBe(1);
  // The host answers the first worker meanwhile; then the partition ends.
  await new Promise((resolve) => setTimeout(resolve, 5500));
  proxy.blackhole(false);
  await waitFor('the late result to complete the row', async () =>
    (await linesOf(results)).some((line) => line.status === 'completed'),
  );
  const lines = await linesOf(results);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatchObject({ row_key: 'cut-off', status: 'completed', provider: 'openai' });
  const image = await readFile(path.join(out, 'partition', lines[0]!.outputs[0]!.path));
  expect(image.length).toBe(lines[0]!.outputs[0]!.bytes);
  expect(sent() - before).toBe(1);
  const status = JSON.parse((await runCliProcess(['status', 'partition', '--json'], environment)).stdout) as {
    completed: number;
    failed: number;
  };
  expect(status).toMatchObject({ completed: 1, failed: 0 });
});
