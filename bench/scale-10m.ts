/**
 * `npm run bench -- --only scale-10m` (issue 27): a 10,000,000-row manifest through windowed ingest on the simulator's
 * instant OpenAI host, against a private Redis, so that its `used_memory_peak` is this run's alone. Measured: Redis's
 * peak memory (target ≤ 512 MiB), the producer's peak RSS (`enqueue`: every row read, checked, priced and registered;
 * target ≤ 300 MiB), and rows/s end to end (from the start of `enqueue` to the last outcome, one worker process).
 * `BENCH_10M_ROWS=N` runs N rows instead (to try the run; the table names the size). Not part of the default suite:
 * at the few hundred rows/s one worker process reaches on two cores it runs for hours. `BENCH_10M_WORK_MINUTES=M`
 * stops the worker after M minutes (the table says how many rows finished): the producer registers every row in the
 * batch's row index before the worker starts, and a finished row's record is the size of a waiting one, so the index
 * is at its full size from then on and the Redis peak of a shortened run is the full run's, less what in-flight work
 * adds.
 */
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { BatchStore } from '../src/batch/batch-store.js';
import { ProviderSimulator, simulatorBaseUrls } from '../src/simulator/server.js';
import { freePort } from '../test/helpers/ports.js';
import {
  cli,
  log,
  mebibytes,
  perSecond,
  rows,
  runNode,
  saveSection,
  scratch,
  tableOf,
  type Row,
} from './harness.js';

const ROWS = Number(process.env.BENCH_10M_ROWS ?? 10_000_000);
/** Minutes the worker may work before it is stopped (unset: until every row finished). */
const WORK_MINUTES = Number(process.env.BENCH_10M_WORK_MINUTES ?? Number.POSITIVE_INFINITY);
const PREFIX = 'scale10m';

/** Write the manifest as a stream (about 80 bytes a row). */
async function writeManifest(file: string, count: number): Promise<void> {
  const out = createWriteStream(file);
  out.write('id,prompt,resolution,quality,provider\n');
  for (let index = 0; index < count; index += 1) {
    if (!out.write(`row-${index},A scale benchmark image,1024x640,low,openai\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

/** A private redis-server (no persistence) on a free port; stopped by its pid. */
export async function privateRedis(): Promise<{ url: string; stop(): void }> {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  const url = `redis://127.0.0.1:${port}`;
  for (let attempt = 0; ; attempt += 1) {
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0 });
    probe.on('error', () => undefined);
    const up = await probe.connect().then(
      () => true,
      () => false,
    );
    probe.disconnect();
    if (up) break;
    if (attempt > 100) throw new Error('redis-server did not start');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { url, stop: () => child.kill('SIGTERM') };
}

async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? Number.NaN);
}

async function usedMemoryPeak(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  return Number(/used_memory_peak:(\d+)/.exec(info)?.[1] ?? Number.NaN);
}

/** Where the latest full-size run's table is kept (bench/run.ts copies it into each BENCHMARKS.md). */
const RESULTS_FILE = 'scale-10m-results.md';
const RESULTS_HEADING = '## Ten million rows';

/** The section of BENCHMARKS.md for a run's rows. */
export function tenMillionReport(tenMillionRows: readonly Row[], date = new Date()): string {
  const shortened = Number.isFinite(WORK_MINUTES)
    ? `, the worker stopped after ${WORK_MINUTES} minutes (\`BENCH_10M_WORK_MINUTES=${WORK_MINUTES}\`)`
    : '';
  return [
    RESULTS_HEADING,
    '',
    `Written by \`npm run bench -- --only scale-10m\` (bench/scale-10m.ts) on ${date.toISOString().slice(0, 16).replace('T', ' ')} UTC,`,
    `${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? 'unknown'}: ${ROWS.toLocaleString('en')} rows${shortened}. How it is measured,`,
    'and why the run was not taken to its end here: see "Targets missed" above.',
    '',
    ...tableOf(tenMillionRows),
  ].join('\n');
}

