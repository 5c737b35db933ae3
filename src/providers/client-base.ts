/**
 * The base of every provider client (in the manner of openai-node's `src/client.ts`): it owns the transport (undici,
 * through ./http.ts), the auth header, the call deadline, reading answers with their schemas, the capability checks,
 * and turning error answers into the error hierarchy. An adapter holds only what differs: its request builder,
 * response mapper and the vendor's own error bodies (`errorFor`).
 *
 * A paid submission is sent once and never retried here (who retries a paid call: BullMQ attempts, STYLE.md).
 */
import { readFile } from 'node:fs/promises';
import type { ZodType } from 'zod';
import type { ProviderName } from '../shared/config.js';
import {
  AuthenticationError,
  BadRequestError,
  InvalidResponseError,
  RateLimitedError,
  type FieldError,
  type ProviderError,
} from '../shared/errors.js';
import type { ImageRequest, Quality } from '../shared/job-definitions.js';
import {
  capabilitiesOf,
  capabilityProblems,
  planRequestSize,
  type ModelCapabilities,
  type ProviderModels,
} from './capabilities.js';
import type { TierPlan } from './tier-sizes.js';
import { parseResolution, type Resolution } from '../shared/resolution.js';
import { checkedGet, type ProviderCheck } from './check.js';
import {
  authorizedCallOptions,
  errorForStatus,
  getOnce,
  parseRetryAfterMs,
  postOnce,
  type HttpResponse,
} from './http.js';
import { sniffImageType } from './image-inputs.js';
import type { CallContext, ImageProvider, PendingRequest, PollResult, SubmitResult } from './provider.js';
import type { TraceContext } from '../shared/tracing.js';

/** The settings every client needs (a provider's own settings add to these). */
export interface ClientSettings {
  /** Undefined when not set: every call then fails as an authentication error naming the variable. */
  apiKey: string | undefined;
  baseUrl: string;
  /** Deadline of one call, ms. */
  timeoutMs: number;
}

/** What an error answer said, read by the vendor's `errorFor`, for the common status mapping. */
export interface ErrorReading {
  /** The message, already prefixed with the provider's label. */
  message: string;
  requestId: string | undefined;
  /** Fields a 400/422 named. */
  fields?: FieldError[];
  /** Wait a 429 asked for in its body, ms (headers are read here). */
  retryAfterMs?: number | undefined;
  /** The provider's own word on retrying (OpenAI's `x-should-retry`), when it gave one. */
  shouldRetry?: boolean | undefined;
}

/** The base of the provider clients. */
export abstract class ProviderClient<
  Settings extends ClientSettings = ClientSettings,
