/**
 * `npm run soak -- --minutes 30` (issue 26; not in CI): a batch of mixed synchronous and asynchronous rows over all
 * five simulated hosts, worked by several worker processes while the infrastructure fails on a schedule:
 *
 * - a kill -9 of a random worker every 20–60 s (a supervisor starts a new one a second later), sparing one worker that
 *   lives the whole run so that its RSS over time shows whether a worker leaks;
 * - a restart of Redis every 5 minutes (SIGKILL, then started again on its append-only file, `appendfsync always`);
 * - a 10-second network partition of a random worker every 3 minutes (a TCP proxy holds its Redis traffic: no RST).
 *
 * Job locks last 5 s here (not the default 60 s), so that a partition outlasts them and the row moves to another
 * worker, as the issue asks. The soak prints every fault as it happens, then rows, completed, lost, paid twice and the
 * workers' RSS over time; it writes that table to bench/soak-results.md and into BENCHMARKS.md's "Soak" section
 * (bench/run.ts copies the saved table into each new BENCHMARKS.md).
 *
 * Everything it starts (a private redis-server, the simulator, the proxies, the workers) is its own, stopped by pid.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Command } from '@commander-js/extra-typings';
import { Redis } from 'ioredis';
import { BatchStore } from '../src/batch/batch-store.js';
import { PROVIDER_NAMES } from '../src/shared/config.js';
import { ProviderSimulator } from '../src/simulator/server.js';
import { simulatorEnvironment } from '../test/helpers/simulator-environment.js';
import { freePort } from '../test/helpers/ports.js';
import { startTcpProxy, type TcpProxy } from '../test/helpers/tcp-proxy.js';
import { deletePrefix, saveSection } from './harness.js';
import { soakCounts, soakReport, type SoakSample } from './soak-report.js';

const root = path.resolve(import.meta.dirname, '..');
const cli = path.join(root, 'bin/image-batch.js');
const MIB = 1024 * 1024;

const program = new Command('soak')
  .description(
    'run a batch for a while under worker kills, Redis restarts and partitions; report what was lost',
  )
  .option('--minutes <n>', 'how long the faults go on (the batch then drains)', '30')
  .option('--workers <n>', 'worker processes (one of them is never killed)', '4')
  .option('--rows-per-minute <n>', 'rows in the manifest per minute of the run', '100')
  .option('--restart-redis-every <minutes>', 'minutes between Redis restarts', '5')
  .option('--partition-every <minutes>', 'minutes between 10-second partitions of a worker', '3')
  .option('--no-build', 'use dist/ as it is')
  .parse();

const options = program.opts();
const minutes = Number(options.minutes);
const workerCount = Math.max(2, Number(options.workers));
const rowCount = Math.max(10, Math.round(minutes * Number(options.rowsPerMinute)));
const runId = randomBytes(3).toString('hex');
const prefix = `ib-soak-${runId}`;
const startedAt = Date.now();
const restartEveryMs = Number(options.restartRedisEvery) * 60_000;
const partitionEveryMs = Number(options.partitionEvery) * 60_000;

function log(message: string): void {
  const elapsed = (Date.now() - startedAt) / 1000;
  const stamp = `${String(Math.floor(elapsed / 60)).padStart(2, '0')}:${String(Math.floor(elapsed % 60)).padStart(2, '0')}`;
  process.stderr.write(`[soak ${stamp}] ${message}\n`);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const between = (low: number, high: number) => low + Math.random() * (high - low);

/** Every child process the soak started, so that an interrupted soak stops them (by pid). */
const children = new Set<ChildProcess>();

function started(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const child of children) child.kill('SIGKILL');
    process.exit(130);
  });
}

/** A private redis-server on its own port and append-only file, restartable. */
class PrivateRedis {
  private child: ChildProcess | undefined;
  constructor(
    readonly port: number,
    private readonly directory: string,
  ) {}

