/**
 * The `image-batch` command line (commander). Exit codes: 0 success; 1 some rows failed or were rejected; 2 usage or
 * configuration error (bad flag, bad environment, Redis unreachable). An interrupted `run` exits 1.
 */
import { Argument, Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { loadConfig, PROVIDER_NAMES, type ProviderName } from '../shared/config.js';
import { ConfigurationError, UsageError } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
import { budgetCommand, enqueueCommand, estimateCommand, runCommand } from './batch-commands.js';
import type { CommandContext } from './context.js';
import { dashboardCommand, resumeCommand, simulatorCommand, workerCommand } from './process-commands.js';
import { reportCommand, statusCommand } from './report-commands.js';
import {
  scheduleAddCommand,
  scheduleListCommand,
  scheduleRemoveCommand,
  schedulerCommand,
} from './schedule-commands.js';
import { providersCommand } from './providers-command.js';
import type { CliOutput } from './progress.js';
import { defaultOutputRoot } from '../storage/output-store.js';

function positiveInteger(value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1)
    throw new InvalidArgumentError('must be a whole number, 1 or more');
  return number;
}

function usd(value: string): number {
  const number = Number(value);
  if (!Number.isFinite(number) || number < 0 || value.trim() === '')
    throw new InvalidArgumentError('must be an amount in USD, 0 or more');
  return number;
}

/** The money options of `run` and `enqueue`. */
const pricingOption = () =>
  new Option('--pricing <file>', 'pricing override file (JSON or YAML; default: IMAGE_BATCH_PRICING_FILE)');
const budgetOption = () =>
  new Option(
    '--budget-usd <usd>',
    'budget cap of the batch in USD: no paid call crosses it, however many workers run',
  ).argParser(usd);
const confirmOverOption = () =>
  new Option(
    '--confirm-over <usd>',
    'estimate first; when the estimate is over this, ask (and refuse without a terminal)',
  ).argParser(usd);

function nonNegativeInteger(value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 0)
    throw new InvalidArgumentError('must be a whole number, 0 or more');
  return number;
}

