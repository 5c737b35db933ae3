/**
 * Configuration from the environment, parsed once with zod: the types below are inferred from the schemas, so a
 * setting is declared, defaulted, checked and documented in one place. No other module reads `process.env`: the CLI
 * calls {@link loadConfig} and passes the frozen result down.
 */
import { z } from 'zod';
import { ConfigurationError } from './errors.js';

/** Names of the providers image-batch can call. */
export const PROVIDER_NAMES = ['oxen', 'fal', 'openai', 'replicate', 'wavespeed'] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];

const positiveInteger = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const nonNegativeInteger = (fallback: number) => z.coerce.number().int().nonnegative().default(fallback);
const baseUrl = (fallback: string) =>
  z
    .string()
    .url()
    .default(fallback)
    .transform((url) => url.replace(/\/+$/, ''));
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

/** The settings of one provider, from its variables (named by {@link providerVariables}). */
function providerSchema(name: ProviderName) {
  const defaults = PROVIDER_DEFAULTS[name];
  return z.object({
    /** API key; undefined when not set (then `run` uses the built-in simulator). Never logged or stored in Redis. */
    apiKey: optionalSecret,
    /** Base URL of the provider's API, e.g. `https://hub.oxen.ai`. */
    baseUrl: baseUrl(defaults.baseUrl),
    /** Jobs one worker process runs at once for this provider (also the global cap across workers). */
    concurrency: positiveInteger(defaults.concurrency),
    /** Requests per minute across all workers (BullMQ limiter on the provider's queue); 0: no limit of ours. */
    requestsPerMinute: nonNegativeInteger(defaults.requestsPerMinute),
    /** Deadline of one provider call, in ms (connect, headers and body each). */
    timeoutMs: positiveInteger(defaults.timeoutMs ?? 180_000),
    /** Wait between two status polls of an async request, in ms. */
    pollIntervalMs: positiveInteger(2_000),
    /** Longest wait for one async request to finish before the attempt gives up (the request is kept and resumed), ms. */
    maxWaitMs: positiveInteger(30 * 60_000),
    /** fal only: the REST host for storage uploads. */
    restUrl: (name === 'fal' ? baseUrl('https://rest.fal.ai') : z.undefined()).optional(),
    /** fal only: the platform API (`https://api.fal.ai/v1`: model pricing, used by `providers --check`). */
    platformUrl: (name === 'fal' ? baseUrl('https://api.fal.ai/v1') : z.undefined()).optional(),
    /** Oxen.ai only: `queue` (async queue, resumable; default) or `sync` (blocking image endpoints). */
    mode: (name === 'oxen' ? z.enum(['queue', 'sync']).default('queue') : z.undefined()).optional(),
  });
}

/** Settings of one provider. */
export type ProviderSettings = z.output<ReturnType<typeof providerSchema>>;

/** The environment variable of each setting of a provider. */
function providerVariables(name: ProviderName): Partial<Record<keyof ProviderSettings, string>> {
  const upper = name.toUpperCase();
  return {
    apiKey: PROVIDER_DEFAULTS[name].keyVariable,
    baseUrl: baseUrlVariable(name),
    concurrency: `${upper}_CONCURRENCY`,
    requestsPerMinute: `${upper}_REQUESTS_PER_MINUTE`,
    timeoutMs: `${upper}_TIMEOUT_MS`,
    pollIntervalMs: `${upper}_POLL_INTERVAL_MS`,
    maxWaitMs: `${upper}_MAX_WAIT_MS`,
    ...(name === 'fal' ? { restUrl: 'FAL_REST_URL', platformUrl: 'FAL_PLATFORM_URL' } : {}),
    ...(name === 'oxen' ? { mode: 'OXEN_MODE' } : {}),
  };
}

