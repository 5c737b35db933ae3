/**
 * What every benchmark of `npm run bench` shares (bench/run.ts): flags, the scratch directory, child processes with
 * their peak RSS, Redis key prefixes, figures (median and range) and the results table.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';

export const root = path.resolve(import.meta.dirname, '..');
export const quick = process.argv.includes('--quick');
export const onlyIndex = process.argv.indexOf('--only');
export const only = onlyIndex === -1 ? undefined : new Set(process.argv[onlyIndex + 1]!.split(','));
export const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const runId = randomBytes(3).toString('hex');
export const MIB = 1024 * 1024;
/**
 * The size of the dispatch, latency and rate jobs: GPT Image 2's smallest (655,360 pixels at least, openai-openapi
 * `CreateImageRequest.size`), so that the worker path, not the image, is what is measured.
 */
export const SMALL_SIZE = '1024x640';

/** Result of one child process. */
export interface ChildRun {
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit, ms. */
  ms: number;
  /** Peak RSS, bytes. */
  peakRssBytes: number;
}

export let scratch: string;

/** Make the run's scratch directory (removed by {@link removeScratch}). */
export async function makeScratch(): Promise<void> {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'image-batch-bench-'));
}

/** Remove the run's scratch directory. */
export async function removeScratch(): Promise<void> {
  await rm(scratch, { recursive: true, force: true });
}
export let prefixCount = 0;

export function newPrefix(): string {
  prefixCount += 1;
  return `ib-bench-${runId}-${prefixCount}`;
}

/** Run `node [--require peak-rss] <args>` to its end. @throws Error when it exits non-zero. */
export async function runNode(
  args: string[],
  environment: Record<string, string>,
  until?: (child: ReturnType<typeof spawn>) => Promise<void>,
): Promise<ChildRun> {
  const rssFile = path.join(scratch, `rss-${randomBytes(4).toString('hex')}`);
  const started = performance.now();
  const child = spawn(process.execPath, ['--require', path.join(root, 'bench/peak-rss.cjs'), ...args], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: os.tmpdir(), ...environment, BENCH_RSS_FILE: rssFile },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
  if (until !== undefined) await until(child);
  const code = await exited;
  const ms = performance.now() - started;
  if (code !== 0) throw new Error(`node ${args.join(' ')} exited ${code}:\n${stderr.slice(-2000)}`);
  const peakRssBytes = Number(await readFile(rssFile, 'utf8'));
  return { stdout, stderr, ms, peakRssBytes };
}

/** Delete every key under `prefix` (SCAN + UNLINK; the Redis may be shared, so never a flush). */
export async function deletePrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 5000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== '0');
}

/** Median and range of several runs. */
export interface Figure {
  median: number;
  min: number;
  max: number;
  runs: number;
}

export function figure(values: number[]): Figure {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  return { median, min: sorted[0]!, max: sorted.at(-1)!, runs: sorted.length };
}

export function formatFigure(value: Figure, unit: (n: number) => string): string {
  if (value.runs === 1) return `${unit(value.median)} (1 run)`;
  return `${unit(value.median)} [${unit(value.min)}–${unit(value.max)}]`;
}

export const perSecond = (n: number) => `${Math.round(n).toLocaleString('en')}/s`;
export const mebibytes = (n: number) => `${Math.round(n / MIB)} MiB`;
export const percent = (n: number) => `${Math.round(n * 100)} %`;

/** One line of the results table. */
export interface Row {
  benchmark: string;
  measure: string;
  ours: string;
  /** The hand-wired peer's figure (what a user would write instead), and ours as a share of it. */
  peer?: string;
  versusPeer?: string;
  bare: string;
  ratio: string;
  target: string;
  met: boolean | undefined;
  note?: string;
}

export const rows: Row[] = [];
export const notes: string[] = [];

/** `rows` as a Markdown table (header included). */
export function tableOf(tableRows: readonly Row[]): string[] {
  const header = [
    'benchmark',
    'measure',
    'image-batch',
    'hand-wired peer',
    'ours / peer',
    'bare BullMQ / ideal',
    'ours / bare',
    'target',
    'met',
  ];
  const lines = [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`];
  for (const row of tableRows) {
    const met = row.met === undefined ? '' : row.met ? 'yes' : '**no**';
    lines.push(
      `| ${[row.benchmark, row.measure, row.ours, row.peer ?? '', row.versusPeer ?? '', row.bare, row.ratio, row.target, met].join(' | ')} |`,
    );
  }
  return lines;
}

/**
 * A long run's section (the soak, the ten-million-row run), kept in `bench/<file>` so that each new BENCHMARKS.md
 * carries the latest one (bench/run.ts), and written into the current BENCHMARKS.md now: the section starting with
 * `heading` is replaced, or added at the end.
 */
export async function saveSection(file: string, heading: string, report: string): Promise<void> {
  await writeFile(path.join(root, 'bench', file), `${report}\n`);
  const benchmarks = path.join(root, 'BENCHMARKS.md');
  const text = await readFile(benchmarks, 'utf8');
  const start = text.indexOf(`${heading}\n`);
  if (start !== -1) {
    const end = text.indexOf('\n## ', start + 1);
    await writeFile(benchmarks, `${text.slice(0, start)}${report}\n${end === -1 ? '' : text.slice(end + 1)}`);
  } else {
    await writeFile(benchmarks, `${text.trimEnd()}\n\n${report}\n`);
  }
}

export function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

export const cli = path.join(root, 'bin/image-batch.js');
