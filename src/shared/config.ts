/**
 * The kernel of the configuration, parsed from the environment with zod: the types are inferred from the schemas, so a
 * setting is declared, defaulted, checked and documented in one place. Each provider's own settings live in its folder
 * (src/providers/<name>/settings.ts) and join these in `loadConfig` (src/providers/configuration.ts). No module reads
 * `process.env` but the CLI, which loads the configuration once and passes the frozen result down.
 */
import { existsSync } from 'node:fs';
import { isRedisUrl } from './redis.js';
import { isWebhookSecret } from './standard-webhooks.js';
import { z } from 'zod';

/**
 * Names of the providers image-batch can call. The kernel's vocabulary (keys, metrics, job data and the simulator use
 * it); the compiler checks that the registry (src/providers/registry.ts) has exactly one definition per name.
 */
export const PROVIDER_NAMES = ['oxen', 'fal', 'openai', 'replicate', 'wavespeed'] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];

/** zod schemas of the kinds of setting (used by the kernel's and by each provider's settings). */
export const settingSchemas = {
  /** A positive whole number from a variable, with its default. */
  positiveInteger: (fallback: number) => z.coerce.number().int().positive().default(fallback),
  /** A whole number ≥ 0 from a variable, with its default. */
  nonNegativeInteger: (fallback: number) => z.coerce.number().int().nonnegative().default(fallback),
  /** A URL without trailing slashes, with its default. */
  baseUrl: (fallback: string) =>
    z
      .string()
      .url()
      .default(fallback)
      .transform((url) => url.replace(/\/+$/, '')),
  /** A secret: trimmed, and undefined when blank. */
  optionalSecret: z
    .string()
    .optional()
    .transform((value) => (value === undefined || value.trim() === '' ? undefined : value.trim())),
};
const { positiveInteger, optionalSecret } = settingSchemas;

/** Redis address used when REDIS_URL is not set. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** Where the Redis URL came from (see `redisSource` below). */
export type RedisSource = 'environment' | 'default' | 'embedded';

function redisSourceOf(value: string | undefined): RedisSource {
  return value === undefined ? 'default' : value === 'embedded' ? 'embedded' : 'environment';
}

