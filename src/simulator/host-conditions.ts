/**
 * Conditions of one simulated host, set independently of the others (issue 25: routing over several hosts needs hosts
 * that differ): its own rate limit, latency, delay before an async request starts, an outage window and a credit
 * limit. Unset fields fall back to the simulator-wide settings.
 */
import type { ProviderName } from '../shared/config.js';
import type { FaultRule } from './faults.js';

/** What one host is like now. */
export interface HostConditions {
  /** Submissions per minute it allows (token bucket, one second of burst); 429 with Retry-After past it. */
  rateLimitPerMinute?: number;
  /** Delay before a synchronous answer, and running time of an async request, ms. */
  latencyMs?: number;
  /** How long an async request waits queued before it starts, ms (so start deadlines pass). */
  startDelayMs?: number;
  /**
   * A window (ms since the epoch) in which the host is down: every submission is answered 503 with the host's own
   * error body, and nothing is made or billed.
   */
  outage?: { fromMs: number; untilMs: number };
  /** Submissions the account can still pay for; past them, the host's own "out of credit" answer. */
  creditSubmissions?: number;
}

/**
 * Each host's out-of-credit answer: OpenAI a 429 `insufficient_quota` (help.openai.com "Error Code 429 - You exceeded
 * your current quota"), fal a 403 for a locked account, Replicate, Oxen.ai and WaveSpeedAI a 402 (each API's own body
 * for the status).
 */
const CREDIT_OUT: Record<ProviderName, Pick<FaultRule, 'status' | 'body'>> = {
  openai: {
    status: 429,
    body: {
      error: {
        message: 'You exceeded your current quota, please check your plan and billing details.',
        type: 'insufficient_quota',
        code: 'insufficient_quota',
        param: null,
      },
    },
  },
  fal: { status: 403 },
  replicate: { status: 402 },
  oxen: { status: 402 },
  wavespeed: { status: 402 },
};

/** The conditions of every host of one simulator, and the credit each has used. */
export class HostConditionBook {
  private readonly conditions = new Map<ProviderName, HostConditions>();
  private readonly creditUsed = new Map<ProviderName, number>();

  /** Set (replace) `provider`'s conditions; its credit count starts again. */
  set(provider: ProviderName, conditions: HostConditions): void {
    this.conditions.set(provider, { ...conditions });
    this.creditUsed.delete(provider);
  }

  /** Drop every host's conditions. */
  clear(): void {
    this.conditions.clear();
    this.creditUsed.clear();
  }

  of(provider: ProviderName): HostConditions {
    return this.conditions.get(provider) ?? {};
  }

  /**
   * The answer the host's conditions give a submission now — 503 in an outage, its out-of-credit answer once the
   * credit is used up — or undefined (then the submission counts against the credit).
   */
  faultNow(provider: ProviderName, now = Date.now()): FaultRule | undefined {
    const conditions = this.of(provider);
    const outage = conditions.outage;
    if (outage !== undefined && now >= outage.fromMs && now < outage.untilMs)
      return { provider, status: 503 };
    if (conditions.creditSubmissions === undefined) return undefined;
    const used = this.creditUsed.get(provider) ?? 0;
    if (used >= conditions.creditSubmissions) return { provider, ...CREDIT_OUT[provider] };
    this.creditUsed.set(provider, used + 1);
    return undefined;
  }
}

/**
 * Take one token from `provider`'s bucket in `buckets` (`perMinute` tokens a minute, one second of burst).
 * @returns 0 when taken, else the ms until a token is there.
 */
export function takeToken(
  buckets: Map<ProviderName, { tokens: number; at: number }>,
  provider: ProviderName,
  perMinute: number,
): number {
  const capacity = Math.max(1, perMinute / 60);
  const now = Date.now();
  const bucket = buckets.get(provider) ?? { tokens: capacity, at: now };
  bucket.tokens = Math.min(capacity, bucket.tokens + ((now - bucket.at) * perMinute) / 60_000);
  bucket.at = now;
  buckets.set(provider, bucket);
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1;
    return 0;
  }
  return ((1 - bucket.tokens) * 60_000) / perMinute;
}
