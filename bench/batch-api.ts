/** Benchmark 6 of `npm run bench` (bench/run.ts): a batch through the OpenAI Batch API with a gigabyte output file. */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';
import { ProviderSimulator } from '../src/simulator/server.js';
import { providerEnvironment } from './worker-runs.js';
import {
  cli,
  deletePrefix,
  log,
  mebibytes,
  newPrefix,
  percent,
  quick,
  redisUrl,
  rows,
  runNode,
  scratch,
  SMALL_SIZE,
} from './harness.js';

/**
 * A batch run through OpenAI's Batch API in the simulator: every row an incompressible 1024x640 PNG, so the output
 * file runs to gigabytes (1,000 rows: about 2.6 GB of base64). Measured: the run's peak RSS against the file's size —
 * the output file is streamed to disk and read line by line, so memory must not grow with it — and every image
 * checked and stored (one results line per row).
 */
export async function batchApiOutputs(redis: Redis): Promise<void> {
  const jobs = quick ? 100 : 1000;
  // Only a few images kept for download: the output file carries them all, base64.
  const simulator = new ProviderSimulator({ latencyMs: 0, maxStoredImages: 10 });
  await simulator.start();
  const prefix = newPrefix();
  try {
    const manifest = path.join(scratch, `batch-api-${prefix}.jsonl`);
    const lines = Array.from({ length: jobs }, (_, index) =>
      JSON.stringify({
        id: `row-${index}`,
        provider: 'openai',
        prompt: `A noisy benchmark image ${index} [simulate:noise]`,
        resolution: SMALL_SIZE,
        quality: 'low',
        delivery: 'batch',
      }),
    );
    await writeFile(manifest, `${lines.join('\n')}\n`);
    const out = path.join(scratch, prefix);
    const run = await runNode([cli, 'run', manifest, '--batch', 'bench', '--out', out], {
      REDIS_URL: redisUrl,
      IMAGE_BATCH_QUEUE_PREFIX: prefix,
      LOG_LEVEL: 'warn',
      ...providerEnvironment(simulator, 'openai', 8),
    });
    if (!run.stdout.includes(`${jobs} completed, 0 failed, 0 pending`))
      throw new Error(
        `the Batch API run did not finish:\n${run.stdout.slice(-2000)}${run.stderr.slice(-2000)}`,
      );
    const results = (await readFile(path.join(out, 'bench', 'results.jsonl'), 'utf8'))
      .split('\n')
      .filter(Boolean);
    if (results.length !== jobs) throw new Error(`${results.length} results lines for ${jobs} rows`);
    const outputBytes = Math.max(
      ...[...simulator.openaiBatches.files.values()]
        .filter((file) => file.purpose === 'batch_output')
        .map((file) => file.bytes),
    );
    log(`batch api: ${mebibytes(run.peakRssBytes)} peak for a ${mebibytes(outputBytes)} output file`);
    rows.push({
      benchmark: `OpenAI Batch API (${jobs} rows, 1024×640 noise PNG, one output file of ${(outputBytes / 1024 ** 3).toFixed(2)} GiB)`,
      measure: 'peak RSS of `run` while it streams the output file; every row stored and checked',
      ours: `${mebibytes(run.peakRssBytes)} (1 run)`,
      bare: `file ${mebibytes(outputBytes)}`,
      ratio: percent(run.peakRssBytes / outputBytes),
      target: 'flat: < 25 % of the file',
      met: run.peakRssBytes < 0.25 * outputBytes,
    });
  } finally {
    await simulator.stop();
    await deletePrefix(redis, prefix);
  }
}