  async start(): Promise<void> {
    this.child = started(
      spawn(
        'redis-server',
        [
          ...['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.directory, '--save', ''],
          ...['--appendonly', 'yes', '--appendfsync', 'always', '--maxmemory-policy', 'noeviction'],
        ],
        { stdio: 'ignore' },
      ),
    );
    const deadline = Date.now() + 30_000;
    for (;;) {
      const probe = new Redis({ port: this.port, lazyConnect: true, retryStrategy: () => null });
      probe.on('error', () => undefined);
      const answered = await probe.connect().then(
        () => probe.ping().then(() => true),
        () => false,
      );
      probe.disconnect();
      if (answered) return;
      if (Date.now() > deadline)
        throw new Error(`the private redis-server on port ${this.port} does not answer`);
      await sleep(100);
    }
  }

  /** Kill it (SIGKILL: a crash) and wait for its exit. */
  async kill(): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
}

/** One worker slot: its proxy to Redis and the process working in it now. */
interface WorkerSlot {
  index: number;
  proxy: TcpProxy;
  child?: ChildProcess;
  /** The slot's worker is never killed. */
  lasting: boolean;
  starts: number;
}

function rssBytes(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = /VmRSS:\s+(\d+)/.exec(status)?.[1];
    return kib === undefined ? undefined : Number(kib) * 1024;
  } catch {
    return undefined;
  }
}

function manifestLines(): string[] {
  return Array.from({ length: rowCount }, (_, index) =>
    JSON.stringify({
      id: `row-${index}`,
      provider: PROVIDER_NAMES[index % PROVIDER_NAMES.length],
      prompt: `soak ${runId} #${index}: a lighthouse on a cliff, watercolour`,
      resolution: '1024x1024',
      quality: 'low',
    }),
  );
}

