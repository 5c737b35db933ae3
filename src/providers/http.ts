/**
 * The HTTP layer shared by provider adapters (undici). It sends one request, reads the answer, and turns failures into
 * the ProviderError taxonomy. A POST is never retried here (who retries a paid call: BullMQ attempts, see
 * STYLE.md); GET downloads retry network failures in-client, which is safe because a GET buys nothing.
 */
import { inSpan, SpanKind, SpanStatusCode, type TraceContext } from '../shared/tracing.js';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Agent, errors as undiciErrors, request, type Dispatcher, type FormData } from 'undici';
import { Transform } from 'node:stream';
import type { ProviderName } from '../shared/config.js';
import {
  AuthenticationError,
  BadRequestError,
  InvalidResponseError,
  InsufficientCreditError,
  NetworkError,
  NotFoundError,
  RateLimitedError,
  ProviderError,
  ServerError,
  TimeoutError,
  type ProviderErrorDetails,
} from '../shared/errors.js';

/** A response read in full: status, lower-cased headers, and the body parsed as JSON when it is JSON, else text. */
export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/** Options of one call. */
export interface HttpCallOptions {
  provider: string;
  /** Deadline for connecting, for the response headers, and between body chunks, in ms. */
  timeoutMs: number;
  signal?: AbortSignal;
  headers?: Record<string, string>;
  /** The span this request's HTTP client span is a child of (src/shared/tracing.ts); absent: the active one. */
  trace?: TraceContext;
}

const agents = new Map<number, Agent>();

/** One keep-alive connection pool per timeout setting. */
function agentFor(timeoutMs: number): Dispatcher {
  let agent = agents.get(timeoutMs);
  if (agent === undefined) {
    agent = new Agent({
      connect: { timeout: Math.min(timeoutMs, 30_000) },
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      // No cap of its own: the workers' concurrency bounds the requests in flight (a cap of 256 here once held a
      // worker at concurrency 500 to half its rate against a slow provider).
    });
    agents.set(timeoutMs, agent);
  }
  return agent;
}

/** Close the shared connection pools (at shutdown). */
export async function closeHttpAgents(): Promise<void> {
  const closing = [...agents.values()].map((agent) => agent.close());
  agents.clear();
  await Promise.all(closing);
}

/**
 * POST a body once — a JSON object, a multipart FormData (undici sets its content type), or a string/Buffer with its
 * own content-type header — and read the whole answer.
 * @throws NetworkError / TimeoutError when no complete answer arrived. HTTP error statuses are returned, not thrown.
 */
export async function postOnce(url: string, body: unknown, options: HttpCallOptions): Promise<HttpResponse> {
  // By tag rather than instanceof: a FormData from another copy of undici (or the global one) is still multipart.
  const isForm = Object.prototype.toString.call(body) === '[object FormData]';
  const isRaw = typeof body === 'string' || Buffer.isBuffer(body) || isForm;
  const headers = { ...(isRaw ? {} : { 'content-type': 'application/json' }), ...options.headers };
  return send(
    url,
    'POST',
    isRaw ? (body as string | Buffer | FormData) : JSON.stringify(body),
    headers,
    options,
  );
}

/** GET once and read the whole answer (status polls, model schemas). Same errors as {@link postOnce}. */
export async function getOnce(url: string, options: HttpCallOptions): Promise<HttpResponse> {
  return send(url, 'GET', undefined, options.headers ?? {}, options);
}

/** PUT once with no body and read the whole answer (fal's queue cancel). Same errors as {@link postOnce}. */
export async function putOnce(url: string, options: HttpCallOptions): Promise<HttpResponse> {
  return send(url, 'PUT', undefined, options.headers ?? {}, options);
}

/** The attributes of an HTTP client span (OpenTelemetry HTTP conventions); the URL without its query (signatures). */
function httpAttributes(url: string, method: string): Record<string, string | number> {
  const parsed = new URL(url);
  return {
    'http.request.method': method,
    'server.address': parsed.hostname,
    'url.full': `${parsed.origin}${parsed.pathname}`,
  };
}

/** One request to send. */
interface Outgoing {
  url: string;
  method: 'GET' | 'POST' | 'PUT';
  body: string | Buffer | FormData | undefined;
  headers: Record<string, string>;
}

