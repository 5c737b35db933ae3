/**
 * The verbs as commander commands (typed with @commander-js/extra-typings, so each action receives its options with
 * the types the flags parse to): one function per verb group, each handing parsed options to its command in
 * ./batch-commands.ts, ./report-commands.ts, ./process-commands.ts, ./schedule-commands.ts, ./providers-command.ts.
 */
import { Argument, Command, Option } from '@commander-js/extra-typings';
import { PROVIDER_NAMES } from '../shared/config.js';
import { enqueueCommand, estimateCommand, runCommand } from './batch-commands.js';
import {
  positiveInteger,
  nonNegativeInteger,
  usd,
  pricingOption,
  budgetOption,
  finishByOption,
  reuseOption,
  sidecarOption,
  priorityLevel,
  priorityOption,
  weightOption,
  confirmOverOption,
  deliveryOption,
  fallbackOption,
  canaryOption,
  windowOption,
  percent,
  providerOption,
  providersOption,
  routeOption,
  maxPremiumOption,
  maxRejectedOption,
  rateOption,
  outOption,
  hostArgument,
} from './options.js';
import { approveCommand, budgetCommand, priorityCommand } from './canary-commands.js';
import { notifyOption } from './notify.js';
import type { CommandContext } from './context.js';
import {
  dashboardCommand,
  resumeBatchCommand,
  resumeCommand,
  simulatorCommand,
  webhooksCommand,
  workerCommand,
} from './process-commands.js';
import { providersCommand } from './providers-command.js';
import { pricesCommand, reportCommand, statusCommand } from './report-commands.js';
import {
  scheduleAddCommand,
  scheduleListCommand,
  scheduleRemoveCommand,
  schedulerCommand,
} from './schedule-commands.js';

/** What the verb registrations need: the environment (defaults), a context per verb, and where the exit code goes. */
export interface ProgramDependencies {
  environment: Record<string, string | undefined>;
  /** The context of a verb; `warn` lowers the default log level of verbs that print their own summary. */
  context(verbLogLevel?: 'warn'): CommandContext;
  setExitCode(code: number): void;
}

/** `run`, `enqueue`, `estimate`. */
export function addBatchVerbs(program: Command, deps: ProgramDependencies): void {
  program
    .command('run')
    .description(
      'enqueue the manifests as one batch, process it in this process until every row is finished, and summarise',
    )
    .argument('<manifest...>', 'CSV or JSONL manifest files')
    .addOption(outOption(deps.environment, '; the batch goes to <out>/<batch>/'))
    .option('--batch <id>', 'batch id (default: from the manifest names and content hash)')
    .addOption(providerOption())
    .addOption(providersOption())
    .addOption(routeOption())
    .addOption(maxPremiumOption())
    .option(
      '--concurrency <n>',
      "jobs at once per provider in this process (default: the provider's setting)",
      positiveInteger,
    )
    .addOption(rateOption())
    .addOption(maxRejectedOption())
    .addOption(pricingOption())
    .addOption(budgetOption())
    .addOption(confirmOverOption())
    .addOption(canaryOption())
    .addOption(deliveryOption())
    .addOption(fallbackOption())
    .addOption(windowOption())
    .addOption(priorityOption())
    .addOption(weightOption())
    .addOption(finishByOption())
    .addOption(reuseOption())
    .addOption(sidecarOption())
    .addOption(notifyOption())
    .option(
      '--canary-tolerance <percent>',
      "with --yes: how far the canary's measured cost per image may be from the estimate",
      percent,
      15,
    )
    .option(
      '--yes',
      'approve the canary without asking when nothing failed and its cost is within tolerance',
      false,
    )
    .action(async (manifests, flags) => {
      deps.setExitCode(await runCommand(deps.context('warn'), { manifests, ...flags }));
    });
  program
    .command('enqueue')
    .description(
      'producer only: validate the manifests and enqueue their rows as one batch (safe to repeat, e.g. from cron)',
    )
    .argument('<manifest...>', 'CSV or JSONL manifest files')
    .addOption(outOption(deps.environment, 'of the batch (used by the workers)'))
    .option('--batch <id>', 'batch id (default: from the manifest names and content hash)')
    .addOption(providerOption())
    .addOption(providersOption())
    .addOption(routeOption())
    .addOption(maxPremiumOption())
    .option('--dry-run', 'validate and print what would be enqueued, touching nothing', false)
    .addOption(maxRejectedOption())
    .addOption(pricingOption())
    .addOption(budgetOption())
    .addOption(confirmOverOption())
    .addOption(canaryOption())
    .addOption(deliveryOption())
    .addOption(fallbackOption())
    .addOption(windowOption())
    .addOption(priorityOption())
    .addOption(weightOption())
    .addOption(finishByOption())
    .addOption(reuseOption())
    .addOption(sidecarOption())
    .addOption(notifyOption())
    .action(async (manifests, flags) => {
      deps.setExitCode(await enqueueCommand(deps.context('warn'), { manifests, ...flags }));
    });
  addEstimateVerb(program, deps);
}

