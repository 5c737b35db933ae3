/**
 * Oxen.ai's answers read: error bodies and failed generations mapped to the error taxonomy (credit, content policy,
 * not found, a parameter), and the request schema found in a model object. Sources: Oxen-AI/docs models/overview.mdx
 * (`request_schema`; 404 "Model not found"), per-model pages (`json_request_schema`), async_queue.mdx
 * (`error_message`), shared/reference/providers.md §3 (error bodies, "Insufficient credits").
 */
import {
  AuthenticationError,
  BadRequestError,
  ContentPolicyError,
  InsufficientCreditError,
  NotFoundError,
  TaskFailedError,
  type ProviderError,
} from '../../shared/errors.js';
import { errorForStatus, type HttpResponse } from '../http.js';
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

/** Map an Oxen error answer to the taxonomy, recognising its credit, content-policy and not-found bodies. */
export function oxenError(response: HttpResponse, requestId: string | undefined): ProviderError {
  const parsed = oxenErrorBodySchema.safeParse(response.body);
  const error = parsed.success ? parsed.data.error : undefined;
  const text =
    error?.detail ??
    error?.message ??
    error?.title ??
    (typeof response.body === 'string' ? response.body : '');
  const reason = text.slice(0, 500) || `HTTP ${response.status}`;
  const details = { provider: 'oxen', status: response.status, requestId };
  const message = `Oxen.ai: ${reason}`;
  if (/insufficient credits?/i.test(text)) return new InsufficientCreditError(message, details);
  if (error?.type === 'content_policy' || /content polic|safety system|moderation/i.test(text))
    return new ContentPolicyError(message, details);
  if (/model not found/i.test(text) || error?.type === 'resource_not_found')
    return new NotFoundError(message, details);
  if (response.status === 401 || response.status === 403) return new AuthenticationError(message, details);
  if (response.status === 400 || response.status === 422) {
    const field = /^([a-z_]+): /.exec(error?.detail ?? '')?.[1];
    return new BadRequestError(message, details, field === undefined ? [] : [{ field, message: reason }]);
  }
  return errorForStatus(message, details, response.headers);
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
