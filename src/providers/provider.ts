/**
 * The contract between the worker and a provider adapter. Adapters know their vendor's wire format and nothing of
 * queues; the worker knows queues and nothing of wire formats.
 *
 * A paid request goes through `submit`. A synchronous provider answers it with the images; an asynchronous one with a
 * {@link PendingRequest}, which the worker saves in the job before waiting, then follows with `poll` — from any
 * worker, after any crash — so a request is paid for once.
 */
import type { ProviderName } from '../shared/config.js';
import type { ModelCapabilities, ProviderModels } from './capabilities.js';
import type { ProviderCheck } from './check.js';
import type { TierPlan } from './tier-sizes.js';
import type { FieldError } from '../shared/errors.js';
import type { ImageRequest, Quality, SavedProviderRequest } from '../shared/job-definitions.js';
import type { Logger } from '../shared/logger.js';
import type { TraceContext } from '../shared/tracing.js';

export type { ImageRequest } from '../shared/job-definitions.js';

/** One output image as the provider handed it over. */
export type ProviderImage = { kind: 'url'; url: string } | { kind: 'base64'; data: string };

/**
 * Token counts a provider reported for a call, as it sent them (OpenAI `usage`: `input_tokens`, `output_tokens`,
 * `total_tokens`, `input_tokens_details`). Priced by the cost catalogue.
 */
export type TokenUsage = Record<string, unknown>;

/** A finished provider call. */
export interface ProviderResponse {
  images: ProviderImage[];
  /** Model that served the request (from the response where given). */
  model: string;
  /** The provider's id of this call, when it gave one. */
  requestId?: string;
  /** Token usage, where the provider reports it. */
  usage?: TokenUsage;
  /** Pause before the next request, ms, when the provider says its quota is (nearly) used (rate-limit headers). */
  throttleMs?: number;
  /** The limits the host announced with the answer (its rate-limit headers), per minute. */
  announcedLimits?: AnnouncedLimits;
}

/**
 * Limits a host announces per minute in its rate-limit headers (OpenAI `x-ratelimit-limit-requests` and
 * `x-ratelimit-limit-tokens`, providers.md §1).
 */
export interface AnnouncedLimits {
  requestsPerMinute?: number;
  tokensPerMinute?: number;
  imagesPerMinute?: number;
}

/**
 * An accepted asynchronous request: what any worker needs to follow it. Saved in BullMQ job data as it is (its fields:
 * src/shared/job-definitions.ts `SavedProviderRequest`), so it holds no secret (status URLs of these providers carry no
 * credentials).
 */
export type PendingRequest = SavedProviderRequest;

/** What a submission gave: the images (synchronous), or a request to follow. */
export type SubmitResult =
  { kind: 'completed'; response: ProviderResponse } | { kind: 'pending'; request: PendingRequest };

/** What a status poll gave. A failed request is thrown as a ProviderError. */
export type PollResult = { kind: 'pending' } | { kind: 'completed'; response: ProviderResponse };

/** Per-call context: cancel with `signal`; `log` is already scoped to the job. */
export interface CallContext {
  signal: AbortSignal;
  log: Logger;
  /**
   * Where the provider should announce the request's end (a submission of a provider that `acceptsWebhooks`, while a
   * webhook receiver runs: `image-batch webhooks`); absent: no webhook is asked for.
   */
  webhookUrl?: string;
  /**
   * How long the host may keep the submission queued before it must start it, ms (a routed row with another candidate
   * host: src/worker/router.ts). Hosts that enforce such a deadline themselves are told (fal `X-Fal-Request-Timeout`,
   * Replicate `Cancel-After`), and a request not started by then ends `NotStartedError` (src/shared/errors.ts), unbilled.
   */
  startDeadlineMs?: number;
  /** The span the call's HTTP requests are children of (src/shared/tracing.ts); absent: the active one. */
  trace?: TraceContext;
}

