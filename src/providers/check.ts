/**
 * `image-batch providers --check`: one call per provider that costs nothing (a model schema, a price list, a balance)
 * to show that a key works and what the host serves now, before a batch spends.
 */
import { describeError, type ProviderError } from '../shared/errors.js';
import { getOnce, type HttpCallOptions, type HttpResponse } from './http.js';

/** What the free call showed. */
export interface ProviderCheck {
  /** True when the provider answered 200 with a readable body. */
  ok: boolean;
  /** One line for people. Never contains the key. */
  summary: string;
  /** What the host said, for `--json`. */
  details: Record<string, unknown>;
}

/**
 * GET `url` and describe the answer with `read`; a non-200 answer is described by the adapter's own error mapping.
 * Never throws: a failure is `{ok: false}` with the reason.
 */
export async function checkedGet(
  url: string,
  options: () => HttpCallOptions,
  errorFor: (response: HttpResponse) => ProviderError,
  read: (body: unknown) => { summary: string; details?: Record<string, unknown> },
): Promise<ProviderCheck> {
  try {
    const response = await getOnce(url, options());
    if (response.status !== 200) {
      const error = errorFor(response);
      return { ok: false, summary: `${error.code}: ${error.message}`, details: { status: response.status } };
    }
    const { summary, details } = read(response.body);
    return { ok: true, summary, details: details ?? {} };
  } catch (error) {
    return { ok: false, summary: describeError(error), details: {} };
  }
}

/** `value` as a record, or an empty one. */
export function recordOf(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}
