/**
 * The `image-batch` command line (commander). Exit codes: 0 success; 1 some rows failed or were rejected; 2 usage or
 * configuration error (bad flag, bad environment, Redis unreachable). An interrupted `run` exits 1. The verbs are
 * registered in ./program.ts, one function per verb group.
 */
import { Command, CommanderError } from '@commander-js/extra-typings';
import { loadConfig } from '../providers/configuration.js';
import { ConfigurationError, UsageError } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
import type { CommandContext } from './context.js';
import { startTracing, type StopTracing } from './tracing-setup.js';
import type { CliOutput } from './progress.js';
import {
  addBatchVerbs,
  addCanaryVerbs,
  addProcessVerbs,
  addReportVerbs,
  addScheduleVerbs,
} from './program.js';

/** Options of {@link main} besides the arguments. */
export interface MainOptions {
  environment?: Record<string, string | undefined>;
  output?: CliOutput;
  /** Resolves to stop long-running verbs; default: the first SIGINT or SIGTERM. */
  stopRequested?: Promise<void>;
  /** Where confirmations are read from; default stdin. */
  input?: NodeJS.ReadableStream & { isTTY?: boolean };
}

/** Run the CLI with `argv` (as `process.argv`). @returns the exit code. */
export async function main(argv: string[], options: MainOptions = {}): Promise<number> {
  const environment = options.environment ?? process.env;
  const output: CliOutput = options.output ?? { stdout: process.stdout, stderr: process.stderr };
  let exitCode = 0;
  const stopRequested =
    options.stopRequested ??
    new Promise<void>((resolve) => {
      const stop = () => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolve();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });

  const context = (verbLogLevel?: 'warn'): CommandContext => {
    const config = loadConfig(environment);
    const level =
      environment.LOG_LEVEL === undefined && verbLogLevel !== undefined ? verbLogLevel : config.logLevel;
    return {
      config,
      log: createLogger({ level }),
      output,
      input: options.input ?? process.stdin,
      stopRequested,
    };
  };

  const program = new Command()
    .name('image-batch')
    .description(
      'Run batches of GPT Image 2 generate and edit jobs from CSV/JSONL manifests through Redis queues (BullMQ).\n' +
        'Configuration comes from the environment: REDIS_URL, OXEN_API_KEY, OXEN_BASE_URL, ... (see docs/configuration.md).',
    )
    .version('0.1.0')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => output.stdout.write(text),
      writeErr: (text) => output.stderr.write(text),
    })
    .showHelpAfterError('(add --help for usage)');

  const deps = { environment, context, setExitCode: (code: number) => (exitCode = code) };
  addBatchVerbs(program, deps);
  addCanaryVerbs(program, deps);
  addReportVerbs(program, deps);
  addProcessVerbs(program, deps);
  addScheduleVerbs(program, deps);

  // Tracing starts when a command is about to run, not for --help or a usage error: a bad OTEL_* variable hides no help.
  let stopTracing: StopTracing | undefined;
  program.hook('preAction', async () => {
    stopTracing ??= await startTracing(environment);
  });
  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof UsageError || error instanceof ConfigurationError) {
      output.stderr.write(`image-batch: ${error.message}\n`);
      return 2;
    }
    output.stderr.write(
      `image-batch: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    return 1;
  } finally {
    await stopTracing?.();
  }
}
