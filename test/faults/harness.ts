/**
 * The fault-injection harness: runs a batch through real worker processes against real Redis and the simulator,
 * applies a fault, and measures what a user would check in the morning — every row accounted for once, nothing paid
 * twice, no request sent while a Retry-After was running.
 */
import type { ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { BatchStore } from '../../src/batch/batch-store.js';
import type { ResultLine } from '../../src/shared/job-definitions.js';
import { ProviderSimulator, type FaultRule } from '../../src/simulator/server.js';
import { afterAll, beforeAll, expect } from 'vitest';
import { removeTemporaryDirectories } from '../helpers/files.js';
import { runCliInProcess, spawnCli } from '../helpers/cli.js';
import { temporaryDirectory } from '../helpers/files.js';
import { jsonLine, manifestFolder, writeManifest } from '../helpers/manifests.js';
import { deleteKeysWithPrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { simulatorEnvironment } from '../helpers/simulator-environment.js';
import { openRedis, type RedisConnection } from '../../src/shared/redis.js';

/** One line of the suite's table. */
export interface ScenarioRow {
  scenario: string;
  rows: number;
  completed: number;
  failed: number;
  /** Rows with no results line. */
  lost: number;
  /** Rows accepted (2xx) by the provider more than once. */
  duplicatePaid: number;
  /** Submissions that arrived while a Retry-After the simulator sent was running. */
  earlyRequests: number;
}

/** What a scenario's action can do while the batch runs. */
export interface Harness {
  environment: Record<string, string>;
  /** The output root; the batch's folder is `<out>/faults`. */
  out: string;
  workers: ChildProcess[];
  startWorker(extraEnvironment?: Record<string, string>): ChildProcess;
  /** Wait until the simulator has received `count` submissions of this scenario. */
  waitForSubmissions(count: number, timeoutMs?: number): Promise<void>;
  prompts: string[];
}

export interface ScenarioOptions {
  name: string;
  /** Manifest rows; each needs a unique `prompt`. */
  rows: Array<Record<string, unknown>>;
  simulator: ProviderSimulator;
  redisUrl: string;
  environment?: Record<string, string>;
  faults?: FaultRule[];
  /** Started workers (default 1). */
  workers?: number;
  /** Extra arguments of the `enqueue` call (e.g. `--budget-usd 1`). */
  enqueueArguments?: string[];
  /** Runs while the batch runs (kill a worker, restart Redis, …). */
  action?: (harness: Harness) => Promise<void>;
  timeoutMs?: number;
  /** Runs after the batch, before its Redis keys are deleted: look at what was stored and logged. */
  inspect?: (view: {
    redis: RedisConnection;
    prefix: string;
    out: string;
    workerOutput: string;
  }) => Promise<void>;
}

export interface ScenarioResult {
  row: ScenarioRow;
  lines: ResultLine[];
  rejects: number;
}

async function readLines<T>(filePath: string): Promise<T[]> {
  const text = await readFile(filePath, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as T);
}

/** `count` manifest rows `r<n>` with unique prompts `<name> #<n>` at 1024x768, plus `extra` fields. */
export function scenarioRows(
  name: string,
  count: number,
  extra: Record<string, unknown> = {},
): Array<Record<string, unknown>> {
  return Array.from({ length: count }, (_, index) => ({
    id: `r${index}`,
    prompt: `${name} #${index}`,
    resolution: '1024x768',
    ...extra,
  }));
}

/** Run one scenario to its end and measure it. */
export async function runScenario(options: ScenarioOptions): Promise<ScenarioResult> {
  const prefix = uniquePrefix();
  const folder = await manifestFolder();
  const out = await temporaryDirectory();
  const manifest = await writeManifest(
    folder,
    `${options.name.replace(/\W+/g, '-')}.jsonl`,
    options.rows.map((row) => jsonLine(row)),
  );
  const environment: Record<string, string> = {
    REDIS_URL: options.redisUrl,
    IMAGE_BATCH_QUEUE_PREFIX: prefix,
    ...simulatorEnvironment(options.simulator.url, 'sk-fault-suite'),
    IMAGE_BATCH_BACKOFF_MS: '100',
    IMAGE_BATCH_BACKOFF_MAX_MS: '1000',
    IMAGE_BATCH_LOCK_DURATION_MS: '2000',
    IMAGE_BATCH_STALLED_INTERVAL_MS: '500',
    LOG_LEVEL: 'warn',
    ...options.environment,
  };
  const prompts = options.rows.map((row) => String(row.prompt));
  const earlyBefore = sum(options.simulator.earlySubmissionsByProvider.values());
  const enqueued = await runCliInProcess(
    [
      'enqueue',
      manifest,
      '--out',
      out,
      '--batch',
      'faults',
      '--max-rejected',
      '1000',
      ...(options.enqueueArguments ?? []),
    ],
    environment,
  );
  if (enqueued.exitCode !== 0) throw new Error(`enqueue failed: ${enqueued.stderr}${enqueued.stdout}`);
  options.simulator.injectFaults(options.faults ?? []);

  const workers: ChildProcess[] = [];
  const outputs: Array<() => string> = [];
  const harness: Harness = {
    environment,
    out,
    workers,
    prompts,
    startWorker(extra = {}) {
      const worker = spawnCli(['worker'], { ...environment, ...extra });
      workers.push(worker);
      outputs.push(() => {
        const output = worker.output();
        return output.stdout + output.stderr;
      });
      return worker;
    },
    async waitForSubmissions(count, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (submissionsOf(options.simulator, prompts) < count) {
        if (Date.now() > deadline)
          throw new Error(
            `only ${submissionsOf(options.simulator, prompts)} of ${count} submissions arrived`,
          );
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
  };
  for (let index = 0; index < (options.workers ?? 1); index += 1) harness.startWorker();
  const redis = openRedis(options.redisUrl, { maxRetriesPerRequest: null });
  redis.on('error', () => undefined);
  const store = new BatchStore(redis, prefix);
  try {
    // An action that fails (a restarted Redis that never answers, …) says so at once, not only when awaited.
    const action = options.action?.(harness).catch((error: unknown) => {
      process.stderr.write(`scenario "${options.name}": its action failed: ${String(error)}\n`);
      throw error;
    });
    action?.catch(() => undefined);
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    for (;;) {
      // Bounded: while the scenario's Redis is down a command waits for it, and the deadline must still fire.
      const status = await withTimeout(store.status('faults'), 3_000).catch(() => undefined);
      if (status !== undefined && status.pending === 0) break;
      if (Date.now() > deadline) {
        // What a slow or stuck scenario leaves to go on: the rows still pending and the end of the workers' logs.
        const said = outputs.map((read) => read().slice(-2_000)).join('\n---\n');
        process.stderr.write(
          `scenario "${options.name}": deadline passed with ${status?.pending ?? 'unknown'} rows pending; workers said:\n${said}\n`,
        );
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await action;
  } finally {
    await Promise.all(
      workers.map(
        (worker) =>
          new Promise<void>((resolve) => {
            if (worker.exitCode !== null || worker.signalCode !== null) return resolve();
            // A worker that does not drain within 20 s is killed, so a stuck one fails its test instead of hanging it.
            const stuck = setTimeout(() => {
              process.stderr.write(`scenario "${options.name}": a worker did not stop on SIGTERM; killed\n`);
              worker.kill('SIGKILL');
            }, 20_000);
            worker.once('exit', () => {
              clearTimeout(stuck);
              resolve();
            });
            worker.kill('SIGTERM');
          }),
      ),
    );
    if (options.inspect !== undefined) {
      await options.inspect({ redis, prefix, out, workerOutput: outputs.map((read) => read()).join('\n') });
    }
    redis.disconnect();
    await deleteKeysWithPrefix(prefix).catch(() => undefined);
  }

  const lines = await readLines<ResultLine>(path.join(out, 'faults', 'results.jsonl'));
  const rejects = (await readLines(path.join(out, 'faults', 'rejects.jsonl'))).length;
  const valid = options.rows.length - rejects;
  const accepted = new Map<string, number>();
  for (const request of options.simulator.recordedRequests) {
    if (prompts.includes(request.prompt) && request.status >= 200 && request.status < 300) {
      accepted.set(request.prompt, (accepted.get(request.prompt) ?? 0) + 1);
    }
  }
  const row: ScenarioRow = {
    scenario: options.name,
    rows: options.rows.length,
    completed: lines.filter((line) => line.status === 'completed').length,
    failed: lines.filter((line) => line.status === 'failed').length + rejects,
    lost: valid - new Set(lines.map((line) => line.row_key)).size,
    // A request the host accepted and never started (cancelled while queued, aborted at its start deadline) was
    // not billed.
    duplicatePaid: [...accepted].reduce(
      (total, [prompt, count]) =>
        total + Math.max(0, count - (options.simulator.unbilledByPrompt.get(prompt) ?? 0) - 1),
      0,
    ),
    earlyRequests: sum(options.simulator.earlySubmissionsByProvider.values()) - earlyBefore,
  };
  return { row, lines, rejects };
}

/** `promise`, or a rejection after `ms` if it has not settled by then. */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function submissionsOf(simulator: ProviderSimulator, prompts: string[]): number {
  return prompts.reduce((total, prompt) => total + (simulator.submissionsByPrompt.get(prompt) ?? 0), 0);
}

function sum(values: Iterable<number>): number {
  let total = 0;
  for (const value of values) total += value;
  return total;
}

/** The suite's table as Markdown. */
export function formatTable(rows: ScenarioRow[]): string {
  const header = [
    'scenario',
    'rows',
    'completed',
    'failed',
    'lost',
    'duplicate paid',
    'requests before Retry-After',
  ];
  const lines = [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`];
  for (const row of rows) {
    lines.push(
      `| ${[row.scenario, row.rows, row.completed, row.failed, row.lost, row.duplicatePaid, row.earlyRequests].join(' | ')} |`,
    );
  }
  return lines.join('\n');
}

/**
 * The frame of a fault-suite file: one simulator for the file, the table of its scenarios printed at the end under
 * `title`, and `scenario`, which runs one and asserts what every scenario must show — no row lost, one results line
 * per row.
 */
export function faultSuite(title: string): {
  simulator: () => ProviderSimulator;
  /** Run one scenario (on the usual Redis unless `redisUrl` names another) and assert none lost. */
  scenario: (
    options: Omit<ScenarioOptions, 'simulator' | 'redisUrl'> & { redisUrl?: string },
  ) => Promise<ScenarioResult>;
} {
  const table: ScenarioRow[] = [];
  let simulator: ProviderSimulator | undefined;
  beforeAll(async () => {
    simulator = new ProviderSimulator();
    await simulator.start();
  });
  afterAll(async () => {
    await simulator?.stop();
    await removeTemporaryDirectories();
    process.stdout.write(`\n${title}\n${formatTable(table)}\n`);
  });
  return {
    simulator: () => simulator!,
    scenario: async (options) => {
      const result = await runScenario({ redisUrl: redisUrl(), ...options, simulator: simulator! });
      table.push(result.row);
      expect(result.row.lost).toBe(0);
      expect(result.lines.length).toBe(new Set(result.lines.map((line) => line.row_key)).size);
      return result;
    },
  };
}
