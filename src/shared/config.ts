/**
 * Configuration from the environment, parsed once with zod. No other module reads `process.env`:
 * the CLI calls {@link loadConfig} and passes the frozen result down.
 */
import { z } from 'zod';
import { ConfigurationError } from './errors.js';

/** Names of the providers image-batch can call. */
export const PROVIDER_NAMES = ['oxen', 'fal', 'openai', 'replicate', 'wavespeed'] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];

/** Settings of one provider. */
export interface ProviderSettings {
  /** API key; undefined when not set (then `run` uses the built-in simulator). Never logged or stored in Redis. */
  apiKey: string | undefined;
  /** Base URL of the provider's API, e.g. `https://hub.oxen.ai`. */
  baseUrl: string;
  /** Jobs one worker process runs at once for this provider. */
  concurrency: number;
  /** Requests per minute across all workers (BullMQ limiter on the provider's queue); 0: no limit of ours. */
  requestsPerMinute: number;
  /** Deadline of one provider call, in ms (connect, headers and body each). */
  timeoutMs: number;
  /** Wait between two status polls of an async request, in ms. */
  pollIntervalMs: number;
  /** Longest wait for one async request to finish before the attempt gives up (the request is kept and resumed), ms. */
  maxWaitMs: number;
  /** A second base URL where the provider has one (fal: the REST host for storage uploads). */
  restUrl?: string;
  /** fal only: the platform API (`https://api.fal.ai/v1`: model pricing, used by `providers --check`). */
  platformUrl?: string;
  /** Oxen.ai only: `queue` (async queue, resumable; default) or `sync` (blocking image endpoints). */
  mode?: 'queue' | 'sync';
}

/** The whole configuration. */
export interface Config {
  /** Redis connection URL. Default `redis://127.0.0.1:6379`. */
  redisUrl: string;
  /** Prefix of every Redis key image-batch writes (BullMQ queues and our batch records). Default `image-batch`. */
  queuePrefix: string;
  /** pino level. Default `info`. */
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Attempts per job (first try included). Default 3. */
  attempts: number;
  /** Base delay of the exponential backoff between attempts, in ms. Default 2000. */
  backoffDelayMs: number;
  /** Longest delay between attempts, ms (cap of the full-jitter backoff). */
  backoffMaxDelayMs: number;
  /** How long SIGTERM/SIGINT waits for running jobs before handing them back to the queue, ms. */
  drainTimeoutMs: number;
  /** Circuit breaker: consecutive failed calls to a provider that open it. */
  breakerThreshold: number;
  /** Circuit breaker: how long the provider's queue pauses when it opens, ms (doubles while probes fail). */
  breakerOpenMs: number;
  /** Largest output image file accepted, bytes. */
  maxOutputBytes: number;
  /** How often a row held back by its batch's budget cap checks the cap again, ms. */
  budgetRecheckMs: number;
  /** Pricing override file (JSON or YAML), when set. */
  pricingFile: string | undefined;
  /** Dashboard basic-auth credentials, when both are set. Never logged. */
  dashboardAuth: { user: string; password: string } | undefined;
  /** Hosts (name or IP) that fetches of user-supplied URLs may reach although private or loopback. */
  allowedPrivateHosts: readonly string[];
  /** BullMQ job lock, in ms: a killed worker's jobs are taken over after it runs out. Renewed while a job runs. */
  lockDurationMs: number;
  /** How often workers look for stalled jobs (those of killed workers), in ms. */
  stalledIntervalMs: number;
  /** Times a job may stall (its worker killed) before it fails. Safe above 1: a resumed job never pays twice. */
  maxStalledCount: number;
  /** Per-provider settings. */
  providers: Readonly<Record<ProviderName, Readonly<ProviderSettings>>>;
}

const positiveInteger = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const optionalSecret = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === '' ? undefined : value.trim()));

/**
 * Per-provider defaults. Rate limits follow each provider's entry tier (shared/reference/providers.md):
 * OpenAI tier 1 makes 5 images/min; fal starts at 2 concurrent requests; Replicate allows 600 prediction creations
 * per minute; WaveSpeed Bronze 2 images/min and 2 concurrent; Oxen.ai publishes none (our conservative default).
 */
