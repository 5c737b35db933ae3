/** How `npm run bench` runs workers (ours, the peer) and measures them, for bench/worker-benchmarks.ts. */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';
import { BatchStore } from '../src/batch/batch-store.js';
import { type ProviderName } from '../src/shared/config.js';
import { apiKeyVariable, baseUrlVariable } from '../src/providers/configuration.js';
import { ProviderSimulator, simulatorBaseUrls } from '../src/simulator/server.js';
import {
  cli,
  deletePrefix,
  figure,
  formatFigure,
  newPrefix,
  percent,
  perSecond,
  redisUrl,
  root,
  runNode,
  scratch,
  SMALL_SIZE,
  type ChildRun,
} from './harness.js';

/** Write a manifest of `count` OpenAI generate rows of `resolution` and enqueue it under a new prefix. */
export async function enqueueJobs(
  redis: Redis,
  count: number,
  resolution: string,
  options: { provider?: string; format?: string; prompt?: string; keepCompletedJobs?: number } = {},
): Promise<string> {
  const prefix = newPrefix();
  const provider = options.provider ?? 'openai';
  const manifest = path.join(scratch, `jobs-${prefix}.jsonl`);
  const lines: string[] = [];
  for (let index = 0; index < count; index += 1) {
    lines.push(
      JSON.stringify({
        id: `job-${index}`,
        provider,
        prompt: options.prompt ?? 'A small benchmark image',
        resolution,
        output_format: options.format ?? 'png',
      }),
    );
  }
  await writeFile(manifest, `${lines.join('\n')}\n`);
  const run = await runNode(
    // Every job at once (no window): these runs measure the worker path and a row's memory with its job.
    [cli, 'enqueue', manifest, '--batch', 'bench', '--out', path.join(scratch, prefix), '--window', '0'],
    {
      REDIS_URL: redisUrl,
      IMAGE_BATCH_QUEUE_PREFIX: prefix,
      LOG_LEVEL: 'warn',
      // Completed jobs are removed at once by default; these runs are timed from the completed set, so keep them.
      IMAGE_BATCH_KEEP_COMPLETED_JOBS: String(options.keepCompletedJobs ?? 10_000_000),
    },
  );
  if (!run.stdout.includes(`enqueued ${count}`))
    throw new Error(`could not enqueue:\n${run.stdout}${run.stderr}`);
  void redis;
  return prefix;
}

/**
 * Jobs per second from the moment the first job was taken (its `processedOn`) to the last completion (the completed
 * set is scored by finish time): process start-up is not counted, the ramp-up and the last wave are.
 */
export async function completionRate(
  redis: Redis,
  prefix: string,
  provider = 'openai',
): Promise<{ rate: number; count: number }> {
  const key = `${prefix}:{provider-${provider}}:completed`;
  const ids = await redis.zrange(key, '0', '-1');
  const last = await redis.zrange(key, '-1', '-1', 'WITHSCORES');
  const pipeline = redis.pipeline();
  for (const id of ids) pipeline.hget(`${prefix}:{provider-${provider}}:${id}`, 'processedOn');
  const started = ((await pipeline.exec()) ?? []).map(([, value]) => Number(value));
  const spanMs = Number(last[1]) - Math.min(...started);
  return { rate: spanMs > 0 ? (ids.length * 1000) / spanMs : Number.NaN, count: ids.length };
}

/**
 * CPU seconds (user + system) a live process has used so far, from /proc/<pid>/stat (Linux; clock ticks of 10 ms).
 * @returns undefined where /proc is not readable (another OS, the process gone).
 */
async function cpuSecondsOf(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces, so split after its closing parenthesis): utime is the
    // 14th field of the line, stime the 15th (proc(5)).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/** A run of our worker, with the CPU it spent per job while jobs completed (start-up and shutdown not counted). */
export interface OurWorkerRun extends ChildRun {
  /** Worker CPU ms per job completed between the first poll that saw a completed row and the last; NaN if unread. */
  cpuMsPerJob: number;
}

