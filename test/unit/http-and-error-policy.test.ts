import { describe, expect, it } from 'vitest';
import { errors as undiciErrors } from 'undici';
import { classifyNetworkError, parseRetryAfterMs } from '../../src/providers/http.js';
import { OpenAIProvider } from '../../src/providers/openai/client.js';
import {
  AuthenticationError,
  BadRequestError,
  ContentPolicyError,
  InsufficientCreditError,
  NetworkError,
  RateLimitedError,
  ServerError,
  TimeoutError,
} from '../../src/shared/errors.js';
import {
  countsTowardBreaker,
  decideOnError,
  MAX_THROTTLES_PER_JOB,
  UncertainOutcomeError,
} from '../../src/worker/error-policy.js';

describe('parseRetryAfterMs', () => {
  const now = Date.parse('2026-11-21T12:00:00Z');
  it.each([
    [{ 'retry-after-ms': '1500' }, 1500],
    [{ 'retry-after': '3' }, 3000],
    [{ 'retry-after': '0.5' }, 500],
    [{ 'retry-after': 'Sat, 21 Nov 2026 12:00:10 GMT' }, 10_000],
    [{ 'retry-after': 'Sat, 21 Nov 2026 11:59:00 GMT' }, 0],
    [{ 'retry-after-ms': '250', 'retry-after': '9' }, 250],
    [{ 'retry-after': 'soon' }, undefined],
    [{}, undefined],
  ])('%j gives %s ms', (headers, expected) => {
    expect(parseRetryAfterMs(headers, now)).toBe(expected);
  });
});

describe('classifyNetworkError', () => {
  it('finds a reset connection in the cause chain', () => {
    const error = new TypeError('fetch failed', {
      cause: Object.assign(new Error('socket'), { code: 'ECONNRESET' }),
    });
    const classified = classifyNetworkError(error, { provider: 'oxen' });
    expect(classified).toBeInstanceOf(NetworkError);
    expect(classified.message).toContain('ECONNRESET');
  });

  it('recognises undici timeouts', () => {
    expect(classifyNetworkError(new undiciErrors.HeadersTimeoutError(), { provider: 'oxen' })).toBeInstanceOf(
      TimeoutError,
    );
    expect(classifyNetworkError(new undiciErrors.BodyTimeoutError(), { provider: 'oxen' })).toBeInstanceOf(
      TimeoutError,
    );
  });
});

describe('decideOnError', () => {
  const details = { provider: 'oxen' };
  const fresh = { attemptsMade: 0, attemptsStarted: 1, attempts: 3 };

  it("fails permanent errors at once, with the provider's reason", () => {
    expect(decideOnError(new BadRequestError('Oxen.ai: resolution: bad', details), fresh)).toEqual({
      action: 'fail',
      code: 'bad_request',
      message: 'Oxen.ai: resolution: bad',
    });
    expect(decideOnError(new ContentPolicyError('refused', details), fresh)).toMatchObject({
      action: 'fail',
      code: 'content_policy',
    });
  });

  it('rate limits for the Retry-After without spending an attempt', () => {
    expect(decideOnError(new RateLimitedError('429', details, 2500), fresh)).toEqual({
      action: 'rate-limit',
      delayMs: 2500,
    });
    expect(decideOnError(new RateLimitedError('429', details, undefined), fresh)).toMatchObject({
      action: 'rate-limit',
    });
  });

  it('gives up after too many throttles', () => {
    const state = { attemptsMade: 0, attemptsStarted: 3 + MAX_THROTTLES_PER_JOB + 1, attempts: 3 };
    expect(decideOnError(new RateLimitedError('429', details, 1000), state)).toMatchObject({
      action: 'fail',
      code: 'rate_limited',
    });
  });

  it('retries server and network errors until the last attempt', () => {
    expect(decideOnError(new ServerError('500', details), fresh)).toEqual({ action: 'retry' });
    expect(decideOnError(new NetworkError('reset', details), { ...fresh, attemptsMade: 1 })).toEqual({
      action: 'retry',
    });
    expect(decideOnError(new ServerError('500', details), { ...fresh, attemptsMade: 2 })).toMatchObject({
      action: 'fail',
      code: 'server_error',
    });
  });

  it('treats unknown errors as retryable internal errors', () => {
    expect(decideOnError(new Error('ENOSPC'), fresh)).toEqual({ action: 'retry' });
    expect(decideOnError(new Error('ENOSPC'), { ...fresh, attemptsMade: 2 })).toMatchObject({
      code: 'internal_error',
    });
  });

  it('fails an uncertain outcome at once, never retried', () => {
    expect(decideOnError(new UncertainOutcomeError('sent, no answer'), fresh)).toEqual({
      action: 'fail',
      code: 'uncertain_outcome',
      message: 'sent, no answer',
    });
  });

  it('pauses the account on auth or credit failures, resubmitting only an accepted request that ran out of credit', () => {
    expect(decideOnError(new AuthenticationError('bad key', details), fresh)).toEqual({
      action: 'pause-account',
      reason: 'authentication failed: bad key',
      resubmit: false,
    });
    expect(
      decideOnError(new InsufficientCreditError('no credit', details), fresh, { accepted: true }),
    ).toEqual({
      action: 'pause-account',
      reason: 'out of credit: no credit',
      resubmit: true,
    });
    expect(decideOnError(new InsufficientCreditError('no credit', details), fresh)).toMatchObject({
      resubmit: false,
    });
  });

  it('opens the breaker when an outage-like failure tripped it, without spending an attempt', () => {
    expect(countsTowardBreaker(new ServerError('503', details))).toBe(true);
    expect(countsTowardBreaker(new RateLimitedError('429', details, 1))).toBe(false);
    expect(countsTowardBreaker(new BadRequestError('400', details))).toBe(false);
    expect(decideOnError(new ServerError('503', details), fresh, { breakerOpenMs: 400 })).toEqual({
      action: 'breaker-open',
      pauseMs: 400,
    });
  });
});

describe("OpenAI's x-should-retry header, obeyed as openai-node obeys it", () => {
  const openai = new OpenAIProvider({ apiKey: 'sk-test', baseUrl: 'http://127.0.0.1:1', timeoutMs: 1000 });
  const answer = (status: number, shouldRetry?: string) =>
    openai.errorFor(
      {
        status,
        body: { error: { message: 'boom', type: 'server_error', param: null, code: null } },
        headers: shouldRetry === undefined ? {} : { 'x-should-retry': shouldRetry },
      },
      'req_1',
    );
  const fresh = { attemptsMade: 0, attemptsStarted: 1, attempts: 3 };

  it('false: a 500 is not retried (the row fails now)', () => {
    expect(decideOnError(answer(500), fresh)).toEqual({ action: 'retry' });
    expect(decideOnError(answer(500, 'false'), fresh)).toMatchObject({
      action: 'fail',
      code: 'server_error',
    });
  });

  it('true: a 400 is retried', () => {
    expect(decideOnError(answer(400), fresh)).toMatchObject({ action: 'fail', code: 'bad_request' });
    expect(decideOnError(answer(400, 'true'), fresh)).toEqual({ action: 'retry' });
  });
});
