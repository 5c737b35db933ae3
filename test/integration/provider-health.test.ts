/**
 * The circuit breaker shared through Redis (src/batch/provider-health.ts): while a host is failing, every outage-like
 * failure keeps the breaker open, so the rows that fail there keep their attempts (src/worker/error-policy.ts).
 */
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { ProviderHealth } from '../../src/batch/provider-health.js';
import { deleteKeysWithPrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';

const prefix = uniquePrefix();
const redis = new Redis(redisUrl(), { maxRetriesPerRequest: null });
afterAll(async () => {
  await deleteKeysWithPrefix(prefix);
  redis.disconnect();
});

describe('circuit breaker', () => {
  it('opens at the threshold, stays open for failures inside its pause, and doubles for a failed probe after it', async () => {
    const health = new ProviderHealth(redis, prefix, { threshold: 2, openMs: 300 });
    expect(await health.recordFailure('openai')).toBeUndefined();
    expect(await health.recordFailure('openai')).toBe(300);
    expect(await health.failing('openai')).toBe(true);
    // Rows that were in flight fail inside the pause: the breaker is open for them too (no attempt used).
    expect(await health.recordFailure('openai')).toBe(300);
    expect(await health.recordFailure('openai')).toBe(300);
    await new Promise((resolve) => setTimeout(resolve, 350));
    // The probe after the pause fails: open again, for twice as long.
    expect(await health.recordFailure('openai')).toBe(600);
    await health.recordSuccess('openai');
    expect(await health.failing('openai')).toBe(false);
    expect(await health.recordFailure('openai')).toBeUndefined();
  });
});