const PROVIDER_DEFAULTS: Record<
  ProviderName,
  {
    keyVariable: string;
    baseUrl: string;
    restUrl?: string;
    concurrency: number;
    requestsPerMinute: number;
    /** Deadline of one call, ms (default 180 s). */
    timeoutMs?: number;
  }
> = {
  oxen: {
    keyVariable: 'OXEN_API_KEY',
    baseUrl: 'https://hub.oxen.ai',
    concurrency: 8,
    requestsPerMinute: 300,
  },
  fal: {
    keyVariable: 'FAL_KEY',
    baseUrl: 'https://queue.fal.run',
    restUrl: 'https://rest.fal.ai',
    concurrency: 2,
    requestsPerMinute: 600,
  },
  openai: {
    keyVariable: 'OPENAI_API_KEY',
    baseUrl: 'https://api.openai.com/v1',
    concurrency: 5,
    requestsPerMinute: 5,
    // openai-node's default timeout is 10 minutes (src/client.ts): high-quality 3840x2160 images take minutes, and a
    // synchronous call cut short is paid for and never re-sent.
    timeoutMs: 600_000,
  },
  replicate: {
    keyVariable: 'REPLICATE_API_TOKEN',
    baseUrl: 'https://api.replicate.com/v1',
    concurrency: 8,
    requestsPerMinute: 600,
  },
  wavespeed: {
    keyVariable: 'WAVESPEED_API_KEY',
    baseUrl: 'https://api.wavespeed.ai',
    concurrency: 2,
    requestsPerMinute: 2,
  },
};

/** The environment variable holding a provider's API key (`FAL_KEY`, `REPLICATE_API_TOKEN`, `<NAME>_API_KEY`). */
export function apiKeyVariable(provider: ProviderName): string {
  return PROVIDER_DEFAULTS[provider].keyVariable;
}

/** The environment variable of a provider's base URL (`FAL_QUEUE_URL` for fal, else `<NAME>_BASE_URL`). */
export function baseUrlVariable(provider: ProviderName): string {
  return provider === 'fal' ? 'FAL_QUEUE_URL' : `${provider.toUpperCase()}_BASE_URL`;
}

const providerShape = Object.fromEntries(
  PROVIDER_NAMES.flatMap((name) => {
    const defaults = PROVIDER_DEFAULTS[name];
    const upper = name.toUpperCase();
    return [
      [defaults.keyVariable, optionalSecret],
      [baseUrlVariable(name), z.string().url().default(defaults.baseUrl)],
      [`${upper}_CONCURRENCY`, positiveInteger(defaults.concurrency)],
      [
        `${upper}_REQUESTS_PER_MINUTE`,
        z.coerce.number().int().nonnegative().default(defaults.requestsPerMinute),
      ],
      [`${upper}_TIMEOUT_MS`, positiveInteger(defaults.timeoutMs ?? 180_000)],
      [`${upper}_POLL_INTERVAL_MS`, positiveInteger(2_000)],
      [`${upper}_MAX_WAIT_MS`, positiveInteger(30 * 60_000)],
    ];
  }),
) as Record<string, z.ZodType>;

const environmentSchema = z.object({
  REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
  IMAGE_BATCH_QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_{}.-]+$/, 'letters, digits, _ . - { } only')
    .default('image-batch'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  IMAGE_BATCH_ATTEMPTS: positiveInteger(3),
  IMAGE_BATCH_BACKOFF_MS: positiveInteger(2000),
  IMAGE_BATCH_BACKOFF_MAX_MS: positiveInteger(60_000),
  IMAGE_BATCH_DRAIN_TIMEOUT_MS: positiveInteger(30_000),
  IMAGE_BATCH_BREAKER_THRESHOLD: positiveInteger(5),
  IMAGE_BATCH_BREAKER_OPEN_MS: positiveInteger(30_000),
  IMAGE_BATCH_MAX_OUTPUT_BYTES: positiveInteger(100 * 1024 * 1024),
  IMAGE_BATCH_BUDGET_RECHECK_MS: positiveInteger(5000),
  IMAGE_BATCH_PRICING_FILE: z.string().optional(),
  DASHBOARD_USER: optionalSecret,
  DASHBOARD_PASSWORD: optionalSecret,
  IMAGE_BATCH_ALLOWED_PRIVATE_HOSTS: z
    .string()
    .default('')
    .transform((text) =>
      text
        .split(',')
        .map((host) => host.trim().toLowerCase())
        .filter((host) => host !== ''),
    ),
  IMAGE_BATCH_LOCK_DURATION_MS: positiveInteger(60_000),
  IMAGE_BATCH_STALLED_INTERVAL_MS: positiveInteger(30_000),
  IMAGE_BATCH_MAX_STALLED_COUNT: positiveInteger(3),
  FAL_REST_URL: z.string().url().default('https://rest.fal.ai'),
  FAL_PLATFORM_URL: z.string().url().default('https://api.fal.ai/v1'),
  OXEN_MODE: z.enum(['queue', 'sync']).default('queue'),
  ...providerShape,
});

