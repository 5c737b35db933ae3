/**
 * Oxen.ai's answers read: error bodies and failed generations mapped to the error taxonomy (credit, content policy,
 * not found, a parameter), and the request schema found in a model object. Sources: Oxen-AI/docs models/overview.mdx
 * (`request_schema`; 404 "Model not found"), per-model pages (`json_request_schema`), async_queue.mdx
 * (`error_message`), shared/reference/providers.md §3 (error bodies, "Insufficient credits").
 */
import {
  BadRequestError,
  ContentPolicyError,
  InsufficientCreditError,
  NotFoundError,
  TaskFailedError,
  type FieldError,
  type ProviderError,
  type ProviderErrorDetails,
} from '../../shared/errors.js';
import type { HttpResponse } from '../http.js';
import { oxenErrorBodySchema } from './wire-schema.js';

/** A failed generation's `error_message` as an error: credit, content policy, a parameter, or a model failure. */
export function oxenFailure(message: string, requestId: string): ProviderError {
  const details = { provider: 'oxen', requestId };
  const text = `Oxen.ai: ${message}`;
  if (/insufficient credits?/i.test(message)) return new InsufficientCreditError(text, details);
  if (/content polic|safety|moderation/i.test(message)) return new ContentPolicyError(text, details);
  const field = /^([a-z_]+): /.exec(message)?.[1];
  if (field !== undefined) return new BadRequestError(text, details, [{ field, message }]);
  return new TaskFailedError(text, details);
}

/** What an Oxen error body says: its text, the kind of failure it names (if one of its own), and the field. */
export interface OxenErrorReading {
  text: string;
  kind: 'credit' | 'content-policy' | 'not-found' | undefined;
  fields: FieldError[];
}

/** Read an Oxen error answer (`{error: {type, title, detail|message}}`). */
export function readOxenError(response: HttpResponse): OxenErrorReading {
  const parsed = oxenErrorBodySchema.safeParse(response.body);
  const error = parsed.success ? parsed.data.error : undefined;
  const text =
    error?.detail ??
    error?.message ??
    error?.title ??
    (typeof response.body === 'string' ? response.body : '');
  const kind = /insufficient credits?/i.test(text)
    ? 'credit'
    : error?.type === 'content_policy' || /content polic|safety system|moderation/i.test(text)
      ? 'content-policy'
      : /model not found/i.test(text) || error?.type === 'resource_not_found'
        ? 'not-found'
        : undefined;
  const field = /^([a-z_]+): /.exec(error?.detail ?? '')?.[1];
  return { text, kind, fields: field === undefined ? [] : [{ field, message: text.slice(0, 500) }] };
}

/** The error of a kind Oxen names in its body. */
export function oxenErrorOfKind(
  kind: NonNullable<OxenErrorReading['kind']>,
  message: string,
  details: ProviderErrorDetails,
): ProviderError {
  if (kind === 'credit') return new InsufficientCreditError(message, details);
  if (kind === 'content-policy') return new ContentPolicyError(message, details);
  return new NotFoundError(message, details);
}

/**
 * The request schema in a model answer: `request_schema` (models/overview.mdx) or `json_request_schema` (per-model
 * pages), at the top or under `model` or `data`.
 */
export function findRequestSchema(body: unknown): Record<string, unknown> | undefined {
  const record = (value: unknown): Record<string, unknown> | undefined =>
    value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  for (const holder of [record(body), record(record(body)?.model), record(record(body)?.data)]) {
    const schema = record(holder?.request_schema) ?? record(holder?.json_request_schema);
    if (schema !== undefined) return schema;
  }
  return undefined;
}