function send(
  url: string,
  method: Outgoing['method'],
  body: Outgoing['body'],
  headers: Record<string, string>,
  options: HttpCallOptions,
): Promise<HttpResponse> {
  const attributes = httpAttributes(url, method);
  return inSpan(method, { kind: SpanKind.CLIENT, attributes, parent: options.trace }, async (span) => {
    const response = await sendUntraced({ url, method, body, headers }, options);
    span.setAttribute('http.response.status_code', response.status);
    if (response.status >= 400)
      span.setStatus({ code: SpanStatusCode.ERROR, message: `HTTP ${response.status}` });
    return response;
  });
}

async function sendUntraced(
  { url, method, body, headers }: Outgoing,
  options: HttpCallOptions,
): Promise<HttpResponse> {
  try {
    const response = await request(url, {
      method,
      headers,
      body: body ?? null,
      dispatcher: agentFor(options.timeoutMs),
      signal: options.signal ?? null,
    });
    const text = await response.body.text();
    const responseHeaders = flattenHeaders(response.headers);
    let parsed: unknown = text;
    if ((responseHeaders['content-type'] ?? '').includes('json') || /^\s*[{[]/.test(text)) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    return { status: response.statusCode, headers: responseHeaders, body: parsed };
  } catch (error) {
    throw classifyNetworkError(error, { provider: options.provider });
  }
}

/**
 * Run a call that buys nothing (an input upload, a schema read) before a paid submission: a failure without an answer
 * is then a plain retryable network failure, not an uncertain outcome (the paid request was never sent).
 */
export async function unpaidCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof ProviderError && error.withoutAnswer) {
      throw new NetworkError(error.message, {
        provider: error.provider,
        requestMaybeSent: false,
        cause: error,
      });
    }
    throw error;
  }
}

/**
 * Stream a GET response body into `filePath` (created fresh), at most `maxBytes`, retrying network failures, 5xx and
 * truncated bodies (fewer bytes than Content-Length) up to `retries` times. Caller owns the file (write to a temp name,
 * rename after checking). @returns the file's size (bytes) and hex SHA-256, computed as it streams by.
 * @throws InvalidResponseError when the body is larger than `maxBytes`; NotFoundError on 404 (an expired URL);
 *   ServerError / NetworkError / TimeoutError after the last try.
 */
export function downloadToFile(
  url: string,
  filePath: string,
  options: HttpCallOptions & { retries?: number; maxBytes: number },
): Promise<{ bytes: number; sha256: string }> {
  const attributes = httpAttributes(url, 'GET');
  return inSpan(
    'image_batch.download',
    { kind: SpanKind.CLIENT, attributes, parent: options.trace },
    async (span) => {
      const downloaded = await downloadUntraced(url, filePath, options);
      span.setAttribute('image_batch.bytes', downloaded.bytes);
      return downloaded;
    },
  );
}

async function downloadUntraced(
  url: string,
  filePath: string,
  options: HttpCallOptions & { retries?: number; maxBytes: number },
): Promise<{ bytes: number; sha256: string }> {
  const retries = options.retries ?? 2;
  for (let attempt = 0; ; attempt += 1) {
    try {
      const response = await request(url, {
        method: 'GET',
        headers: options.headers ?? {},
        dispatcher: agentFor(options.timeoutMs),
        signal: options.signal ?? null,
      });
      const details = { provider: options.provider, status: response.statusCode };
      if (response.statusCode !== 200) {
        await response.body.dump();
        if (response.statusCode === 404)
          throw new NotFoundError('output image not found (expired?) at the provider', details);
        throw new ServerError(`downloading an output image failed with HTTP ${response.statusCode}`, details);
      }
      const declared = Number(response.headers['content-length'] ?? Number.NaN);
      if (declared > options.maxBytes) {
        await response.body.dump();
        throw new InvalidResponseError(
          `output image is ${declared} bytes, more than the ${options.maxBytes} allowed`,
          details,
        );
      }
      let received = 0;
      const hash = createHash('sha256');
      const counter = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          received += chunk.length;
          hash.update(chunk);
          if (received > options.maxBytes) {
            callback(
              new InvalidResponseError(
                `output image is larger than the ${options.maxBytes} bytes allowed`,
                details,
              ),
            );
          } else callback(null, chunk);
        },
      });
      await pipeline(response.body, counter, createWriteStream(filePath));
      if (Number.isFinite(declared) && received !== declared) {
        throw new NetworkError(`output download truncated: ${received} of ${declared} bytes`, {
          ...details,
          requestMaybeSent: false,
        });
      }
      return { bytes: received, sha256: hash.digest('hex') };
    } catch (error) {
      const failure =
        error instanceof ProviderError ? error : classifyNetworkError(error, { provider: options.provider });
      if (attempt >= retries || !failure.mayRetry || options.signal?.aborted === true) throw failure;
      await new Promise((resolve) => setTimeout(resolve, 250 * 2 ** attempt));
    }
  }
}

