/**
 * What a failed attempt means for its job: one pure decision table, mapped onto BullMQ by the settlement step (models:
 * bullmq `shouldRetryJob`, the rate-limiting guide's "manual rate limit").
 *
 * | the attempt ended in…                                   | decision                                            |
 * | ------------------------------------------------------- | --------------------------------------------------- |
 * | a submission sent without an answer (uncertain outcome) | fail `uncertain_outcome` — never sent again         |
 * | authentication failed, or the account is out of credit  | pause the provider's queue for every worker; keep   |
 * |                                                         | the row (resubmit it when its accepted request     |
 * |                                                         | itself failed for want of credit)                   |
 * | an outage-like failure with the circuit breaker open    | pause the provider's queue; no attempt used (the    |
 * | (it opened it, or the host is failing since it opened)  | host is down, not the row at fault)                 |
 * | a permanent error (bad request, not found, refusal, …)  | fail at once with the provider's reason             |
 * | a 429                                                   | pause the queue for its Retry-After, no attempt     |
 * |                                                         | used — until the job was throttled too often        |
 * | anything else                                           | retry with backoff until the attempts run out       |
 */
import {
  AuthenticationError,
  InsufficientCreditError,
  ProviderError,
  RateLimitedError,
} from '../shared/errors.js';

/** Wait after a 429 that gave no Retry-After, in ms. */
export const DEFAULT_RATE_LIMIT_DELAY_MS = 5_000;
/** Longest wait honoured from a Retry-After, in ms. */
export const MAX_RATE_LIMIT_DELAY_MS = 10 * 60_000;
/** Throttled runs a job may have beyond its attempts before it fails as rate limited. */
export const MAX_THROTTLES_PER_JOB = 20;

/** The row's outcome is unknown: a submission may have reached the provider, but its answer was never recorded. */
export class UncertainOutcomeError extends Error {
  override readonly name = 'UncertainOutcomeError';
}

export type ErrorDecision =
  | { action: 'rate-limit'; delayMs: number }
  | { action: 'retry' }
  | { action: 'fail'; code: string; message: string }
  | { action: 'pause-account'; reason: string; resubmit: boolean }
  | { action: 'breaker-open'; pauseMs: number };

/** How far a job has got, in BullMQ's counters. */
export interface AttemptState {
  /** Failed attempts so far (BullMQ `attemptsMade`). */
  attemptsMade: number;
  /** Times the job was started, throttled runs included (BullMQ `attemptsStarted`). */
  attemptsStarted: number;
  /** Attempts allowed (job option `attempts`). */
  attempts: number;
}

/** What else the decision depends on. */
export interface ErrorSituation {
  /** The provider accepted the request (an async request id was saved) before the error. */
  accepted?: boolean;
  /** The pause in ms when the provider's circuit breaker is open after this failure (see {@link countsTowardBreaker}). */
  breakerOpenMs?: number;
}

/** Whether a failure counts toward the provider's circuit breaker: an outage-like failure (5xx, timeout, network). */
export function countsTowardBreaker(error: unknown): boolean {
  return error instanceof ProviderError && error.mayRetry && !(error instanceof RateLimitedError);
}

/** Decide what to do with a job whose attempt threw `error`. */
export function decideOnError(
  error: unknown,
  state: AttemptState,
  situation: ErrorSituation = {},
): ErrorDecision {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof UncertainOutcomeError) return { action: 'fail', code: 'uncertain_outcome', message };
  if (error instanceof AuthenticationError || error instanceof InsufficientCreditError) {
    const credit = error instanceof InsufficientCreditError;
    return {
      action: 'pause-account',
      reason: `${credit ? 'out of credit' : 'authentication failed'}: ${message}`,
      resubmit: credit && situation.accepted === true,
    };
  }
  if (situation.breakerOpenMs !== undefined)
    return { action: 'breaker-open', pauseMs: situation.breakerOpenMs };
  const code = error instanceof ProviderError ? error.code : 'internal_error';
  if (error instanceof ProviderError && !error.mayRetry) return { action: 'fail', code, message };
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