/**
 * Parse the environment into a frozen {@link Config}.
 * @throws ConfigurationError listing every invalid variable (never its value, which may be a secret).
 */
export function loadConfig(environment: Record<string, string | undefined>): Config {
  const parsed = environmentSchema.safeParse(environment);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigurationError(`invalid environment:\n${problems.join('\n')}`);
  }
  const env = parsed.data as Record<string, unknown>;
  const providers = {} as Record<ProviderName, ProviderSettings>;
  for (const name of PROVIDER_NAMES) {
    const upper = name.toUpperCase();
    const settings: ProviderSettings = {
      apiKey: env[PROVIDER_DEFAULTS[name].keyVariable] as string | undefined,
      baseUrl: (env[baseUrlVariable(name)] as string).replace(/\/+$/, ''),
      concurrency: env[`${upper}_CONCURRENCY`] as number,
      requestsPerMinute: env[`${upper}_REQUESTS_PER_MINUTE`] as number,
      timeoutMs: env[`${upper}_TIMEOUT_MS`] as number,
      pollIntervalMs: env[`${upper}_POLL_INTERVAL_MS`] as number,
      maxWaitMs: env[`${upper}_MAX_WAIT_MS`] as number,
    };
    if (name === 'fal') {
      settings.restUrl = (env.FAL_REST_URL as string).replace(/\/+$/, '');
      settings.platformUrl = (env.FAL_PLATFORM_URL as string).replace(/\/+$/, '');
    }
    if (name === 'oxen') settings.mode = env.OXEN_MODE as 'queue' | 'sync';
    providers[name] = settings;
  }
  return deepFreeze({
    redisUrl: env.REDIS_URL as string,
    queuePrefix: env.IMAGE_BATCH_QUEUE_PREFIX as string,
    logLevel: env.LOG_LEVEL as Config['logLevel'],
    attempts: env.IMAGE_BATCH_ATTEMPTS as number,
    backoffDelayMs: env.IMAGE_BATCH_BACKOFF_MS as number,
    backoffMaxDelayMs: env.IMAGE_BATCH_BACKOFF_MAX_MS as number,
    drainTimeoutMs: env.IMAGE_BATCH_DRAIN_TIMEOUT_MS as number,
    breakerThreshold: env.IMAGE_BATCH_BREAKER_THRESHOLD as number,
    breakerOpenMs: env.IMAGE_BATCH_BREAKER_OPEN_MS as number,
    allowedPrivateHosts: env.IMAGE_BATCH_ALLOWED_PRIVATE_HOSTS as string[],
    maxOutputBytes: env.IMAGE_BATCH_MAX_OUTPUT_BYTES as number,
    budgetRecheckMs: env.IMAGE_BATCH_BUDGET_RECHECK_MS as number,
    pricingFile: env.IMAGE_BATCH_PRICING_FILE as string | undefined,
    dashboardAuth:
      env.DASHBOARD_USER !== undefined && env.DASHBOARD_PASSWORD !== undefined
        ? { user: env.DASHBOARD_USER as string, password: env.DASHBOARD_PASSWORD as string }
        : undefined,
    lockDurationMs: env.IMAGE_BATCH_LOCK_DURATION_MS as number,
    stalledIntervalMs: env.IMAGE_BATCH_STALLED_INTERVAL_MS as number,
    maxStalledCount: env.IMAGE_BATCH_MAX_STALLED_COUNT as number,
    providers,
  });
}

/** A copy of `config` with one provider's settings replaced (used to point a provider at the simulator). */
export function withProviderSettings(
  config: Config,
  provider: ProviderName,
  settings: Partial<ProviderSettings>,
): Config {
  return deepFreeze({
    ...config,
    providers: { ...config.providers, [provider]: { ...config.providers[provider], ...settings } },
  });
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
