/**
 * What a failed attempt means for its job, mapped onto BullMQ (models: bullmq `shouldRetryJob`, rate-limiting
 * guide "manual rate limit"):
 * - permanent provider errors (bad request, auth, credit, not found, content policy) fail the row at once;
 * - a 429 pauses the provider's whole queue for the provider's Retry-After without using up an attempt, up to a cap
 *   of throttles per job;
 * - anything else is retried with backoff until the attempts run out, then the row fails.
 */
import { ProviderError, RateLimitedError } from '../shared/errors.js';

/** Wait after a 429 that gave no Retry-After, in ms. */
export const DEFAULT_RATE_LIMIT_DELAY_MS = 5_000;
/** Longest wait honoured from a Retry-After, in ms. */
export const MAX_RATE_LIMIT_DELAY_MS = 10 * 60_000;
/** Throttled runs a job may have beyond its attempts before it fails as rate limited. */
export const MAX_THROTTLES_PER_JOB = 20;

export type ErrorDecision =
  | { action: 'rate-limit'; delayMs: number }
  | { action: 'retry' }
  | { action: 'fail'; code: string; message: string };

/** How far a job has got, in BullMQ's counters. */
export interface AttemptState {
  /** Failed attempts so far (BullMQ `attemptsMade`). */
  attemptsMade: number;
  /** Times the job was started, throttled runs included (BullMQ `attemptsStarted`). */
  attemptsStarted: number;
  /** Attempts allowed (job option `attempts`). */
  attempts: number;
}

/** Decide what to do with a job whose attempt threw `error`. */
export function decideOnError(error: unknown, state: AttemptState): ErrorDecision {
  const code = error instanceof ProviderError ? error.code : 'internal_error';
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof ProviderError && !error.retryable) return { action: 'fail', code, message };
  if (error instanceof RateLimitedError) {
    if (state.attemptsStarted > state.attempts + MAX_THROTTLES_PER_JOB) {
      return {
        action: 'fail',
        code,
        message: `${message} (throttled ${MAX_THROTTLES_PER_JOB} times; giving up)`,
      };
    }
    const delayMs = Math.min(error.retryAfterMs ?? DEFAULT_RATE_LIMIT_DELAY_MS, MAX_RATE_LIMIT_DELAY_MS);
    return { action: 'rate-limit', delayMs: Math.max(delayMs, 1) };
  }
  if (state.attemptsMade + 1 >= state.attempts) return { action: 'fail', code, message };
  return { action: 'retry' };
}