/** `estimate`. */
function addEstimateVerb(program: Command, deps: ProgramDependencies): void {
  program
    .command('estimate')
    .description(
      'price manifests before spending: totals by provider and resolution tier, and the rows it could not price (no Redis needed)',
    )
    .argument('<manifest...>', 'CSV or JSONL manifest files')
    .addOption(providerOption())
    .addOption(providersOption())
    .addOption(routeOption())
    .addOption(pricingOption())
    .addOption(deliveryOption())
    .action(async (manifests, flags) => {
      deps.setExitCode(await estimateCommand(deps.context('warn'), { manifests, ...flags }));
    });
}

/** `approve`, `budget`, `priority`: decisions about what a batch may spend and when it runs. */
export function addCanaryVerbs(program: Command, deps: ProgramDependencies): void {
  program
    .command('budget')
    .description(
      "set a batch's budget cap in USD (or `none`); rows held back by the cap resume under a higher one",
    )
    .argument('<batch>', 'batch id')
    .argument('<usd>', 'cap in USD, or none')
    .action(async (batch, amount) => {
      const cap = amount === 'none' ? undefined : usd(amount);
      deps.setExitCode(await budgetCommand(deps.context('warn'), { batch, usd: cap }));
    });

  program
    .command('priority')
    .description(
      "change a running batch's priority: urgent, normal, background, or 1 (first) to 9 (last); its waiting rows move at once",
    )
    .argument('<batch>', 'batch id')
    .argument('<level>', 'urgent, normal, background, or 1 to 9', priorityLevel)
    .action(async (batch, level) => {
      deps.setExitCode(await priorityCommand(deps.context('warn'), { batch, level }));
    });

  program
    .command('approve')
    .description("approve a batch's canary (`--canary N`) and release the rows held until then")
    .argument('<batch>', 'batch id')
    .action(async (batch) => {
      deps.setExitCode(await approveCommand(deps.context('warn'), { batch }));
    });
}

