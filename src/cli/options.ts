/**
 * The flags the verbs share, as commander options with their parsers (counts, USD, percentages, provider lists) and
 * help texts; ./program.ts registers them on each verb.
 */
import { InvalidArgumentError, Option } from '@commander-js/extra-typings';
import { PROVIDER_NAMES, type ProviderName } from '../shared/config.js';
import { isHostName, type HostName } from '../shared/hosts.js';
import { ROUTE_POLICIES } from '../shared/job-definitions.js';
import { defaultOutputRoot } from '../storage/output-store.js';
import { MAX_WEIGHT, parsePriority } from '../batch/priority.js';
import { parseFinishBy } from '../batch/finish-by.js';

export function positiveInteger(value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1)
    throw new InvalidArgumentError('must be a whole number, 1 or more');
  return number;
}

export function nonNegativeInteger(value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 0)
    throw new InvalidArgumentError('must be a whole number, 0 or more');
  return number;
}

/** An amount in USD, 0 or more. */
export function usd(value: string): number {
  const number = Number(value);
  if (!Number.isFinite(number) || number < 0 || value.trim() === '')
    throw new InvalidArgumentError('must be an amount in USD, 0 or more');
  return number;
}

export const pricingOption = () =>
  new Option('--pricing <file>', 'pricing override file (JSON or YAML); default IMAGE_BATCH_PRICING_FILE');
export const budgetOption = () =>
  new Option(
    '--budget-usd <usd>',
    'budget cap of the batch in USD: no paid call crosses it, however many workers run',
  ).argParser(usd);
export const confirmOverOption = () =>
  new Option(
    '--confirm-over <usd>',
    'estimate first; when the estimate is over this, ask (and refuse without a terminal)',
  ).argParser(usd);
export const deliveryOption = () =>
  new Option(
    '--delivery <mode>',
    "how rows that name none reach OpenAI: realtime, or batch (OpenAI's Batch API: half the price, results within 24 h)",
  ).choices(['realtime', 'batch'] as const);
export const fallbackOption = () =>
  new Option(
    '--fallback <mode>',
    'Batch API rows of an expired or cancelled OpenAI batch: wait (go into the next request file) or realtime',
  )
    .choices(['wait', 'realtime'] as const)
    .default('wait' as const);
export const canaryOption = () =>
  new Option(
    '--canary <n>',
    'run n rows first (stratified across provider × size × quality × mode), hold the rest until `approve`',
  ).argParser(positiveInteger);
export const windowOption = () =>
  new Option(
    '--window <rows>',
    'the most rows whose jobs are in Redis at once; the rest wait in the manifest and are added as rows finish ' +
      "(default: 15 minutes of work at the providers' rate limits, 10,000 to 100,000; 0: every row at once)",
  ).argParser(nonNegativeInteger);
/** `parse` as a commander argument parser: the UsageError it throws becomes commander's InvalidArgumentError. */
function argumentParser<T>(parse: (value: string) => T): (value: string) => T {
  return (value) => {
    try {
      return parse(value);
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message);
    }
  };
}

/** A priority level (src/batch/priority.ts) as commander takes it. */
export const priorityLevel = argumentParser(parsePriority);
export const priorityOption = () =>
  new Option(
    '--priority <level>',
    'urgent, normal (default) or background, or 1 (first) to 9 (last): rows of higher priority are sent first on every host; waiting rows climb a level every IMAGE_BATCH_AGEING_SECONDS (600)',
  ).argParser(priorityLevel);
export const finishByOption = () =>
  new Option(
    '--finish-by <time>',
    'when the batch must be done: a duration (90m, 2h, 3d) or an ISO time; says now whether the rate limits allow it, ' +
      'and marks it late while it runs; 24 h or more away, OpenAI rows use the Batch API (half price) unless --delivery is given',
  ).argParser(
    argumentParser((value) => {
      parseFinishBy(value); // checked now; parsed again at enqueue (a duration counts from then)
      return value;
    }),
  );
export const weightOption = () =>
  new Option(
    '--weight <n>',
    "the batch's share of each host among running batches of its priority, 1 to 100 (default 1: equal shares)",
  ).argParser((value) => {
    const weight = positiveInteger(value);
    if (weight > MAX_WEIGHT) throw new InvalidArgumentError(`must be at most ${MAX_WEIGHT}`);
    return weight;
  });
/** A host: a provider name, or `provider@N` for its N-th account (src/shared/hosts.ts). */
export function hostArgument(value: string): HostName {
  if (isHostName(value)) return value;
  throw new InvalidArgumentError(
    `must be one of ${PROVIDER_NAMES.join(', ')}, or one of them with @2 … @20 for a further account`,
  );
}

export function percent(value: string): number {
  const number = Number(value);
  if (!Number.isFinite(number) || number < 0 || value.trim() === '')
    throw new InvalidArgumentError('must be a percentage, 0 or more');
  return number;
}
export const providerOption = () =>
  new Option(
    '--provider <name>',
    "send every row to this provider (default: the row's provider field, else oxen)",
  ).choices(PROVIDER_NAMES);
/** `auto`, or a comma-separated list of provider names. */
export function providerList(value: string): ProviderName[] | 'auto' {
  const text = value.trim().toLowerCase();
  if (text === 'auto') return 'auto';
  const names = text
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  const unknown = names.find((name) => !(PROVIDER_NAMES as readonly string[]).includes(name));
  if (unknown !== undefined || names.length === 0)
    throw new InvalidArgumentError(
      `must be auto or names among ${PROVIDER_NAMES.join(', ')}${unknown === undefined ? '' : ` (not ${unknown})`}`,
    );
  return [...new Set(names)] as ProviderName[];
}
export const providersOption = () =>
  new Option(
    '--providers <list>',
    'candidate hosts of rows that name none: a,b,c or auto (every host work can be done on); each row then goes to one of them, chosen when a worker can send it',
  ).argParser(providerList);
export const routeOption = () =>
  new Option('--route <policy>', 'how rows with several candidate hosts pick one: cheapest or fastest')
    .choices(ROUTE_POLICIES)
    .default('cheapest' as const);
export const maxPremiumOption = () =>
  new Option(
    '--max-premium <percent>',
    'the most a host may cost over the cheapest candidate of a row, percent: bounds --route fastest and spills of cheapest (default: no bound)',
  ).argParser(percent);
export const maxRejectedOption = () =>
  new Option('--max-rejected <n>', 'rejected rows tolerated before the exit code is 1')
    .argParser(nonNegativeInteger)
    .default(0);
export const rateOption = () =>
  new Option(
    '--requests-per-minute <n>',
    "requests per minute per provider across all workers (default: each provider's setting; 0: no limit)",
  ).argParser(nonNegativeInteger);
export const outOption = (environment: Record<string, string | undefined>, what: string) =>
  new Option('--out <dir|s3-url>', `output directory or s3://bucket/prefix ${what}`).default(
    defaultOutputRoot(environment),
  );

export const reuseOption = () =>
  new Option(
    '--reuse',
    'rows whose request (prompt, inputs by content, size, quality, format, model…) was completed before under the same ' +
      '--out copy those images instead of paying again (results line: reused_from, cost 0); a row can ask with reuse: true',
  );
export const sidecarOption = () =>
  new Option(
    '--sidecar',
    'write <image>.json beside each image: prompt, model, host, request id, time, cost and its C2PA provenance',
  );
