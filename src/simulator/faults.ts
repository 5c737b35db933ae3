/**
 * Faults on demand: what an injected fault is, and how a simulated API answers a submission with one (a hang, a status
 * with the provider's own error body, Retry-After in the form asked for, a spoiled output).
 */
import type { ProviderName } from '../shared/config.js';

/** One injected fault, consumed by the next matching paid submission(s). */
export interface FaultRule {
  /** Provider it applies to. Default: any. */
  provider?: ProviderName;
  /** Which operation it applies to. Default: any. */
  operation?: 'generate' | 'edit' | 'any';
  /** How many submissions it applies to. Default 1. */
  times?: number;
  /** Matching submissions to let through untouched before it applies. Default 0. */
  after?: number;
  /** HTTP status to answer the submission with (429, 500, 400, 401, 402, ...). */
  status?: number;
  /** The wait to ask for, in seconds, for 429/503; sent as `retry-after` in the form `retryAfterForm` says. */
  retryAfterSeconds?: number;
  /** `seconds` (default), `http-date`, or `milliseconds` (`retry-after-ms`). */
  retryAfterForm?: 'seconds' | 'http-date' | 'milliseconds';
  /** Set by the simulator: when the wait it asks for ends (ms since epoch). */
  retryAfterUntil?: number;
  /** Accept the submission and never answer. */
  hang?: boolean;
  /** Accept an async submission, then let the task fail with this message. */
  taskFailure?: string;
  /** Error body; default: the provider's documented error body for the status. */
  body?: unknown;
  /**
   * Spoil the outputs of the next submission instead of answering with an error: `truncated` — the first download
   * of each image stops halfway (Content-Length promises more); `bomb` — each image is a PNG whose header claims
   * 30000x30000 pixels.
   */
  output?: 'truncated' | 'bomb';
}

/**
 * Answer a submission with its injected fault: leave it hanging, or reply the fault's status with the fault's body,
 * else the provider's own body for that status (`bodyFor`), with the Retry-After headers the fault asks for.
 * @returns true when the fault answered (or hung) the submission; false when there is no status to give and the
 * route goes on.
 */
export function answeredByFault(
  fault: FaultRule | undefined,
  reply: (status: number, payload: unknown, headers?: Record<string, string>) => void,
  bodyFor: (status: number) => unknown,
  extraHeaders: Record<string, string> = {},
): boolean {
  if (fault?.hang === true) return true;
  if (fault?.status === undefined) return false;
  reply(fault.status, fault.body ?? bodyFor(fault.status), { ...retryAfterHeaders(fault), ...extraHeaders });
  return true;
}

/** The Retry-After header of a fault, in the form it asks for. */
export function retryAfterHeaders(fault: FaultRule): Record<string, string> {
  const seconds = fault.retryAfterSeconds;
  if (seconds === undefined) return {};
  if (fault.retryAfterForm === 'milliseconds')
    return { 'retry-after-ms': String(Math.round(seconds * 1000)) };
  if (fault.retryAfterForm === 'http-date') {
    return { 'retry-after': new Date(fault.retryAfterUntil ?? Date.now() + seconds * 1000).toUTCString() };
  }
  return { 'retry-after': String(seconds) };
}
