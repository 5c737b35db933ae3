/**
 * What every provider's settings have in common, and how a provider declares its own (src/providers/<name>/settings.ts):
 * a zod schema over its settings (defaults included) and the environment variable of each. The types are inferred.
 */
import { z } from 'zod';
import { settingSchemas } from '../shared/config.js';

const { positiveInteger, nonNegativeInteger, baseUrl, optionalSecret } = settingSchemas;

/** A provider's defaults: where its API is and its entry tier's limits. */
export interface ProviderDefaults {
  baseUrl: string;
  /** Jobs one worker runs at once for this provider. */
  concurrency: number;
  /** Requests per minute across all workers; 0: no limit of ours. */
  requestsPerMinute: number;
  /** Deadline of one call, ms (default 180 000). */
  timeoutMs?: number;
  /**
   * Status polls per minute across all workers (free calls that still count against the provider's limits); 0: no
   * limit of ours. Each provider's default names its source.
   */
  pollsPerMinute: number;
}

/** The zod shape of the settings every provider has, with `defaults`. */
export function commonSettingsShape(defaults: ProviderDefaults) {
  return {
    /** API key; undefined when not set (then `run` uses the built-in simulator). Never logged or stored in Redis. */
    apiKey: optionalSecret,
    /** Base URL of the provider's API, e.g. `https://hub.oxen.ai`. */
    baseUrl: baseUrl(defaults.baseUrl),
    /** Jobs one worker process runs at once for this provider (also the global cap across workers). */
    concurrency: positiveInteger(defaults.concurrency),
    /** Requests per minute across all workers (BullMQ limiter on the provider's queue); 0: no limit of ours. */
    requestsPerMinute: nonNegativeInteger(defaults.requestsPerMinute),
    /** Images per minute across all workers (a row of n images counts n; worker/host-capacity.ts); 0: none of ours. */
    imagesPerMinute: nonNegativeInteger(0),
    /** Tokens per minute across all workers, as OpenAI counts them (worker/host-capacity.ts); 0: none of ours. */
    tokensPerMinute: nonNegativeInteger(0),
    /**
     * The part of a batch's budget cap this account may spend, percent (0–100; default 100: no share of its own). A
     * routed row goes to another candidate once the account's spend in the batch would pass it (worker/router.ts).
     */
    budgetSharePercent: z.coerce.number().min(0).max(100).default(100),
    /** Deadline of one provider call, in ms (connect, headers and body each). */
    timeoutMs: positiveInteger(defaults.timeoutMs ?? 180_000),
    /** Wait between two status polls of an async request, in ms. */
    pollIntervalMs: positiveInteger(2_000),
    /** Status polls per minute across all workers (worker/poll-budget.ts); 0: no limit of ours. */
    pollsPerMinute: nonNegativeInteger(defaults.pollsPerMinute),
    /** Longest wait for one async request to finish before the attempt gives up (the request is kept and resumed), ms. */
    maxWaitMs: positiveInteger(30 * 60_000),
  };
}

/** The settings every provider has (parsed). */
export type ProviderSettings = z.output<z.ZodObject<ReturnType<typeof commonSettingsShape>>>;

/** The environment variables of the common settings: `<PREFIX>_CONCURRENCY` and so on, with the key and URL given. */
export function commonVariables(prefix: string, keyVariable: string, baseUrlVariable: string) {
  return {
    apiKey: keyVariable,
    baseUrl: baseUrlVariable,
    concurrency: `${prefix}_CONCURRENCY`,
    requestsPerMinute: `${prefix}_REQUESTS_PER_MINUTE`,
    imagesPerMinute: `${prefix}_IMAGES_PER_MINUTE`,
    tokensPerMinute: `${prefix}_TOKENS_PER_MINUTE`,
    budgetSharePercent: `${prefix}_BUDGET_SHARE`,
    timeoutMs: `${prefix}_TIMEOUT_MS`,
    pollIntervalMs: `${prefix}_POLL_INTERVAL_MS`,
    pollsPerMinute: `${prefix}_POLLS_PER_MINUTE`,
    maxWaitMs: `${prefix}_MAX_WAIT_MS`,
  };
}

/** How a provider declares its settings. */
export interface ProviderSettingsDefinition<Schema extends z.ZodType<ProviderSettings>> {
  /** The variable holding the API key (`FAL_KEY`, `REPLICATE_API_TOKEN`, …). */
  keyVariable: string;
  /** The variable of the base URL (`FAL_QUEUE_URL`, `<NAME>_BASE_URL`). */
  baseUrlVariable: string;
  schema: Schema;
  /** The environment variable of each setting. */
  variables: Record<string, string>;
}