/** Run our worker on `prefix` until batch `bench` has no pending row; SIGTERM it and return its run. */
export async function runOurWorker(
  redis: Redis,
  prefix: string,
  environment: Record<string, string>,
  args: string[],
): Promise<OurWorkerRun> {
  const store = new BatchStore(redis, prefix);
  let first: { cpu: number; completed: number } | undefined;
  let last: { cpu: number; completed: number } | undefined;
  const run = await runNode(
    [cli, 'worker', ...args],
    { REDIS_URL: redisUrl, IMAGE_BATCH_QUEUE_PREFIX: prefix, LOG_LEVEL: 'warn', ...environment },
    async (child) => {
      const deadline = Date.now() + 10 * 60_000;
      for (;;) {
        const status = await store.status('bench');
        const cpu = await cpuSecondsOf(child.pid);
        if (status !== undefined && cpu !== undefined && status.completed > 0) {
          last = { cpu, completed: status.completed };
          first ??= last;
        }
        if (status !== undefined && status.pending === 0) break;
        if (child.exitCode !== null || Date.now() > deadline) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      child.kill('SIGTERM');
    },
  );
  const jobs = first === undefined || last === undefined ? 0 : last.completed - first.completed;
  const cpuMsPerJob = jobs > 0 ? ((last!.cpu - first!.cpu) * 1000) / jobs : Number.NaN;
  return { ...run, cpuMsPerJob };
}

/**
 * Environment pointing `provider` at `simulator`, with `concurrency` as its global concurrency (a provider's
 * `<P>_CONCURRENCY` caps jobs at once across all workers, whatever a worker's own `--concurrency`).
 */
export function providerEnvironment(
  simulator: ProviderSimulator,
  provider: ProviderName,
  concurrency: number,
): Record<string, string> {
  const urls = simulatorBaseUrls(simulator.url);
  const upper = provider.toUpperCase();
  return {
    [apiKeyVariable(provider)]: 'bench-key',
    [baseUrlVariable(provider)]: urls[provider].baseUrl,
    ...(provider === 'fal' ? { FAL_REST_URL: simulator.url } : {}),
    [`${upper}_POLL_INTERVAL_MS`]: '50',
    [`${upper}_CONCURRENCY`]: String(concurrency),
  };
}

/** Run `work` against a simulator of its own (each benchmark starts from a fresh one), stopped afterwards. */
export async function withSimulator<T>(work: (simulator: ProviderSimulator) => Promise<T>): Promise<T> {
  const simulator = new ProviderSimulator({ latencyMs: 0 });
  await simulator.start();
  try {
    return await work(simulator);
  } finally {
    await simulator.stop();
  }
}

/** What one run of our worker measured. */
export interface WorkerRun {
  /** Jobs per second (see {@link completionRate}). */
  rate: number;
  peakRssBytes: number;
  /** Bytes of the first output image. */
  imageBytes: number;
}

/**
 * Enqueue `jobs` generate rows of `resolution` for `provider`, run our worker on them at `concurrency` against
 * `simulator`, and measure it; the run's keys are deleted afterwards.
 * @throws Error when not every job completed.
 */
export async function measureOurWorker(
  redis: Redis,
  simulator: ProviderSimulator,
  run: {
    provider: ProviderName;
    jobs: number;
    resolution: string;
    concurrency: number;
    prompt?: string;
    /** Further environment of the worker (e.g. OTEL_EXPORTER_OTLP_ENDPOINT: tracing on). */
    environment?: Record<string, string>;
    /** Called with the run's prefix once the jobs are enqueued, before the worker starts. */
    beforeWorker?: (prefix: string) => Promise<void>;
  },
): Promise<WorkerRun> {
  const prefix = await enqueueJobs(redis, run.jobs, run.resolution, {
    provider: run.provider,
    ...(run.prompt === undefined ? {} : { prompt: run.prompt }),
  });
  try {
    await run.beforeWorker?.(prefix);
    const worker = await runOurWorker(
      redis,
      prefix,
      { ...providerEnvironment(simulator, run.provider, run.concurrency), ...run.environment },
      ['--provider', run.provider, '--concurrency', String(run.concurrency), '--requests-per-minute', '0'],
    );
    const { rate, count } = await completionRate(redis, prefix, run.provider);
    if (count !== run.jobs) throw new Error(`${count} of ${run.jobs} jobs completed`);
    const results = await readFile(path.join(scratch, prefix, 'bench', 'results.jsonl'), 'utf8');
    const first = JSON.parse(results.slice(0, results.indexOf('\n'))) as {
      outputs: Array<{ bytes: number }>;
    };
    return { rate, peakRssBytes: worker.peakRssBytes, imageBytes: first.outputs[0]!.bytes };
  } finally {
    await deletePrefix(redis, prefix);
  }
}

/** Finish times (ms since the epoch) of the jobs completed on `provider`'s queue under `prefix`, ascending. */
async function completionTimes(redis: Redis, prefix: string, provider: string): Promise<number[]> {
  const scored = await redis.zrange(`${prefix}:{provider-${provider}}:completed`, '0', '-1', 'WITHSCORES');
  return scored.filter((_, index) => index % 2 === 1).map(Number);
}

/**
 * Two runs of our worker at once, side by side on the same machine, simulator and Redis, each on its own `jobs` jobs
 * under its own prefix, with its own environment (e.g. tracing on and off): what the machine does at that moment
 * (another tenant, CPU frequency) falls on both alike. Each rate counts only the jobs a worker completed while both
 * were completing jobs (from the later first completion to the earlier last), so neither is measured running alone.
 * @returns one figure per environment, in their order. @throws when a run did not complete every job.
 */
export async function measureSideBySide(
  redis: Redis,
  simulator: ProviderSimulator,
  run: { jobs: number; concurrency: number; environments: ReadonlyArray<Record<string, string>> },
): Promise<Array<{ rate: number; cpuMsPerJob: number }>> {
  const prefixes: string[] = [];
  try {
    for (const _environment of run.environments)
      prefixes.push(await enqueueJobs(redis, run.jobs, SMALL_SIZE, { provider: 'openai' }));
    const workers = await Promise.all(
      run.environments.map((environment, index) =>
        runOurWorker(
          redis,
          prefixes[index]!,
          { ...providerEnvironment(simulator, 'openai', run.concurrency), ...environment },
          ['--provider', 'openai', '--concurrency', String(run.concurrency), '--requests-per-minute', '0'],
        ),
      ),
    );
    const times = await Promise.all(prefixes.map((prefix) => completionTimes(redis, prefix, 'openai')));
    times.forEach((list, index) => {
      if (list.length !== run.jobs)
        throw new Error(`side by side ${index}: ${list.length} of ${run.jobs} completed`);
    });
    const from = Math.max(...times.map((list) => list[0]!));
    const to = Math.min(...times.map((list) => list.at(-1)!));
    return times.map((list, index) => ({
      rate: (list.filter((time) => time >= from && time <= to).length * 1000) / Math.max(1, to - from),
      cpuMsPerJob: workers[index]!.cpuMsPerJob,
    }));
  } finally {
    for (const prefix of prefixes) await deletePrefix(redis, prefix);
  }
}

/**
 * The hand-wired peer worker (bench/peer-worker.mjs) on `jobs` OpenAI generate rows at `concurrency` against
 * `simulator`: jobs/s by {@link completionRate}.
 */
export async function measurePeerWorker(
  redis: Redis,
  simulator: ProviderSimulator,
  jobs: number,
  concurrency: number,
): Promise<number> {
  const prefix = await enqueueJobs(redis, jobs, SMALL_SIZE);
  try {
    await runNode(
      [
        path.join(root, 'bench/peer-worker.mjs'),
        redisUrl,
        prefix,
        String(concurrency),
        String(jobs),
        simulatorBaseUrls(simulator.url).openai.baseUrl,
        path.join(scratch, `peer-${prefix}`),
      ],
      {},
    );
    const { rate, count } = await completionRate(redis, prefix);
    if (count !== jobs) throw new Error(`peer: ${count} of ${jobs} jobs completed`);
    return rate;
  } finally {
    await deletePrefix(redis, prefix);
  }
}

/** Ours as a share of the peer, run by run. */
export function versusPeer(ours: number[], peer: number[]): { peer: string; versusPeer: string } {
  return {
    peer: formatFigure(figure(peer), perSecond),
    versusPeer: formatFigure(figure(ours.map((value, index) => value / peer[index]!)), percent),
  };
}
