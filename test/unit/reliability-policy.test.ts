import { describe, expect, it } from 'vitest';
import { fullJitterDelay } from '../../src/worker/backoff.js';
import { limiterFor } from '../../src/worker/host-worker.js';

describe('limiterFor', () => {
  it.each([
    [5, { max: 1, duration: 12_120 }],
    [600, { max: 1, duration: 101 }],
    [1200, { max: 1, duration: 51 }],
    [6000, { max: 98, duration: 1000 }],
    [60_000, { max: 980, duration: 1000 }],
  ])('%s requests/min paces as %j (never above the rate in any sliding minute)', (perMinute, expected) => {
    const limiter = limiterFor(perMinute);
    expect(limiter).toEqual(expected);
    const slidingMinuteWorst =
      limiter.duration === 1000 ? limiter.max * 61 : (limiter.max * 60_000) / limiter.duration;
    expect(slidingMinuteWorst).toBeLessThanOrEqual(perMinute);
    expect((limiter.max * 60_000) / limiter.duration).toBeGreaterThanOrEqual(perMinute * 0.95);
  });
});

describe('fullJitterDelay', () => {
  const settings = { baseDelayMs: 1000, maxDelayMs: 8000 };
  it('draws from [0, base × 2^(attempt-1)], capped', () => {
    expect(fullJitterDelay(1, settings, undefined, () => 0.999)).toBe(999);
    expect(fullJitterDelay(3, settings, undefined, () => 0.5)).toBe(2000);
    expect(fullJitterDelay(10, settings, undefined, () => 0.999)).toBe(7992);
    expect(fullJitterDelay(4, settings, undefined, () => 0)).toBe(0);
  });

  it("takes the provider's Retry-After when there is one, capped", () => {
    expect(fullJitterDelay(1, settings, 3000, () => 0)).toBe(3000);
    expect(fullJitterDelay(1, settings, 60_000, () => 0)).toBe(8000);
  });
});