const providerOption = () =>
  new Option(
    '--provider <name>',
    "send every row to this provider (default: the row's provider field, else oxen)",
  ).choices(PROVIDER_NAMES);

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
        'Configuration comes from the environment: REDIS_URL, OXEN_API_KEY, OXEN_BASE_URL, ... (see README).',
    )
    .version('0.1.0')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => output.stdout.write(text),
      writeErr: (text) => output.stderr.write(text),
    })
    .showHelpAfterError('(add --help for usage)');

  program
    .command('run')
    .description(
      'enqueue the manifests as one batch, process it in this process until every row is finished, and summarise',
    )
    .argument('<manifest...>', 'CSV or JSONL manifest files')
    .option(
      '--out <dir|s3-url>',
      'output directory or s3://bucket/prefix; the batch goes to <out>/<batch>/',
      defaultOutputRoot(environment),
    )
    .option('--batch <id>', 'batch id (default: from the manifest names and content hash)')
    .addOption(providerOption())
    .option(
      '--concurrency <n>',
      "jobs at once per provider in this process (default: the provider's setting)",
      positiveInteger,
    )
    .option(
      '--requests-per-minute <n>',
      "requests per minute per provider across all workers (default: each provider's setting; 0: no limit)",
      nonNegativeInteger,
    )
    .option('--max-rejected <n>', 'rejected rows tolerated before the exit code is 1', nonNegativeInteger, 0)
    .addOption(pricingOption())
    .addOption(budgetOption())
    .addOption(confirmOverOption())
    .action(
      async (
        manifests: string[],
        flags: {
          out: string;
          batch?: string;
          provider?: ProviderName;
          concurrency?: number;
          requestsPerMinute?: number;
          maxRejected: number;
          pricing?: string;
          budgetUsd?: number;
          confirmOver?: number;
        },
      ) => {
        exitCode = await runCommand(context('warn'), { manifests, ...flags });
      },
    );

  program
    .command('enqueue')
    .description(
      'producer only: validate the manifests and enqueue their rows as one batch (safe to repeat, e.g. from cron)',
    )
    .argument('<manifest...>', 'CSV or JSONL manifest files')
    .option(
      '--out <dir|s3-url>',
      'output directory or s3://bucket/prefix of the batch (used by the workers)',
      defaultOutputRoot(environment),
    )
    .option('--batch <id>', 'batch id (default: from the manifest names and content hash)')
    .addOption(providerOption())
    .option('--dry-run', 'validate and print what would be enqueued, touching nothing', false)
    .option('--max-rejected <n>', 'rejected rows tolerated before the exit code is 1', nonNegativeInteger, 0)
    .addOption(pricingOption())
    .addOption(budgetOption())
    .addOption(confirmOverOption())
    .action(
      async (
        manifests: string[],
        flags: { out: string; batch?: string; provider?: ProviderName; dryRun: boolean; maxRejected: number },
      ) => {
        exitCode = await enqueueCommand(context('warn'), { manifests, ...flags });
      },
    );

  program
    .command('worker')
    .description('worker only: process jobs until SIGINT/SIGTERM, then finish the jobs in progress and stop')
    .addOption(
      new Option(
        '--provider <name...>',
        'providers whose queues to work on (default: every provider with an API key)',
      )
        .choices(PROVIDER_NAMES)
        .default([]),
    )
    .option(
      '--concurrency <n>',
      "jobs at once per provider (default: the provider's setting)",
      positiveInteger,
    )
    .option(
      '--requests-per-minute <n>',
      "requests per minute per provider across all workers (default: each provider's setting; 0: no limit)",
      nonNegativeInteger,
    )
    .option('--metrics-port <n>', 'serve Prometheus metrics at http://<host>:<n>/metrics', nonNegativeInteger)
    .action(
      async (flags: {
        provider: ProviderName[];
        concurrency?: number;
        requestsPerMinute?: number;
        metricsPort?: number;
      }) => {
        exitCode = await workerCommand(context(), {
          providers: flags.provider,
          ...(flags.concurrency === undefined ? {} : { concurrency: flags.concurrency }),
          ...(flags.requestsPerMinute === undefined ? {} : { requestsPerMinute: flags.requestsPerMinute }),
          ...(flags.metricsPort === undefined ? {} : { metricsPort: flags.metricsPort }),
        });
      },
    );

  program
    .command('status')
    .description('counts per state and cost so far of a batch')
    .argument('<batch>', 'batch id')
    .option('--json', 'print JSON', false)
    .action(async (batch: string, flags: { json: boolean }) => {
      exitCode = await statusCommand(context('warn'), { batch, json: flags.json });
    });

  program
    .command('estimate')
    .description(
      'price manifests before spending: totals by provider and resolution tier, and the rows it could not price (no Redis needed)',
    )
    .argument('<manifest...>', 'CSV or JSONL manifest files')
    .addOption(providerOption())
    .addOption(pricingOption())
    .action(async (manifests: string[], flags: { provider?: ProviderName; pricing?: string }) => {
      exitCode = await estimateCommand(context('warn'), { manifests, ...flags });
    });

  program
    .command('budget')
    .description(
      "set a batch's budget cap in USD (or `none`); rows held back by the cap resume under a higher one",
    )
    .argument('<batch>', 'batch id')
    .argument('<usd>', 'cap in USD, or none')
    .action(async (batch: string, amount: string) => {
      exitCode = await budgetCommand(context('warn'), {
        batch,
        usd: amount === 'none' ? undefined : usd(amount),
      });
    });

  program
    .command('report')
    .description(
      "a batch's figures: rows, failures by reason, images and USD (estimated and actual) by tier and provider, spend vs cap",
    )
    .argument('<batch>', 'batch id')
    .addOption(
      new Option('--format <format>', 'output format').choices(['table', 'json', 'csv']).default('table'),
    )
    .option('--objects', 'also list every stored file of the batch (images, results, summary) with its size')
    .action(async (batch: string, flags: { format: 'table' | 'json' | 'csv'; objects?: boolean }) => {
      exitCode = await reportCommand(context('warn'), {
        batch,
        format: flags.format,
        objects: flags.objects === true,
      });
    });

  program
    .command('resume')
    .description("resume a provider's queue paused for its account (credit out, authentication failed)")
    .addArgument(new Argument('<provider>', 'provider name').choices(PROVIDER_NAMES))
    .action(async (provider: ProviderName) => {
      exitCode = await resumeCommand(context('warn'), { provider });
    });

  program
    .command('providers')
    .description(
      'list each provider: its environment variables, whether a key is set, and what its models accept',
    )
    .option(
      '--check',
      'for each provider with a key, make one call that costs nothing (model list or schema, prices, balance) to show the key works and what the host serves now',
      false,
    )
    .option('--json', 'print JSON', false)
    .action(async (flags: { json: boolean; check: boolean }) => {
      exitCode = await providersCommand(context(), flags);
    });

  const schedule = program
    .command('schedule')
    .description('cron schedules that enqueue manifests (or an inbox folder) as batches');
  schedule
    .command('add')
    .description('add or replace a schedule: each tick enqueues <source> as one batch named <name>-<time>')
    .argument('<name>', 'schedule name')
    .argument(
      '<source>',
      'a manifest file, or a folder whose new manifests are ingested once (then moved to done/)',
    )
    .requiredOption('--cron <expr>', 'cron expression (5 fields, or 6 with seconds first)')
    .option('--tz <zone>', 'time zone of the expression, e.g. Europe/Paris')
    .option(
      '--out <dir|s3-url>',
      'output directory or s3://bucket/prefix of the batches',
      defaultOutputRoot(environment),
    )
    .addOption(providerOption())
    .addOption(budgetOption())
    .action(
      async (
        name: string,
        source: string,
        flags: { cron: string; tz?: string; out: string; provider?: ProviderName; budgetUsd?: number },
      ) => {
        exitCode = await scheduleAddCommand(context('warn'), { name, source, ...flags });
      },
    );
  schedule
    .command('list')
    .description('every schedule with its next run time')
    .option('--json', 'print JSON', false)
    .action(async (flags: { json: boolean }) => {
      exitCode = await scheduleListCommand(context('warn'), flags);
    });
  schedule
    .command('remove')
    .description('remove a schedule')
    .argument('<name>', 'schedule name')
    .action(async (name: string) => {
      exitCode = await scheduleRemoveCommand(context('warn'), { name });
    });

  program
    .command('scheduler')
    .description(
      'turn schedule ticks into batches until SIGINT/SIGTERM (run one or several; workers process them)',
    )
    .action(async () => {
      exitCode = await schedulerCommand(context());
    });

  program
    .command('dashboard')
    .description(
      'the queue dashboard: bull-board for the queues and image-batch batch pages (auth: DASHBOARD_USER/DASHBOARD_PASSWORD)',
    )
    .option('--port <n>', 'port', nonNegativeInteger, 3000)
    .option('--host <address>', 'address to listen on (beyond loopback only with basic auth)', '127.0.0.1')
    .option('--read-only', 'hide and refuse every write action', false)
    .action(async (flags: { port: number; host: string; readOnly: boolean }) => {
      exitCode = await dashboardCommand(context(), flags);
    });

  program
    .command('simulator')
    .description(
      "run the provider simulator (every provider's API on one origin) as a standalone server for trying image-batch without keys",
    )
    .option('--port <n>', 'port', nonNegativeInteger, 8790)
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--latency-ms <n>', 'delay before each answer, ms', nonNegativeInteger, 0)
    .action(async (flags: { port: number; host: string; latencyMs: number }) => {
      exitCode = await simulatorCommand(context(), flags);
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
  }
}
