/**
 * `npm run bench`: image-batch against bare BullMQ on the same machine and Redis, in the same run. Prints a table and
 * writes BENCHMARKS.md with the machine and date. Every figure is the median of several runs with its range; every
 * ratio compares figures measured in this run. Benchmarks, not tests: nothing here passes or fails on a time.
 *
 * Each measured program runs in its own process (our CLI from dist/, bare BullMQ as plain scripts) with
 * bench/peak-rss.cjs preloaded, so peak RSS is getrusage's true peak of that process alone. The provider simulator
 * runs in this process, which is otherwise idle while a child works. Every run gets its own Redis key prefix, deleted
 * afterwards (never a flush: the Redis may be shared).
 *
 * Flags: --quick (smaller sizes, one run each: to try the suite, not to quote), --only <name,...> (ingest, tracing, dispatch,
 * latency, rate, large, memory, batch-api, scale, routing, cluster, upload, scheduling, reuse; and scale-10m, hours long, run only when named: bench/scale-10m.ts).
 */
import { reuseRerun } from './reuse.js';
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { scaleRun } from './scale.js';
import { scaleTenMillion } from './scale-10m.js';
import { clusterVersusSingle } from './cluster.js';
import {
  log,
  makeScratch,
  notes,
  only,
  quick,
  redisUrl,
  removeScratch,
  root,
  rows,
  tableOf,
} from './harness.js';
import { ingest } from './ingest.js';
import { dispatch, dispatchTraced, largeOutputs, latencyHiding, rateAdherence } from './worker-benchmarks.js';
import { withSimulator } from './worker-runs.js';
import { batchApiOutputs } from './batch-api.js';
import { routingCost, routingThroughput } from './routing.js';
import { redisMemoryPerRow } from './redis-memory.js';
import { apiUpload } from './api-upload.js';
import { scheduling } from './scheduling.js';

function machine(): string[] {
  const cpus = os.cpus();
  let redisVersion = 'unknown';
  try {
    redisVersion =
      /redis_version:(\S+)/.exec(
        execFileSync('redis-cli', ['-u', redisUrl, 'info', 'server']).toString(),
      )?.[1] ?? redisVersion;
  } catch {
    // redis-cli missing: the version stays unknown.
  }
  const bullmq = (
    JSON.parse(
      execFileSync(process.execPath, ['-p', 'JSON.stringify(require("bullmq/package.json"))'], {
        cwd: root,
      }).toString(),
    ) as { version: string }
  ).version;
  return [
    `- Date: ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    `- CPU: ${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown'}; memory ${Math.round(os.totalmem() / 1024 ** 3)} GiB`,
    `- Node ${process.version}, Redis ${redisVersion} at ${new URL(redisUrl).host}, BullMQ ${bullmq}`,
    `- Mode: ${quick ? 'quick (small sizes, one run: not for quoting)' : 'full'}`,
  ];
}

async function main(): Promise<void> {
  const started = performance.now();
  await makeScratch();
  log('building dist/ (the CLI is measured as users run it)');
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const selected = (name: string) => only === undefined || only.has(name);
  try {
    if (selected('ingest')) await ingest(redis);
    // Rate-limit adherence needs 200 s at 10 jobs/s and little CPU: it runs beside the worker benchmarks, each of
    // which is compared with a figure of its own run, so it slows ours and bare alike. (Beside ingest it fell to
    // 95 %: addBulk keeps Redis, where the limiter lives, busy.)
    const rate = selected('rate') ? withSimulator((simulator) => rateAdherence(redis, simulator)) : undefined;
    rate?.catch(() => undefined);
    if (selected('tracing')) await withSimulator((simulator) => dispatchTraced(redis, simulator));
    if (selected('dispatch')) await withSimulator((simulator) => dispatch(redis, simulator));
    if (selected('latency')) await withSimulator((simulator) => latencyHiding(redis, simulator));
    if (selected('large')) await withSimulator((simulator) => largeOutputs(redis, simulator));
    if (selected('memory')) await withSimulator((simulator) => redisMemoryPerRow(redis, simulator));
    if (selected('batch-api')) await batchApiOutputs(redis);
    if (selected('scale')) await scaleRun(redis);
    if (selected('routing')) {
      await routingThroughput(redis);
      await routingCost(redis);
    }
    if (selected('cluster')) await clusterVersusSingle();
    if (selected('upload')) await apiUpload(redis);
    if (selected('scheduling')) await scheduling(redis);
    if (selected('reuse')) await reuseRerun(redis);
    await rate;
    // Hours long: only when asked for by name (`--only scale-10m`).
    if (only?.has('scale-10m') === true) await scaleTenMillion();
  } finally {
    redis.disconnect();
    await removeScratch();
  }
  const minutes = (performance.now() - started) / 60_000;
  const explanations = await readFile(path.join(root, 'bench/explanations.md'), 'utf8').catch(() => '');
  // The soak (bench/soak.ts, `npm run soak`) runs for half an hour on its own: its last table is kept.
  const soak = await readFile(path.join(root, 'bench/soak-results.md'), 'utf8').catch(() => '');
  // So does the ten-million-row run (bench/scale-10m.ts, `--only scale-10m`).
  const tenMillion = await readFile(path.join(root, 'bench/scale-10m-results.md'), 'utf8').catch(() => '');
  const document = [
    '# Benchmarks',
    '',
    'Written by `npm run bench` (bench/run.ts); do not edit by hand — the explanations below come from',
    'bench/explanations.md. Each figure is the median of the runs shown, with their range in brackets; each ratio is',
    'taken between figures of the same run.',
    '',
    '## Machine',
    '',
    ...machine(),
    `- The suite took ${minutes.toFixed(1)} minutes.`,
    '',
    '## Results',
    '',
    ...tableOf(rows),
    '',
    ...notes,
    explanations.trim(),
    '',
    ...(tenMillion === '' ? [] : [tenMillion.trim(), '']),
    ...(soak === '' ? [] : [soak.trim(), '']),
  ].join('\n');
  process.stdout.write(`${tableOf(rows).join('\n')}\n`);
  if (!quick && only === undefined) await writeFile(path.join(root, 'BENCHMARKS.md'), document);
  else await writeFile(path.join(os.tmpdir(), 'BENCHMARKS.partial.md'), document);
  log(`done in ${minutes.toFixed(1)} min`);
}

await main();
