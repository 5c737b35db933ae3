/**
 * Errors of image-batch, as a small taxonomy.
 *
 * - {@link UsageError} and {@link ConfigurationError}: the user's command or environment is wrong (CLI exit code 2).
 * - {@link ProviderError}: a provider call failed. Its subclasses say whether another attempt can help:
 *   retryable ({@link RateLimitedError}, {@link ServerError}, {@link NetworkError}, {@link TimeoutError}) or
 *   permanent ({@link BadRequestError}, {@link AuthenticationError}, {@link InsufficientCreditError},
 *   {@link NotFoundError}, {@link ContentPolicyError}). The worker maps them onto BullMQ (see src/worker/error-policy.ts).
 *
 * Messages never contain an API key: adapters build them from the provider's response body, not from our request,
 * and a provider error's message is scrubbed of every configured secret and key-shaped string (./secrets.ts), since
 * a body may echo the key it was sent.
 * Modelled on openai-node's `src/core/error.ts`.
 */

import { scrubSecrets } from './secrets.js';

/** The user's command line is wrong (unknown flag, bad value). CLI exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The environment is wrong (bad env variable, Redis unreachable). CLI exit code 2. */
export class ConfigurationError extends Error {
  override readonly name = 'ConfigurationError';
}

/** A stable, machine-readable reason for a failed row, written to results.jsonl as `error.code`. */
export type ProviderErrorCode =
  | 'rate_limited'
  | 'server_error'
  | 'network_error'
  | 'timeout'
  | 'bad_request'
  | 'authentication_failed'
  | 'insufficient_credit'
  | 'not_found'
  | 'content_policy'
  | 'task_failed'
  | 'not_started'
  | 'invalid_response';

/** What every provider error carries besides its message. */
export interface ProviderErrorDetails {
  /** Provider name, e.g. `oxen`. */
  provider: string;
  /** HTTP status of the provider's answer, when there was one. */
  status?: number | undefined;
  /** The provider's request id (response header or body), when it gave one. */
  requestId?: string | undefined;
  /** The underlying error (network failure, parse error). */
  cause?: unknown;
  /**
   * For failures without an answer: false when the request surely never left (connection refused, DNS failure,
   * connect timeout); true (the default) when the provider may have received it.
   */
  requestMaybeSent?: boolean;
  /**
   * The provider's own word on retrying, where it gives one (OpenAI's `x-should-retry: true|false`, which openai-node
   * obeys before its status rules, `src/client.ts` `shouldRetry`): overrides the class's `retryable`.
   */
  shouldRetry?: boolean;
}

/** A provider call failed. Use the subclasses; `retryable` tells the worker whether another attempt may help. */
export abstract class ProviderError extends Error {
  abstract readonly code: ProviderErrorCode;
  abstract readonly retryable: boolean;
  readonly provider: string;
  readonly status: number | undefined;
  readonly requestId: string | undefined;
  /** See {@link ProviderErrorDetails.requestMaybeSent}; always true for errors that carry an answer. */
  readonly requestMaybeSent: boolean;
  /** See {@link ProviderErrorDetails.shouldRetry}. */
  readonly shouldRetry: boolean | undefined;

  constructor(message: string, details: ProviderErrorDetails) {
    // Built from the provider's answer, which may echo the key it was sent (./secrets.ts).
    super(scrubSecrets(message), details.cause === undefined ? undefined : { cause: details.cause });
    this.provider = details.provider;
    this.status = details.status;
    this.requestId = details.requestId;
    this.requestMaybeSent = details.requestMaybeSent ?? true;
    this.shouldRetry = details.shouldRetry;
  }

  /** Whether another attempt may help: the provider's own word where it gave one, else the class's rule. */
  get mayRetry(): boolean {
    return this.shouldRetry ?? this.retryable;
  }

  /** True when no answer arrived although the provider may have received the request (outcome unknown). */
  get withoutAnswer(): boolean {
    return (this instanceof NetworkError || this instanceof TimeoutError) && this.requestMaybeSent;
  }
}

