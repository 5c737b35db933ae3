/**
 * Configuration from the environment, parsed once with zod. No other module reads `process.env`:
 * the CLI calls {@link loadConfig} and passes the frozen result down.
 */
import { z } from 'zod';
import { ConfigurationError } from './errors.js';

/** Names of the providers image-batch can call. */
export const PROVIDER_NAMES = ['oxen'] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];

/** Settings of one provider. */
export interface ProviderSettings {
  /** API key; undefined when not set (then `run` uses the built-in simulator). Never logged or stored in Redis. */
  apiKey: string | undefined;
  /** Base URL of the provider's API, e.g. `https://hub.oxen.ai`. */
  baseUrl: string;
  /** Jobs one worker process runs at once for this provider. */
  concurrency: number;
  /** Requests per minute across all workers (BullMQ limiter on the provider's queue). */
  requestsPerMinute: number;
  /** Deadline of one provider call, in ms (connect, headers and body each). */
  timeoutMs: number;
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
  /** Per-provider settings. */
  providers: Readonly<Record<ProviderName, Readonly<ProviderSettings>>>;
}

const positiveInteger = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const optionalSecret = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === '' ? undefined : value.trim()));

/** Oxen.ai publishes no rate limit for its image endpoints (providers.md §3): our own conservative defaults. */
const environmentSchema = z.object({
  REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
  IMAGE_BATCH_QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_{}.-]+$/, 'letters, digits, _ . - { } only')
    .default('image-batch'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  IMAGE_BATCH_ATTEMPTS: positiveInteger(3),
  IMAGE_BATCH_BACKOFF_MS: positiveInteger(2000),
  OXEN_API_KEY: optionalSecret,
  OXEN_BASE_URL: z.string().url().default('https://hub.oxen.ai'),
  OXEN_CONCURRENCY: positiveInteger(8),
  OXEN_REQUESTS_PER_MINUTE: positiveInteger(300),
  OXEN_TIMEOUT_MS: positiveInteger(180_000),
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
  const env = parsed.data;
  return deepFreeze({
    redisUrl: env.REDIS_URL,
    queuePrefix: env.IMAGE_BATCH_QUEUE_PREFIX,
    logLevel: env.LOG_LEVEL,
    attempts: env.IMAGE_BATCH_ATTEMPTS,
    backoffDelayMs: env.IMAGE_BATCH_BACKOFF_MS,
    providers: {
      oxen: {
        apiKey: env.OXEN_API_KEY,
        baseUrl: env.OXEN_BASE_URL.replace(/\/+$/, ''),
        concurrency: env.OXEN_CONCURRENCY,
        requestsPerMinute: env.OXEN_REQUESTS_PER_MINUTE,
        timeoutMs: env.OXEN_TIMEOUT_MS,
      },
    },
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