const kernelSchema = z
  .object({
    REDIS_URL: z
      .union([
        z.literal('embedded'),
        z
          .string()
          .refine(
            isRedisUrl,
            'must be redis://, rediss://, redis+sentinel://host:port,…/master or redis+cluster://host:port,…',
          ),
      ])
      .optional(),
    IMAGE_BATCH_QUEUE_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_{}.-]+$/, 'letters, digits, _ . - { } only')
      .default('image-batch'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    IMAGE_BATCH_ATTEMPTS: positiveInteger(3),
    IMAGE_BATCH_BACKOFF_MS: positiveInteger(2000),
    IMAGE_BATCH_KEEP_COMPLETED_JOBS: z.coerce.number().int().nonnegative().default(0),
    IMAGE_BATCH_BACKOFF_MAX_MS: positiveInteger(60_000),
    IMAGE_BATCH_DRAIN_TIMEOUT_MS: positiveInteger(30_000),
    IMAGE_BATCH_BREAKER_THRESHOLD: positiveInteger(5),
    IMAGE_BATCH_BREAKER_OPEN_MS: positiveInteger(30_000),
    IMAGE_BATCH_MAX_OUTPUT_BYTES: positiveInteger(100 * 1024 * 1024),
    IMAGE_BATCH_BUDGET_RECHECK_MS: positiveInteger(5000),
    IMAGE_BATCH_MIN_FREE_BYTES: z.coerce.number().int().nonnegative().optional(),
    IMAGE_BATCH_REPLICA_WAIT_MS: positiveInteger(1000),
    IMAGE_BATCH_PRICING_FILE: z.string().optional(),
    DASHBOARD_USER: optionalSecret,
    DASHBOARD_PASSWORD: optionalSecret,
    IMAGE_BATCH_ALLOWED_PRIVATE_HOSTS: z.string().default(''),
    IMAGE_BATCH_LOCK_DURATION_MS: positiveInteger(60_000),
    IMAGE_BATCH_STALLED_INTERVAL_MS: positiveInteger(30_000),
    IMAGE_BATCH_MAX_STALLED_COUNT: positiveInteger(3),
    IMAGE_BATCH_WEBHOOK_RECONCILE_MS: positiveInteger(60_000),
    IMAGE_BATCH_DASHBOARD_HOSTS: z.string().default(''),
    IMAGE_BATCH_API_TOKENS: optionalSecret,
    IMAGE_BATCH_API_MAX_MANIFEST_BYTES: positiveInteger(4 * 1024 ** 3),
    IMAGE_BATCH_OUTPUT_ROOT: z.string().optional(),
    IMAGE_BATCH_START_DEADLINE_MS: positiveInteger(120_000),
    IMAGE_BATCH_NOTIFY_URL: optionalSecret.refine(
      (value) => value === undefined || /^https?:\/\/[^\s]+$/i.test(value),
      'must be an http:// or https:// URL',
    ),
    IMAGE_BATCH_NOTIFY_SECRET: optionalSecret.refine(
      (value) => value === undefined || isWebhookSecret(value),
      'must be whsec_ and the base64 of 24 to 64 random bytes (echo "whsec_$(openssl rand -base64 32)")',
    ),
    IMAGE_BATCH_STALL_MINUTES: positiveInteger(15),
    IMAGE_BATCH_AGEING_SECONDS: positiveInteger(600),
    IMAGE_BATCH_C2PA_TRUST_ANCHORS: z
      .string()
      .optional()
      .refine((file) => file === undefined || existsSync(file), 'no such file (a PEM file of trust anchors)'),
    IMAGE_BATCH_NOTIFY_CHECK_MS: positiveInteger(10_000),
    IMAGE_BATCH_NOTIFY_ATTEMPTS: positiveInteger(6),
  })
  .transform((env) => ({
    /** Redis connection URL. Default `redis://127.0.0.1:6379`. */
    redisUrl: env.REDIS_URL === undefined || env.REDIS_URL === 'embedded' ? DEFAULT_REDIS_URL : env.REDIS_URL,
    /**
     * Where the Redis URL came from: `environment` (REDIS_URL), `default` (unset: `run` starts a private Redis when
     * nothing answers there), or `embedded` (REDIS_URL=embedded: `run` always starts a private one).
     */
    redisSource: redisSourceOf(env.REDIS_URL),
    /** Prefix of every Redis key image-batch writes (BullMQ queues and our batch records). Default `image-batch`. */
    queuePrefix: env.IMAGE_BATCH_QUEUE_PREFIX,
    /** pino level. Default `info`. */
    logLevel: env.LOG_LEVEL,
    /** Attempts per job (first try included). Default 3. */
    attempts: env.IMAGE_BATCH_ATTEMPTS,
    /** Base delay of the exponential backoff between attempts, in ms. Default 2000. */
    backoffDelayMs: env.IMAGE_BATCH_BACKOFF_MS,
    /**
     * Completed jobs each queue keeps (the newest), for browsing them on the dashboard or measuring a run. Default 0: a
     * row's jobs are removed once its outcome is recorded; the batch's records and results file keep the rest.
     */
    keepCompletedJobs: env.IMAGE_BATCH_KEEP_COMPLETED_JOBS,
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
    /**
     * Free bytes a local output root must have before a row is paid for (src/storage/free-space.ts); undefined: the
     * row's worst case (4 bytes a pixel of each image, plus 1 MiB); 0: not checked.
     */
    minFreeBytes: env.IMAGE_BATCH_MIN_FREE_BYTES,
    /**
     * Longest wait for a Redis replica to hold a row's "sent" mark before its paid call, ms (src/worker/durability.ts;
     * only while the primary has replicas). Unconfirmed: the call is not sent and the row tries again.
     */
    replicaWaitMs: env.IMAGE_BATCH_REPLICA_WAIT_MS,
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
    /** A job waiting longer than this climbs a priority level (src/batch/priority-change.ts), ms. Default 10 minutes. */
    ageingAfterMs: env.IMAGE_BATCH_AGEING_SECONDS * 1000,
    /** A PEM file of C2PA trust anchors: outputs signed under one are `trusted` (src/storage/provenance.ts). */
    c2paTrustAnchorsPath: env.IMAGE_BATCH_C2PA_TRUST_ANCHORS,
    /**
     * Wait between two status polls of a request whose end a webhook will announce, ms: the slow reconciliation poll
     * for deliveries that never arrive. Default 60 000 (under fal's 6-minute result lifetime).
     */
    webhookReconcileMs: env.IMAGE_BATCH_WEBHOOK_RECONCILE_MS,
    /**
     * Host names the dashboard answers to besides the loopback names and the address it listens on (the `Host` header
     * of every request is checked: a DNS-rebinding page cannot reach it under its own name).
     */
    dashboardHosts: env.IMAGE_BATCH_DASHBOARD_HOSTS.split(',')
      .map((host) => host.trim().toLowerCase())
      .filter((host) => host !== ''),
    /**
     * Bearer tokens of machine clients of the HTTP API (`IMAGE_BATCH_API_TOKENS`, comma-separated; each at least 16
     * characters): compared in constant time, never logged (src/dashboard/api-auth.ts).
     */
    apiTokens: (env.IMAGE_BATCH_API_TOKENS ?? '')
      .split(',')
      .map((token) => token.trim())
      .filter((token) => token !== ''),
    /** The largest manifest `POST /api/batches` accepts, bytes (streamed to disk). Default 4 GiB. */
    apiMaxManifestBytes: env.IMAGE_BATCH_API_MAX_MANIFEST_BYTES,
    /**
     * Output root of batches started without a shell (the HTTP API, the "New batch" page): a directory or
     * `s3://bucket/prefix`; default IMAGE_BATCH_S3_BUCKET/PREFIX when set, else `output`.
     */
    outputRoot: env.IMAGE_BATCH_OUTPUT_ROOT,
    /**
     * Start deadline of a routed row with another candidate host left, ms: a host that has not started the request by
     * then (fal, Replicate: hosts with a queue) aborts it unbilled, or the worker cancels it while still queued, and the
     * row goes to another host (src/worker/start-deadline.ts). Default 120 000.
     */
    startDeadlineMs: env.IMAGE_BATCH_START_DEADLINE_MS,
    /**
     * Where batch events go (docs/notifications.md): the default of `--notify` on run, enqueue and schedule, and the
     * signing secret (Standard Webhooks) every process that sends them needs. Both secrets: never logged, and the URL
     * enters Redis only sealed with the secret.
     */
    notify: {
      url: env.IMAGE_BATCH_NOTIFY_URL,
      secret: env.IMAGE_BATCH_NOTIFY_SECRET,
      /** No row finished for this long while rows wait: `batch.stalled`, ms. Default 15 minutes. */
      stallMs: env.IMAGE_BATCH_STALL_MINUTES * 60_000,
      /** How often workers look at the batches that send events, ms. Default 10 000. */
      checkEveryMs: env.IMAGE_BATCH_NOTIFY_CHECK_MS,
      /** Tries per event (backoff 1 s doubling, at most 30 s between). Default 6. */
      attempts: env.IMAGE_BATCH_NOTIFY_ATTEMPTS,
    },
  }));

/** The kernel settings (frozen); each provider's settings join them in `Config` (src/providers/configuration.ts). */
export type KernelConfig = Readonly<z.output<typeof kernelSchema>>;

/** The kernel settings read from `environment`, or the problems found (variable names, never values). */
export function parseKernelConfig(environment: Record<string, string | undefined>): {
  config: KernelConfig | undefined;
  problems: string[];
} {
  const kernel = kernelSchema.safeParse(environment);
  if (kernel.success) return { config: kernel.data, problems: [] };
  return {
    config: undefined,
    problems: kernel.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`),
  };
}

/** `value` frozen all the way down. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
