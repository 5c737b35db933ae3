/**
 * A host's images and tokens a minute, shared through Redis (src/worker/host-capacity.ts): a row takes its images and
 * tokens or waits without taking any; a lower limit the host announced holds over the configured one.
 */
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import type { ImageRequest } from '../../src/shared/job-definitions.js';
import { HostCapacity, rowTokens } from '../../src/worker/host-capacity.js';
import { deleteKeysWithPrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';

const prefix = uniquePrefix();
const redis = new Redis(redisUrl(), { maxRetriesPerRequest: null });
afterAll(async () => {
  await deleteKeysWithPrefix(prefix);
  redis.disconnect();
});

const request = (numImages: number): ImageRequest => ({
  operation: 'generate',
  prompt: 'a lighthouse at dusk',
  inputImages: [],
  resolution: '1024x1024',
  quality: 'low',
  numImages,
  outputFormat: 'png',
});

describe('host capacity', () => {
  it('counts a row of 4 images as 4: with 6 a minute, the first row goes and the second waits, taking nothing', async () => {
    const capacity = new HostCapacity(redis, prefix);
    const limits = { requestsPerMinute: 0, imagesPerMinute: 6, tokensPerMinute: 0 };
    expect(await capacity.take('fal', request(4), limits)).toBe(0);
    const waitMs = await capacity.take('fal', request(4), limits);
    // 4 more images at 6 a minute: about 40 s.
    expect(waitMs).toBeGreaterThan(30_000);
    // A row of one fits later than now too: the bucket was left as it was (nothing taken by the refused row).
    expect(await capacity.take('fal', request(1), limits)).toBeGreaterThan(0);
  });

  it('counts tokens as OpenAI does, and a lower limit the host announced wins over the configured one', async () => {
    const capacity = new HostCapacity(redis, prefix);
    const tokens = rowTokens(request(1));
    expect(tokens).toBeGreaterThan(190);
    // Configured: room for 100 rows a second; announced by the host: room for one row in a minute.
    const limits = { requestsPerMinute: 6000, imagesPerMinute: 0, tokensPerMinute: tokens * 6000 };
    expect(await capacity.take('openai', request(1), limits)).toBe(0);
    await capacity.learn('openai', { tokensPerMinute: tokens, requestsPerMinute: 5 });
    expect(await capacity.announced('openai')).toEqual({ tokensPerMinute: tokens, requestsPerMinute: 5 });
    expect(await capacity.take('openai', request(1), limits)).toBe(0);
    expect(await capacity.take('openai', request(1), limits)).toBeGreaterThan(10_000);
  });

  it('a lower request rate the host announced is held (the queue limiter paces only the configured one)', async () => {
    const capacity = new HostCapacity(redis, prefix);
    const limits = { requestsPerMinute: 600, imagesPerMinute: 0, tokensPerMinute: 0 };
    // Nothing announced: the queue's limiter alone paces requests, nothing is taken here.
    expect(await capacity.take('replicate', request(1), limits)).toBe(0);
    expect(await capacity.take('replicate', request(1), limits)).toBe(0);
    await capacity.learn('replicate', { requestsPerMinute: 30 });
    expect(await capacity.take('replicate', request(1), limits)).toBe(0);
    // 30 a minute: the next request waits about 2 s.
    expect(await capacity.take('replicate', request(1), limits)).toBeGreaterThan(1000);
  });
});