/** 429 or a provider's throttling signal. `retryAfterMs` is the provider's requested wait, when it said one. */
export class RateLimitedError extends ProviderError {
  override readonly name = 'RateLimitedError';
  readonly code = 'rate_limited';
  readonly retryable = true;
  constructor(
    message: string,
    details: ProviderErrorDetails,
    /** Wait the provider asked for (ms), from Retry-After or similar; undefined when it said nothing. */
    readonly retryAfterMs: number | undefined,
  ) {
    super(message, details);
  }
}

/** 5xx or 408: the provider failed; a later attempt may succeed. */
export class ServerError extends ProviderError {
  override readonly name = 'ServerError';
  readonly code = 'server_error';
  readonly retryable = true;
  constructor(
    message: string,
    details: ProviderErrorDetails,
    /** Wait the provider asked for (ms, from a 503's Retry-After), when it said one. */
    readonly retryAfterMs?: number,
  ) {
    super(message, details);
  }
}

/** The connection failed or was reset before a complete answer arrived. */
export class NetworkError extends ProviderError {
  override readonly name = 'NetworkError';
  readonly code = 'network_error';
  readonly retryable = true;
}

/** No answer within the configured time (connect, headers, body or overall deadline). */
export class TimeoutError extends ProviderError {
  override readonly name = 'TimeoutError';
  readonly code = 'timeout';
  readonly retryable = true;
}

/** One invalid field of a request, as the provider (or our own validation) named it. */
export interface FieldError {
  /** Field name in the provider's request body or the manifest, e.g. `resolution`. */
  field: string;
  message: string;
}

/** 400/422: the request itself is wrong; the same request will fail again. */
export class BadRequestError extends ProviderError {
  override readonly name = 'BadRequestError';
  readonly code = 'bad_request';
  readonly retryable = false;
  constructor(
    message: string,
    details: ProviderErrorDetails,
    readonly fieldErrors: readonly FieldError[] = [],
  ) {
    super(message, details);
  }
}

/** 401/403: the API key is missing, wrong or not allowed to use the model. */
export class AuthenticationError extends ProviderError {
  override readonly name = 'AuthenticationError';
  readonly code = 'authentication_failed';
  readonly retryable = false;
}

/** The account has no credit left (402, OpenAI's 429 `insufficient_quota`, Oxen's "Insufficient credits"). */
export class InsufficientCreditError extends ProviderError {
  override readonly name = 'InsufficientCreditError';
  readonly code = 'insufficient_credit';
  readonly retryable = false;
}

/** 404: unknown model, endpoint or request id. */
export class NotFoundError extends ProviderError {
  override readonly name = 'NotFoundError';
  readonly code = 'not_found';
  readonly retryable = false;
}

/** The provider refused the prompt or an image on content-policy grounds. */
export class ContentPolicyError extends ProviderError {
  override readonly name = 'ContentPolicyError';
  readonly code = 'content_policy';
  readonly retryable = false;
}

/** An accepted async request ended failed (the provider's reason in the message). Not retried: it may be billed. */
export class TaskFailedError extends ProviderError {
  override readonly name = 'TaskFailedError';
  readonly code = 'task_failed';
  readonly retryable = false;
}

/**
 * An accepted async request the host reports it never started — aborted at its start deadline, or removed from its
 * queue by our cancel before it ran — so nothing was made and nothing billed (Replicate: status `aborted`, "you're only
 * charged for predictions with a canceled status, not for aborted ones", replicate.com/changelog/2025-10-16-prediction-deadlines;
 * fal: `504` with `X-Fal-Request-Timeout-Type: user`, docs.fal.ai/documentation/model-apis/common-parameters). The row
 * may be sent again, here or on another host. Not retried by attempts: the worker decides (src/worker/settlement.ts).
 */
export class NotStartedError extends ProviderError {
  override readonly name = 'NotStartedError';
  readonly code = 'not_started';
  readonly retryable = false;
}

/** The provider answered 2xx with a body we cannot use (no images, undecodable image). Retryable. */
export class InvalidResponseError extends ProviderError {
  override readonly name = 'InvalidResponseError';
  readonly code = 'invalid_response';
  readonly retryable = true;
}

/** A short, log-safe description of any thrown value. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