/** `status`, `report`, `prices`, `providers`. */
export function addReportVerbs(program: Command, deps: ProgramDependencies): void {
  program
    .command('status')
    .description('counts per state and cost so far of a batch')
    .argument('<batch>', 'batch id')
    .option('--json', 'print JSON', false)
    .action(async (batch, flags) => {
      deps.setExitCode(await statusCommand(deps.context('warn'), { batch, json: flags.json }));
    });
  program
    .command('report')
    .description(
      "a batch's figures: rows, failures by reason, images and USD (estimated and actual) by tier and provider, spend vs cap",
    )
    .argument('<batch>', 'batch id')
    .addOption(
      new Option('--format <format>', 'output format')
        .choices(['table', 'json', 'csv'] as const)
        .default('table'),
    )
    .option(
      '--objects',
      'also list every stored file of the batch (images, results, summary) with its size',
      false,
    )
    .action(async (batch, flags) => {
      deps.setExitCode(await reportCommand(deps.context('warn'), { batch, ...flags }));
    });
  program
    .command('prices')
    .description(
      'the price catalogue: per provider its basis, sources and dates, and USD per image by size and quality',
    )
    .addOption(pricingOption())
    .option('--json', 'print JSON', false)
    .action(async (flags) => {
      deps.setExitCode(await pricesCommand(deps.context('warn'), flags));
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
    .action(async (flags) => {
      deps.setExitCode(await providersCommand(deps.context(), flags));
    });
}

/** `worker`, `webhooks`, `resume`, `dashboard`, `simulator`. */
export function addProcessVerbs(program: Command, deps: ProgramDependencies): void {
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
    .addOption(rateOption())
    .option('--metrics-port <n>', 'serve Prometheus metrics at http://<host>:<n>/metrics', nonNegativeInteger)
    .action(async ({ provider, ...flags }) => {
      const defined = Object.fromEntries(Object.entries(flags).filter(([, value]) => value !== undefined));
      deps.setExitCode(await workerCommand(deps.context(), { providers: [...provider], ...defined }));
    });
  program
    .command('webhooks')
    .description(
      'receive provider webhooks (fal, Replicate, WaveSpeedAI): finished requests are collected at once, polled slowly meanwhile',
    )
    .requiredOption(
      '--public-url <url>',
      'where the providers reach this receiver, e.g. https://hooks.example.com',
    )
    .option('--port <n>', 'port', nonNegativeInteger, 8791)
    .option('--host <address>', 'address to listen on (behind a TLS proxy or tunnel)', '127.0.0.1')
    .action(async (flags) => {
      deps.setExitCode(await webhooksCommand(deps.context(), flags));
    });
  program
    .command('resume')
    .description(
      "resume a host's queue paused for its account (credit out, authentication failed; `openai@2` is OpenAI's " +
        'second account), or with --batch a batch paused by hand or for a full disk (its held rows are then stored)',
    )
    .addArgument(
      new Argument('[provider]', 'provider name, or provider@N for its N-th account').argParser(hostArgument),
    )
    .option('--batch <id>', 'resume this batch instead')
    .action(async (provider, flags) => {
      if (flags.batch !== undefined) {
        deps.setExitCode(await resumeBatchCommand(deps.context('warn'), { batch: flags.batch }));
        return;
      }
      if (provider === undefined) program.error('resume: name a provider, or a batch with --batch <id>');
      deps.setExitCode(await resumeCommand(deps.context('warn'), { provider }));
    });
  program
    .command('dashboard')
    .description(
      'the queue dashboard: bull-board for the queues, the batch pages, the New batch page and the HTTP API (auth: DASHBOARD_USER/DASHBOARD_PASSWORD; API tokens: IMAGE_BATCH_API_TOKENS)',
    )
    .option('--port <n>', 'port', nonNegativeInteger, 3000)
    .option('--host <address>', 'address to listen on (beyond loopback only with basic auth)', '127.0.0.1')
    .option('--read-only', 'hide and refuse every write action', false)
    .action(async (flags) => {
      deps.setExitCode(await dashboardCommand(deps.context(), flags));
    });
  program
    .command('simulator')
    .description(
      "run the provider simulator (every provider's API on one origin) as a standalone server for trying image-batch without keys",
    )
    .option('--port <n>', 'port', nonNegativeInteger, 8790)
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--latency-ms <n>', 'delay before each answer, ms', nonNegativeInteger, 0)
    .action(async (flags) => {
      deps.setExitCode(await simulatorCommand(deps.context(), flags));
    });
}

/** `schedule add|list|remove`, `scheduler`. */
export function addScheduleVerbs(program: Command, deps: ProgramDependencies): void {
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
    .addOption(outOption(deps.environment, 'of the batches'))
    .addOption(providerOption())
    .addOption(budgetOption())
    .addOption(priorityOption())
    .addOption(weightOption())
    .addOption(finishByOption())
    .addOption(reuseOption())
    .addOption(sidecarOption())
    .addOption(notifyOption())
    .action(async (name, source, flags) => {
      deps.setExitCode(await scheduleAddCommand(deps.context('warn'), { name, source, ...flags }));
    });
  schedule
    .command('list')
    .description('every schedule with its next run time')
    .option('--json', 'print JSON', false)
    .action(async (flags) => {
      deps.setExitCode(await scheduleListCommand(deps.context('warn'), flags));
    });
  schedule
    .command('remove')
    .description('remove a schedule')
    .argument('<name>', 'schedule name')
    .action(async (name) => {
      deps.setExitCode(await scheduleRemoveCommand(deps.context('warn'), { name }));
    });
  program
    .command('scheduler')
    .description(
      'turn schedule ticks into batches until SIGINT/SIGTERM (run one or several; workers process them)',
    )
    .action(async () => {
      deps.setExitCode(await schedulerCommand(deps.context()));
    });
}
