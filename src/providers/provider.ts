/**
 * The contract between the worker and a provider adapter. Adapters know their vendor's wire format and nothing of
 * queues; the worker knows queues and nothing of wire formats.
 */
import type { ProviderName } from '../shared/config.js';
import type { FieldError } from '../shared/errors.js';
import type { ImageRequest, Quality } from '../shared/job-definitions.js';
import type { Logger } from '../shared/logger.js';

export type { ImageRequest } from '../shared/job-definitions.js';

/** One output image as the provider handed it over. */
export type ProviderImage = { kind: 'url'; url: string } | { kind: 'base64'; data: string };

/** A successful provider call. */
export interface ProviderResponse {
  images: ProviderImage[];
  /** Model that served the request (from the response where given). */
  model: string;
  /** The provider's id of this call, when it gave one. */
  requestId?: string;
}

/** Per-call context: cancel with `signal`; `log` is already scoped to the job. */
export interface CallContext {
  signal: AbortSignal;
  log: Logger;
}

/** A provider of GPT Image 2 generate and edit calls. */
export interface ImageProvider {
  readonly name: ProviderName;
  /** Quality the provider uses (and bills) when a row gives none. */
  readonly defaultQuality: Quality;
  /** Model used for a request: the row's, else the adapter's default for the operation. */
  modelFor(request: ImageRequest): string;
  /** Fields of `request` this provider cannot serve; checked when rows are enqueued, so they fail before any call. */
  checkRequest(request: ImageRequest): FieldError[];
  /**
   * Make the paid call. Never retried inside: BullMQ attempts own retries, so each call is one counted attempt.
   * @throws ProviderError subclasses (see src/shared/errors.ts).
   */
  call(request: ImageRequest, context: CallContext): Promise<ProviderResponse>;
}