/** The 10M-row run; adds its rows to the table, and for the full size keeps them in BENCHMARKS.md's own section. */
export async function scaleTenMillion(): Promise<void> {
  const manifest = path.join(scratch, 'scale-10m.csv');
  log(`scale-10m: writing a ${ROWS.toLocaleString('en')}-row manifest`);
  await writeManifest(manifest, ROWS);
  const server = await privateRedis();
  const redis = new Redis(server.url, { maxRetriesPerRequest: null });
  const simulator = new ProviderSimulator({ apiKey: 'bench-key' });
  await simulator.start();
  try {
    const environment = {
      REDIS_URL: server.url,
      IMAGE_BATCH_QUEUE_PREFIX: PREFIX,
      LOG_LEVEL: 'warn',
      OPENAI_API_KEY: 'bench-key',
      OPENAI_BASE_URL: simulatorBaseUrls(simulator.url).openai.baseUrl,
      OPENAI_REQUESTS_PER_MINUTE: '0',
      OPENAI_CONCURRENCY: '64',
    };
    const started = performance.now();
    const out = path.join(scratch, 'scale-10m-out');
    const enqueue = await runNode(
      [cli, 'enqueue', manifest, '--batch', 'scale', '--out', out, '--provider', 'openai'],
      environment,
    );
    if (!enqueue.stdout.includes(`enqueued ${ROWS}`))
      throw new Error(`enqueue:\n${enqueue.stdout}${enqueue.stderr}`);
    log(
      `scale-10m: enqueued in ${(enqueue.ms / 1000).toFixed(0)} s, producer peak RSS ${mebibytes(enqueue.peakRssBytes)}`,
    );
    const afterEnqueue = await usedMemory(redis);
    log(`scale-10m: Redis holds ${mebibytes(afterEnqueue)} after enqueue`);
    const store = new BatchStore(redis, PREFIX);
    const stopAt = Date.now() + WORK_MINUTES * 60_000;
    const worker = await runNode([cli, 'worker', '--provider', 'openai'], environment, async (child) => {
      let lastLog = Date.now();
      for (;;) {
        const status = await store.status('scale');
        if (status !== undefined && status.pending === 0) break;
        if (Date.now() >= stopAt) break;
        if (Date.now() - lastLog > 60_000) {
          lastLog = Date.now();
          log(
            `scale-10m: ${status?.completed ?? 0} rows done, Redis peak ${mebibytes(await usedMemoryPeak(redis))}`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
      child.kill('SIGTERM');
    });
    const seconds = (performance.now() - started) / 1000;
    const status = (await store.status('scale'))!;
    const peak = await usedMemoryPeak(redis);
    const label = `${ROWS.toLocaleString('en')}-row manifest through windowed ingest`;
    const stopped =
      status.pending === 0
        ? ''
        : `; worker stopped after ${WORK_MINUTES} min, ${status.pending.toLocaleString('en')} rows pending`;
    const tenMillionRows: Row[] = [
      {
        benchmark: label,
        measure: `rows/s end to end (enqueue start to last outcome; one worker process, instant host${stopped})`,
        ours: `${perSecond(status.completed / seconds)} (${status.completed.toLocaleString('en')} completed, ${status.failed} failed)`,
        bare: '',
        ratio: '',
        target: '',
        met: undefined,
      },
      {
        benchmark: label,
        measure: `peak Redis used_memory (private Redis; ${mebibytes(afterEnqueue)} after enqueue, every row in the row index)`,
        ours: mebibytes(peak),
        bare: '',
        ratio: '',
        target: '≤ 512 MiB',
        met: peak <= 512 * 1024 * 1024,
      },
      {
        benchmark: label,
        measure: 'peak RSS of the producer (enqueue)',
        ours: mebibytes(enqueue.peakRssBytes),
        bare: '',
        ratio: '',
        target: '≤ 300 MiB',
        met: enqueue.peakRssBytes <= 300 * 1024 * 1024,
      },
      {
        benchmark: label,
        measure: 'peak RSS of the worker',
        ours: mebibytes(worker.peakRssBytes),
        bare: '',
        ratio: '',
        target: '',
        met: undefined,
      },
    ];
    rows.push(...tenMillionRows);
    if (ROWS >= 10_000_000)
      await saveSection(RESULTS_FILE, RESULTS_HEADING, tenMillionReport(tenMillionRows));
  } finally {
    redis.disconnect();
    await simulator.stop();
    server.stop();
  }
}
