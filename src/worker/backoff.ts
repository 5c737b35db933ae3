/**
 * Delay before a job's next attempt: the provider's own Retry-After when its error carried one, else AWS "full
 * jitter" — a random delay in [0, min(cap, base × 2^(attempt−1))] — so that many failed jobs do not retry in step.
 * Source: aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/ (reliability.md [19]).
 */
import type { BackoffStrategy } from 'bullmq';

/** Options of the backoff: base and cap in ms. */
export interface BackoffSettings {
  baseDelayMs: number;
  maxDelayMs: number;
}

/** The delay in ms before attempt `attemptsMade + 1`. `random` is injectable for tests. */
export function fullJitterDelay(
  attemptsMade: number,
  settings: BackoffSettings,
  retryAfterMs?: number,
  random: () => number = Math.random,
): number {
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, settings.maxDelayMs);
  const ceiling = Math.min(settings.maxDelayMs, settings.baseDelayMs * 2 ** Math.max(0, attemptsMade - 1));
  return Math.floor(random() * ceiling);
}

/** The BullMQ `backoffStrategy` worker setting. */
export function providerBackoffStrategy(settings: BackoffSettings): BackoffStrategy {
  return (attemptsMade, _type, error) => {
    const retryAfterMs = (error as { retryAfterMs?: unknown } | undefined)?.retryAfterMs;
    return fullJitterDelay(
      attemptsMade,
      settings,
      typeof retryAfterMs === 'number' ? retryAfterMs : undefined,
    );
  };
}