/** A provider of GPT Image 2 generate and edit calls. */
export interface ImageProvider {
  readonly name: ProviderName;
  /** Quality the provider uses (and bills) when a row gives none. */
  readonly defaultQuality: Quality;
  /** Whether `submit` answers with a {@link PendingRequest} (an async flow that can be resumed). */
  readonly asynchronous: boolean;
  /**
   * How long the provider keeps a finished request's result, ms, where it publishes it (fal: 6 minutes for payloads
   * ≥ 10 KB; Replicate: 1 hour). The poller keeps its finding no longer, and warns when polls fall that far behind.
   */
  readonly resultLifetimeMs?: number;
  /**
   * True when the host takes no output format: its images are stored converted to the row's `output_format` when they
   * arrive in another (WaveSpeedAI).
   */
  readonly convertsOutputFormat?: boolean;
  /** Whether `submit` can ask the provider to announce the request's end at `context.webhookUrl`. */
  readonly acceptsWebhooks?: boolean;
  /** Model used for a request: the row's, else the adapter's default for the operation. */
  modelFor(request: ImageRequest): string;
  /** Fields of `request` this provider cannot serve; checked when rows are enqueued, so they fail before any call. */
  checkRequest(request: ImageRequest): FieldError[];
  /** The models this provider serves as far as image-batch knows, with what each accepts. */
  modelTable(): ProviderModels;
  /** What the request's model accepts (its row of the provider's capability table), or undefined for an unknown model. */
  capabilitiesFor(request: ImageRequest): ModelCapabilities | undefined;
  /**
   * The size parameters sent for `request` where the provider takes something other than `WIDTHxHEIGHT` (an aspect
   * ratio and a tier: the row's `sizePlan`, else planned now), recorded in results; undefined when the size goes as
   * asked.
   */
  sizeParameters?(request: ImageRequest): Record<string, string> | undefined;
  /**
   * The aspect ratio and tier `request` would go with on a host that takes those (the nearest ratio, the smallest tier
   * delivering at least its size: src/providers/tier-sizes.ts), with the size expected; undefined otherwise.
   */
  planSize?(request: ImageRequest): TierPlan | undefined;
  /**
   * Images one synchronous call of `request` makes, where the host makes fewer per call than the row asks for (Oxen.ai's
   * blocking endpoints without `num_images`): the worker then makes the row in that many calls, storing each as it
   * returns. Absent: one call makes them all.
   */
  imagesPerCall?(request: ImageRequest): number;
  /** Take the sizes the host was seen to deliver per `ratio@tier` (`WIDTHxHEIGHT`), for later plans. */
  learnTierSizes?(entries: Record<string, string>): void;
  /**
   * Optional work before requests are checked or sent (e.g. read the model schema the host serves now), at worker start
   * and before a producer checks rows. Never throws.
   */
  prepare?(context: CallContext): Promise<void>;
  /**
   * USD per image the host itself serves as the price of `request` (read by `prepare`, e.g. Oxen.ai's model `pricing`
   * object), or undefined when it serves none: then the built-in catalogue prices the row.
   */
  servedPrice?(request: ImageRequest): number | undefined;
  /**
   * One call that costs nothing (model list or schema, price list, balance): whether the key works and what the host
   * serves now (`image-batch providers --check`). Never throws.
   */
  check(context: CallContext): Promise<ProviderCheck>;
  /**
   * Make the paid submission. Never retried inside: BullMQ attempts own retries, so each is one counted attempt.
   * @throws ProviderError subclasses (see src/shared/errors.ts).
   */
  submit(request: ImageRequest, context: CallContext): Promise<SubmitResult>;
  /**
   * Cancel a pending request only while the host reports it queued, the cheapest safe way to move a row to another
   * host: `cancelled` when the host says it removed it before it started (it never runs; nothing is billed),
   * `started` otherwise — it was running, finished, or the cancel raced its start — and the request must be followed
   * to its end. Never throws (a cancel that fails is `started`). Hosts with a documented queue cancel only (fal,
   * Replicate).
   */
  cancelIfQueued?(request: PendingRequest, context: CallContext): Promise<'cancelled' | 'started'>;
  /**
   * Ask how a pending request is doing (a free GET).
   * @throws ProviderError when the request failed (content refusal, invalid input, provider failure).
   */
  poll(request: PendingRequest, context: CallContext): Promise<PollResult>;
}