> implements ImageProvider {
  abstract readonly name: ProviderName;
  abstract readonly defaultQuality: Quality;
  abstract readonly asynchronous: boolean;
  /** The environment variable of the API key (named when it is missing; ./<name>/settings.ts). */
  protected abstract readonly keyVariable: string;

  /** @param scheme how the key goes in `Authorization` (`Bearer <key>`, or fal's `Key <key>`). */
  constructor(
    protected readonly settings: Settings,
    private readonly scheme: 'Bearer' | 'Key' = 'Bearer',
  ) {}

  abstract modelFor(request: ImageRequest): string;
  abstract modelTable(): ProviderModels;
  abstract check(context: CallContext): Promise<ProviderCheck>;
  abstract submit(request: ImageRequest, context: CallContext): Promise<SubmitResult>;
  abstract poll(request: PendingRequest, context: CallContext): Promise<PollResult>;
  /** Map an error answer to the taxonomy, recognising the vendor's own content-policy and credit bodies. */
  abstract errorFor(response: HttpResponse, requestId: string | undefined): ProviderError;

  /** Sizes this host was seen to deliver per aspect ratio × tier (./tier-sizes.ts), as the workers recorded them. */
  protected readonly tierBook: Map<string, Resolution> = new Map();

  checkRequest(request: ImageRequest): FieldError[] {
    return capabilityProblems(this.modelTable(), request, this.tierBook);
  }

  /** Take the sizes this host was seen to deliver (`ratio@tier` → `WIDTHxHEIGHT`); unreadable entries are skipped. */
  learnTierSizes(entries: Record<string, string>): void {
    for (const [key, text] of Object.entries(entries)) {
      const size = parseResolution(text);
      if (size !== undefined) this.tierBook.set(key, size);
    }
  }

  /** The ratio and tier `request` goes with on a host that takes those, or undefined (pixels, or no plan). */
  planSize(request: ImageRequest): TierPlan | undefined {
    const sizes = this.capabilitiesFor(request)?.sizes;
    if (sizes === undefined) return undefined;
    const plan = planRequestSize(sizes, request, this.tierBook);
    return plan === undefined || 'problem' in plan ? undefined : plan;
  }

  /**
   * `aspect_ratio` and `resolution` (the tier) sent for `request` on a host that takes those: as planned at enqueue
   * (`sizePlan`), else planned now; undefined for a host that takes pixels.
   */
  sizeParameters(request: ImageRequest): Record<string, string> | undefined {
    if (request.sizePlan !== undefined)
      return { aspect_ratio: request.sizePlan.aspectRatio, resolution: request.sizePlan.tier };
    const plan = this.planSize(request);
    return plan === undefined ? undefined : { aspect_ratio: plan.aspectRatio, resolution: plan.tier };
  }

  capabilitiesFor(request: ImageRequest): ModelCapabilities | undefined {
    return capabilitiesOf(this.modelTable(), request);
  }

  /** Deadline of one call, ms (a provider that holds calls open may need more than the setting). */
  protected callTimeoutMs(): number {
    return this.settings.timeoutMs;
  }

  /** Options of an authorized call. @throws AuthenticationError naming the key's variable when no key is set. */
  protected callOptions(
    context: { signal: AbortSignal; trace?: TraceContext },
    headers: Record<string, string> = {},
  ) {
    const options = authorizedCallOptions(
      this.name,
      { apiKey: this.settings.apiKey, keyVariable: this.keyVariable },
      context,
      this.callTimeoutMs(),
      this.scheme,
    );
    return { ...options, headers: { ...options.headers, ...headers } };
  }

  /** `baseUrl` + `path`. */
  protected url(path: string): string {
    return `${this.settings.baseUrl}${path}`;
  }

  /**
   * POST once and return a 2xx answer. @throws the vendor's error for any other status (its request id from the first of
   * `requestIdHeaders` present); NetworkError / TimeoutError when no answer came.
   */
  protected async postOk(
    url: string,
    body: unknown,
    context: { signal: AbortSignal },
    options: { headers?: Record<string, string>; requestIdHeaders?: readonly string[] } = {},
  ): Promise<HttpResponse> {
    const response = await postOnce(url, body, this.callOptions(context, options.headers));
    if (response.status < 200 || response.status >= 300) {
      const header = (options.requestIdHeaders ?? []).find((name) => response.headers[name] !== undefined);
      const requestId = header === undefined ? undefined : response.headers[header];
      throw this.errorFor(response, requestId);
    }
    return response;
  }

  /** GET once (a status poll, a schema) and return a 200 (or another status `accepting` names) answer. */
  protected async getOk(
    url: string,
    context: { signal: AbortSignal },
    requestId?: string,
    accepting: readonly number[] = [200],
  ): Promise<HttpResponse> {
    const response = await getOnce(url, this.callOptions(context));
    if (!accepting.includes(response.status)) throw this.errorFor(response, requestId);
    return response;
  }

  /** The body of `response` read with `schema`. @throws InvalidResponseError (retryable) saying `what` was wrong. */
  protected read<T>(schema: ZodType<T>, response: HttpResponse, what: string, requestId?: string): T {
    const parsed = schema.safeParse(response.body);
    if (parsed.success) return parsed.data;
    throw new InvalidResponseError(what, { provider: this.name, status: response.status, requestId });
  }

  /** The free call of `providers --check`: GET `url` and describe its answer with `describe`. Never throws. */
  protected checkWith(
    url: string,
    context: { signal: AbortSignal },
    describe: (body: unknown) => { summary: string; details?: Record<string, unknown> },
  ): Promise<ProviderCheck> {
    return checkedGet(
      url,
      () => this.callOptions(context),
      (response) => this.errorFor(response, undefined),
      describe,
    );
  }

  /** The pending request of an accepted submission, to save in the job before waiting. */
  protected pending(
    requestIds: string[],
    model: string,
    urls: { statusUrl?: string | undefined; resultUrl?: string | undefined } = {},
  ): SubmitResult {
    const request: PendingRequest = {
      provider: this.name,
      requestIds,
      model,
      submittedAt: new Date().toISOString(),
    };
    if (urls.statusUrl !== undefined) request.statusUrl = urls.statusUrl;
    if (urls.resultUrl !== undefined) request.resultUrl = urls.resultUrl;
    return { kind: 'pending', request };
  }

  /** A BadRequestError for a request that was never sent (our own check or an input file failed). */
  protected unsendable(field: string, message: string): BadRequestError {
    return new BadRequestError(message, { provider: this.name, requestMaybeSent: false }, [
      { field, message },
    ]);
  }

  /**
   * A local input image's bytes and type. @throws BadRequestError (nothing sent) when it cannot be read or is not a
   * PNG, JPEG, WebP or GIF.
   */
  protected async localImage(
    reference: string,
    field = 'image_urls',
  ): Promise<{ bytes: Buffer; type: string }> {
    const bytes = await readFile(reference).catch((error: NodeJS.ErrnoException) => {
      throw this.unsendable(field, `cannot read input image ${reference} (${error.code ?? 'error'})`);
    });
    const type = sniffImageType(bytes);
    if (type === undefined)
      throw this.unsendable(field, `input image ${reference} is not a PNG, JPEG, WebP or GIF file`);
    return { bytes, type };
  }

  /** The text of an error answer: the first readable `candidates`, else a text body, else `HTTP <status>`. */
  protected answerText(response: HttpResponse, ...candidates: Array<string | undefined>): string {
    const found = candidates.find((candidate) => candidate !== undefined && candidate !== '');
    return (
      found ??
      (typeof response.body === 'string' && response.body !== '' ? response.body : `HTTP ${response.status}`)
    );
  }

  /**
   * The common status mapping after the vendor's own bodies: 401/403 authentication, 400/422 a bad request naming
   * its fields, 429 a rate limit waiting `retry-after(-ms)` or the body's wait, the rest by {@link errorForStatus}.
   */
  protected errorByStatus(response: HttpResponse, reading: ErrorReading): ProviderError {
    const details = {
      provider: this.name,
      status: response.status,
      requestId: reading.requestId,
      ...(reading.shouldRetry === undefined ? {} : { shouldRetry: reading.shouldRetry }),
    };
    const { status } = response;
    if (status === 401 || status === 403) return new AuthenticationError(reading.message, details);
    if (status === 400 || status === 422)
      return new BadRequestError(reading.message, details, reading.fields ?? []);
    if (status === 429)
      return new RateLimitedError(
        reading.message,
        details,
        parseRetryAfterMs(response.headers) ?? reading.retryAfterMs,
      );
    return errorForStatus(reading.message, details, response.headers);
  }
}
