/**
 * Running the CLI in tests: in-process (fast; output captured) or as a child process (real signals, real stderr).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { Writable } from 'node:stream';
import { main } from '../../src/cli/main.js';

/** Output and exit code of one CLI run. */
export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.text += chunk.toString();
    callback();
  }
}

/** Run `image-batch <args>` in this process with `environment` as its whole environment. */
export async function runCliInProcess(
  args: string[],
  environment: Record<string, string | undefined>,
): Promise<CliResult> {
  const stdout = new Capture();
  const stderr = new Capture();
  const exitCode = await main(['node', 'image-batch', ...args], {
    environment,
    output: { stdout, stderr },
    stopRequested: new Promise(() => undefined),
  });
  return { exitCode, stdout: stdout.text, stderr: stderr.text };
}

/**
 * Start `image-batch <args>` in this process without waiting for it: its output so far can be read while it runs
 * (e.g. to act once it printed that it waits).
 */
export function startCliInProcess(
  args: string[],
  environment: Record<string, string | undefined>,
): { output: () => string; done: Promise<CliResult> } {
  const stdout = new Capture();
  const stderr = new Capture();
  const done = main(['node', 'image-batch', ...args], {
    environment,
    output: { stdout, stderr },
    stopRequested: new Promise(() => undefined),
  }).then((exitCode) => ({ exitCode, stdout: stdout.text, stderr: stderr.text }));
  return { output: () => stdout.text, done };
}

/** Wait until `read()` matches `pattern` (polling every 50 ms, at most `limitMs`). @throws with the text read. */
export async function waitForOutput(read: () => string, pattern: RegExp, limitMs = 60_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!pattern.test(read())) {
    if (Date.now() > deadline) throw new Error(`output never matched ${pattern}:\n${read()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const entry = path.resolve('test/helpers/cli-entry.ts');
const running = new Set<ChildProcess>();

/** Kill every CLI child process still running (a failed assertion must not leave a worker behind). */
export function killSpawnedProcesses(): void {
  for (const child of running)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  running.clear();
}

/** Start `image-batch <args>` as a child process; `environment` is added to a minimal PATH/HOME environment. */
export function spawnCli(
  args: string[],
  environment: Record<string, string>,
): ChildProcess & { output: () => CliResult } {
  const child = spawn(process.execPath, ['--import', 'tsx', entry, ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...environment },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return Object.assign(child, { output: () => ({ exitCode: child.exitCode ?? -1, stdout, stderr }) });
}

/** Run `image-batch <args>` as a child process to its end. */
export async function runCliProcess(args: string[], environment: Record<string, string>): Promise<CliResult> {
  const child = spawnCli(args, environment);
  const exitCode = await new Promise<number>((resolve) =>
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : -1))),
  );
  return { ...child.output(), exitCode };
}