/**
 * Map a thrown network-level error to NetworkError or TimeoutError, walking the `cause` chain for undici and
 * socket error codes (as fal-js `retry.ts` does).
 */
export function classifyNetworkError(error: unknown, details: ProviderErrorDetails): ProviderError {
  const codes: string[] = [];
  for (let current: unknown = error, depth = 0; current !== undefined && depth < 5; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
    current = (current as { cause?: unknown }).cause;
  }
  const notSent = codes.some((code) =>
    [
      'ECONNREFUSED',
      'ENOTFOUND',
      'EAI_AGAIN',
      'UND_ERR_CONNECT_TIMEOUT',
      'EHOSTUNREACH',
      'ENETUNREACH',
    ].includes(code),
  );
  const withCause = {
    ...details,
    cause: error,
    requestMaybeSent: !(notSent || error instanceof undiciErrors.ConnectTimeoutError),
  };
  if (
    error instanceof undiciErrors.HeadersTimeoutError ||
    error instanceof undiciErrors.BodyTimeoutError ||
    error instanceof undiciErrors.ConnectTimeoutError ||
    codes.some((code) => code === 'ETIMEDOUT' || code.endsWith('_TIMEOUT')) ||
    (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError'))
  ) {
    return new TimeoutError(
      `no answer from ${details.provider} in time (${codes[0] ?? 'timeout'})`,
      withCause,
    );
  }
  const reason = codes[0] ?? (error instanceof Error ? error.message : 'unknown error');
  return new NetworkError(`connection to ${details.provider} failed (${reason})`, withCause);
}

/**
 * The wait a response asks for, in ms: `retry-after-ms`, then `retry-after` as seconds or an HTTP date
 * (as openai-node `retryRequest` reads them). Undefined when neither is given or readable.
 */
export function parseRetryAfterMs(headers: Record<string, string>, now = Date.now()): number | undefined {
  const milliseconds = Number.parseFloat(headers['retry-after-ms'] ?? '');
  if (Number.isFinite(milliseconds) && milliseconds >= 0) return milliseconds;
  const retryAfter = headers['retry-after'];
  if (retryAfter === undefined) return undefined;
  const seconds = Number.parseFloat(retryAfter);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(retryAfter);
  if (Number.isFinite(date)) return Math.max(0, date - now);
  return undefined;
}

/**
 * The default mapping of an HTTP error status to the taxonomy; adapters first recognise their vendor's own
 * content-policy and credit bodies, then fall back to this.
 */
export function errorForStatus(
  message: string,
  details: ProviderErrorDetails & { status: number },
  headers: Record<string, string>,
): ProviderError {
  const { status } = details;
  if (status === 429) return new RateLimitedError(message, details, parseRetryAfterMs(headers));
  if (status === 402) return new InsufficientCreditError(message, details);
  if (status === 401 || status === 403) return new AuthenticationError(message, details);
  if (status === 404) return new NotFoundError(message, details);
  if (status === 408 || status === 409 || status >= 500)
    return new ServerError(message, details, parseRetryAfterMs(headers));
  return new BadRequestError(message, details);
}

function flattenHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) flat[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return flat;
}

/**
 * Call options of an authenticated provider call: the API key in the provider's header form
 * (`Authorization: Bearer <key>` or fal's `Key <key>`).
 * @throws AuthenticationError naming the key's environment variable (`key.keyVariable`) when no key is set.
 */
export function authorizedCallOptions(
  provider: ProviderName,
  key: { apiKey: string | undefined; keyVariable: string },
  context: { signal: AbortSignal; trace?: TraceContext },
  timeoutMs: number,
  scheme: 'Bearer' | 'Key' = 'Bearer',
): HttpCallOptions & { signal: AbortSignal; headers: Record<string, string> } {
  if (key.apiKey === undefined) throw new AuthenticationError(`${key.keyVariable} is not set`, { provider });
  return {
    provider,
    timeoutMs,
    signal: context.signal,
    ...(context.trace === undefined ? {} : { trace: context.trace }),
    headers: { authorization: `${scheme} ${key.apiKey}`, accept: 'application/json' },
  };
}