const kernelSchema = z
  .object({
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
    IMAGE_BATCH_ALLOWED_PRIVATE_HOSTS: z.string().default(''),
    IMAGE_BATCH_LOCK_DURATION_MS: positiveInteger(60_000),
    IMAGE_BATCH_STALLED_INTERVAL_MS: positiveInteger(30_000),
    IMAGE_BATCH_MAX_STALLED_COUNT: positiveInteger(3),
  })
  .transform((env) => ({
    /** Redis connection URL. Default `redis://127.0.0.1:6379`. */
    redisUrl: env.REDIS_URL,
    /** Prefix of every Redis key image-batch writes (BullMQ queues and our batch records). Default `image-batch`. */
    queuePrefix: env.IMAGE_BATCH_QUEUE_PREFIX,
    /** pino level. Default `info`. */
    logLevel: env.LOG_LEVEL,
    /** Attempts per job (first try included). Default 3. */
    attempts: env.IMAGE_BATCH_ATTEMPTS,
    /** Base delay of the exponential backoff between attempts, in ms. Default 2000. */
    backoffDelayMs: env.IMAGE_BATCH_BACKOFF_MS,
    /** Longest delay between attempts, ms (cap of the full-jitter backoff). */
    backoffMaxDelayMs: env.IMAGE_BATCH_BACKOFF_MAX_MS,
    /** How long SIGTERM/SIGINT waits for running jobs before handing them back to the queue, ms. */
    drainTimeoutMs: env.IMAGE_BATCH_DRAIN_TIMEOUT_MS,
    /** Circuit breaker: consecutive failed calls to a provider that open it. */
    breakerThreshold: env.IMAGE_BATCH_BREAKER_THRESHOLD,
    /** Circuit breaker: how long the provider's queue pauses when it opens, ms (doubles while probes fail). */
    breakerOpenMs: env.IMAGE_BATCH_BREAKER_OPEN_MS,
    /** Largest output image file accepted, bytes. */
    maxOutputBytes: env.IMAGE_BATCH_MAX_OUTPUT_BYTES,
    /** How often a row held back by its batch's budget cap checks the cap again, ms. */
    budgetRecheckMs: env.IMAGE_BATCH_BUDGET_RECHECK_MS,
    /** Pricing override file (JSON or YAML), when set. */
    pricingFile: env.IMAGE_BATCH_PRICING_FILE,
    /** Dashboard basic-auth credentials, when both are set. Never logged. */
    dashboardAuth:
      env.DASHBOARD_USER !== undefined && env.DASHBOARD_PASSWORD !== undefined
        ? { user: env.DASHBOARD_USER, password: env.DASHBOARD_PASSWORD }
        : undefined,
    /** Hosts (name or IP) that fetches of user-supplied URLs may reach although private or loopback. */
    allowedPrivateHosts: env.IMAGE_BATCH_ALLOWED_PRIVATE_HOSTS.split(',')
      .map((host) => host.trim().toLowerCase())
      .filter((host) => host !== ''),
    /** BullMQ job lock, in ms: a killed worker's jobs are taken over after it runs out. Renewed while a job runs. */
    lockDurationMs: env.IMAGE_BATCH_LOCK_DURATION_MS,
    /** How often workers look for stalled jobs (those of killed workers), in ms. */
    stalledIntervalMs: env.IMAGE_BATCH_STALLED_INTERVAL_MS,
    /** Times a job may stall (its worker killed) before it fails. Safe above 1: a resumed job never pays twice. */
    maxStalledCount: env.IMAGE_BATCH_MAX_STALLED_COUNT,
  }));

/** The whole configuration (frozen): the kernel settings and each provider's. */
export type Config = Readonly<z.output<typeof kernelSchema>> & {
  readonly providers: Readonly<Record<ProviderName, Readonly<ProviderSettings>>>;
};

/**
 * Parse the environment into a frozen {@link Config}.
 * @throws ConfigurationError listing every invalid variable (never its value, which may be a secret).
 */
export function loadConfig(environment: Record<string, string | undefined>): Config {
  const problems: string[] = [];
  const kernel = kernelSchema.safeParse(environment);
  if (!kernel.success)
    problems.push(...kernel.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`));
  const providers = {} as Record<ProviderName, ProviderSettings>;
  for (const name of PROVIDER_NAMES) {
    const variables = providerVariables(name);
    const values = Object.fromEntries(
      Object.entries(variables).map(([field, variable]) => [field, environment[variable]]),
    );
    const parsed = providerSchema(name).safeParse(values);
    if (parsed.success) providers[name] = parsed.data;
    else {
      for (const issue of parsed.error.issues)
        problems.push(`  ${variables[issue.path[0] as keyof ProviderSettings] ?? name}: ${issue.message}`);
    }
  }
  if (!kernel.success || problems.length > 0)
    throw new ConfigurationError(`invalid environment:\n${[...new Set(problems)].join('\n')}`);
  return deepFreeze({ ...kernel.data, providers });
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