async function main(): Promise<void> {
  if (options.build) execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'image-batch-soak-'));
  const redisServer = new PrivateRedis(await freePort(), scratch);
  await redisServer.start();
  const simulator = new ProviderSimulator({ latencyMs: 1000 });
  await simulator.start();
  simulator.setQueueDelay(1500);
  // The hosts' limits make the batch last about as long as the faults (a kill or a partition slows it a little).
  const perHostPerMinute = Math.ceil(Number(options.rowsPerMinute) / PROVIDER_NAMES.length);
  const environment: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: os.tmpdir(),
    ...simulatorEnvironment(simulator.url, 'sk-soak'),
    IMAGE_BATCH_QUEUE_PREFIX: prefix,
    IMAGE_BATCH_LOCK_DURATION_MS: '5000',
    IMAGE_BATCH_STALLED_INTERVAL_MS: '2500',
    LOG_LEVEL: 'warn',
  };
  for (const provider of PROVIDER_NAMES) {
    environment[`${provider.toUpperCase()}_REQUESTS_PER_MINUTE`] = String(perHostPerMinute);
    environment[`${provider.toUpperCase()}_POLL_INTERVAL_MS`] = '500';
  }
  const directUrl = `redis://127.0.0.1:${redisServer.port}`;
  const manifest = path.join(scratch, 'soak.jsonl');
  await writeFile(manifest, `${manifestLines().join('\n')}\n`);
  const out = path.join(scratch, 'out');
  // Not execFileSync: the simulator answers from this process's event loop.
  const enqueue = started(
    spawn(
      process.execPath,
      [cli, 'enqueue', manifest, '--out', out, '--batch', 'soak', '--max-rejected', '0'],
      {
        env: { ...environment, REDIS_URL: directUrl },
        stdio: ['ignore', process.stderr, 'inherit'],
      },
    ),
  );
  const enqueueCode = await new Promise((resolve) => enqueue.once('exit', resolve));
  if (enqueueCode !== 0) throw new Error(`enqueue exited ${String(enqueueCode)}`);
  log(
    `enqueued ${rowCount} rows (sync: openai, oxen; async: fal, replicate, wavespeed) at ${perHostPerMinute}/min per host`,
  );

  let stopping = false;
  const slots: WorkerSlot[] = [];
  const startWorker = (slot: WorkerSlot) => {
    const child = started(
      spawn(process.execPath, [cli, 'worker'], {
        cwd: root,
        env: { ...environment, REDIS_URL: `redis://127.0.0.1:${slot.proxy.port}` },
        stdio: ['ignore', 'ignore', 'ignore'],
      }),
    );
    slot.child = child;
    slot.starts += 1;
    child.once('exit', () => {
      if (!stopping) setTimeout(() => !stopping && startWorker(slot), 1000);
    });
  };
  for (let index = 0; index < workerCount; index += 1) {
    const slot: WorkerSlot = {
      index,
      proxy: await startTcpProxy('127.0.0.1', redisServer.port),
      lasting: index === 0,
      starts: 0,
    };
    slots.push(slot);
    startWorker(slot);
  }

  const faults = { kills: 0, redisRestarts: 0, partitions: 0 };
  const faultsEnd = Date.now() + minutes * 60_000;
  const killing = (async () => {
    while (Date.now() < faultsEnd) {
      await sleep(Math.min(between(20_000, 60_000), faultsEnd - Date.now()));
      if (Date.now() >= faultsEnd) break;
      const candidates = slots.filter((slot) => !slot.lasting && slot.child?.exitCode === null);
      const victim = candidates[Math.floor(Math.random() * candidates.length)];
      if (victim?.child === undefined) continue;
      victim.child.kill('SIGKILL');
      faults.kills += 1;
      log(`kill -9 worker ${victim.index} (pid ${victim.child.pid})`);
    }
  })();
  const restarting = (async () => {
    while (Date.now() + restartEveryMs <= faultsEnd + 1000) {
      await sleep(restartEveryMs);
      await redisServer.kill();
      log('Redis killed');
      await sleep(2000);
      await redisServer.start();
      faults.redisRestarts += 1;
      log('Redis started again');
    }
  })();
  const partitioning = (async () => {
    while (Date.now() + partitionEveryMs <= faultsEnd + 1000) {
      await sleep(partitionEveryMs);
      const slot = slots[Math.floor(Math.random() * slots.length)]!;
      slot.proxy.blackhole(true);
      log(`worker ${slot.index} partitioned from Redis`);
      await sleep(10_000);
      slot.proxy.blackhole(false);
      faults.partitions += 1;
      log(`worker ${slot.index} partition ended`);
    }
  })();

  const redis = new Redis(directUrl, { maxRetriesPerRequest: null });
  redis.on('error', () => undefined);
  const store = new BatchStore(redis, prefix);
  const samples: SoakSample[] = [];
  let pending = rowCount;
  const drainEnd = faultsEnd + 15 * 60_000;
  let nextSample = Date.now();
  while (Date.now() < drainEnd && (Date.now() < faultsEnd || pending > 0)) {
    await sleep(1000);
    const status = await store.status('soak').catch(() => undefined);
    if (status !== undefined) pending = status.pending;
    if (Date.now() < nextSample) continue;
    nextSample += 60_000;
    const rss = slots.map((slot) => rssBytes(slot.child?.pid));
    const sample: SoakSample = {
      minute: Math.round((Date.now() - startedAt) / 60_000),
      completed: status?.completed ?? samples.at(-1)?.completed ?? 0,
      failed: status?.failed ?? samples.at(-1)?.failed ?? 0,
      lastingWorkerRssBytes: rss[0],
      largestWorkerRssBytes: Math.max(...rss.map((value) => value ?? 0)),
      ...faults,
    };
    samples.push(sample);
    log(
      `completed ${sample.completed}, failed ${sample.failed} of ${rowCount}; RSS of the lasting worker ` +
        `${Math.round((sample.lastingWorkerRssBytes ?? 0) / MIB)} MiB, largest ${Math.round(sample.largestWorkerRssBytes / MIB)} MiB`,
    );
  }
  await Promise.all([killing, restarting, partitioning]);
  stopping = true;
  await Promise.all(
    slots.map(async (slot) => {
      const child = slot.child;
      if (child !== undefined && child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await Promise.race([exited, sleep(30_000).then(() => child.kill('SIGKILL'))]);
      }
      await slot.proxy.stop();
    }),
  );
  const results = await readFile(path.join(out, 'soak', 'results.jsonl'), 'utf8').catch(() => '');
  const counts = soakCounts({
    rows: rowCount,
    resultsText: results,
    submissionsByPrompt: simulator.submissionsByPrompt,
    unbilledByPrompt: simulator.unbilledByPrompt,
    promptOf: (index) => `soak ${runId} #${index}: a lighthouse on a cliff, watercolour`,
  });
  const report = soakReport({
    minutes,
    workers: workerCount,
    rowsPerMinute: Number(options.rowsPerMinute),
    counts,
    samples,
    workerStarts: slots.reduce((total, slot) => total + slot.starts, 0),
    faults,
    restartRedisEvery: Number(options.restartRedisEvery),
    partitionEvery: Number(options.partitionEvery),
    date: new Date(),
  });
  process.stdout.write(`${report}\n`);
  await saveSection('soak-results.md', '## Soak', report);

  await deletePrefix(redis, prefix);
  redis.disconnect();
  await simulator.stop();
  await redisServer.kill();
  await rm(scratch, { recursive: true, force: true });
  process.exitCode = counts.lost === 0 && counts.paidTwice === 0 && counts.twoLines === 0 ? 0 : 1;
}

try {
  await main();
} finally {
  for (const child of children) child.kill('SIGKILL');
}
