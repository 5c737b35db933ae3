/**
 * The timeline's arithmetic: which latency bucket a request falls in, the p50/p95 read from bucket counts, and the
 * batches page's sparkline.
 */
import { describe, expect, it } from 'vitest';
import { LATENCY_BOUNDS_MS, latencyBucketOf, percentileOf } from '../../src/batch/timeline.js';
import { sparkline } from '../../src/dashboard/charts.js';

describe('latency buckets', () => {
  it.each([
    [0, 0],
    [250, 0],
    [251, 1],
    [700, 2],
    [1000, 2],
    [29_999, 7],
    [600_000, 11],
    [600_001, 12],
  ])('%d ms falls in bucket %d', (ms, bucket) => {
    expect(latencyBucketOf(ms)).toBe(bucket);
  });

  it('reads p50 and p95 as the bound of the bucket the rank falls in', () => {
    // 90 requests under 1 s, 10 between 15 and 30 s.
    const buckets: number[] = [];
    buckets[latencyBucketOf(800)] = 90;
    buckets[latencyBucketOf(20_000)] = 10;
    expect(percentileOf(buckets, 0.5)).toBe(1000);
    expect(percentileOf(buckets, 0.9)).toBe(1000);
    expect(percentileOf(buckets, 0.95)).toBe(30_000);
    expect(percentileOf([], 0.5)).toBeNull();
    const slowest: number[] = [];
    slowest[LATENCY_BOUNDS_MS.length] = 1;
    expect(percentileOf(slowest, 0.5)).toBe(LATENCY_BOUNDS_MS.at(-1)! * 2);
  });
});

describe('sparkline', () => {
  it('draws one point per minute, scaled to the busiest, and says the total', () => {
    const svg = sparkline([0, 2, 4, 2]);
    expect(svg).toContain('aria-label="8 rows finished in the last hour"');
    const points = /points="([^"]*)"/.exec(svg)![1]!.split(' ');
    expect(points).toEqual(['0.0,23.0', '40.0,12.0', '80.0,1.0', '120.0,12.0']);
  });

  it('shows a dash for an hour without a finished row', () => {
    expect(sparkline(new Array(60).fill(0))).not.toContain('<svg');
  });
});
