import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { OxenProvider } from '../../src/providers/oxen/client.js';
import { readOxenPricing, servedUsdPerImage } from '../../src/providers/oxen/served-pricing.js';
import type { ImageRequest } from '../../src/providers/provider.js';
import {
  AuthenticationError,
  BadRequestError,
  ContentPolicyError,
  InsufficientCreditError,
  NotFoundError,
  RateLimitedError,
  ServerError,
} from '../../src/shared/errors.js';

const provider = new OxenProvider({ apiKey: 'sk-test', baseUrl: 'http://127.0.0.1:1', timeoutMs: 1000 });
const sync = new OxenProvider({
  apiKey: 'sk-test',
  baseUrl: 'http://127.0.0.1:1',
  timeoutMs: 1000,
  mode: 'sync',
});
const jobsImages = path.resolve('jobs/images');

const generate: ImageRequest = {
  operation: 'generate',
  prompt: 'an ox on a road',
  inputImages: [],
  resolution: '1920x1080',
  numImages: 1,
  outputFormat: 'webp',
};

describe("Oxen.ai request bodies (gpt-image-2's current schema, built in)", () => {
  it('sends the nearest aspect ratio at the smallest 1K/2K/4K tier delivering the size, and no num_images', async () => {
    expect(await sync.buildBody(generate)).toEqual({
      model: 'gpt-image-2',
      prompt: 'an ox on a road',
      aspect_ratio: '16:9',
      resolution: '2K',
      output_format: 'webp',
    });
    expect(sync.sizeParameters({ ...generate, resolution: '1024x1536' })).toEqual({
      aspect_ratio: '2:3',
      resolution: '2K',
    });
    expect(sync.sizeParameters({ ...generate, resolution: '2560x1440' })).toEqual({
      aspect_ratio: '16:9',
      resolution: '4K',
    });
    expect(sync.sizeParameters({ ...generate, resolution: '3840x2160' })).toEqual({
      aspect_ratio: '16:9',
      resolution: '4K',
    });
  });

  it('sends edits to gpt-image-2 with input_image and mask_url (local files as data URIs)', async () => {
    const body: Record<string, any> = await provider.buildBody({
      ...generate,
      operation: 'edit',
      inputImages: [path.join(jobsImages, 'garden.jpg'), 'https://example.com/b.png'],
      mask: path.join(jobsImages, 'garden-sky-mask.png'),
      quality: 'medium',
    });
    expect(body.model).toBe('gpt-image-2');
    expect(body.quality).toBe('medium');
    expect(body.input_image?.[0]).toMatch(/^data:image\/jpeg;base64,\/9j\//);
    expect(body.input_image?.[1]).toBe('https://example.com/b.png');
    expect(body.mask_url).toMatch(/^data:image\/png;base64,iVBOR/);
  });

  it('refuses a local file that is not an image', async () => {
    await expect(
      provider.buildBody({ ...generate, operation: 'edit', inputImages: [path.resolve('package.json')] }),
    ).rejects.toThrow(/not a PNG, JPEG, WebP or GIF/);
  });
});

describe('what Oxen.ai serves', () => {
  it('takes any size (nearest ratio and tier), qualities low to high, up to 4 images through the queue', () => {
    expect(
      provider.checkRequest({ ...generate, resolution: '1000x1000', quality: 'low', numImages: 4 }),
    ).toEqual([]);
  });

  it('names the field of a quality, count or model it does not serve', () => {
    expect(
      provider.checkRequest({ ...generate, quality: 'xhigh', numImages: 5 }).map((error) => error.field),
    ).toEqual(['quality', 'num_images']);
    expect(provider.checkRequest({ ...generate, model: 'gpt-image-9' })[0]).toMatchObject({
      field: 'model',
      message: expect.stringMatching(/no model "gpt-image-9".*gpt-image-2/),
    });
  });

  it('sync mode: the schema has no num_images, so a row of 2–4 images is made one call per image', () => {
    expect(sync.checkRequest({ ...generate, numImages: 2 })).toEqual([]);
    expect(sync.imagesPerCall({ ...generate, numImages: 3 })).toBe(1);
    expect(provider.imagesPerCall({ ...generate, numImages: 3 })).toBe(3);
    expect(sync.checkRequest({ ...generate, numImages: 5 })).toEqual([
      { field: 'num_images', message: expect.stringMatching(/at most 4 image/) },
    ]);
  });
});

describe('Oxen.ai error answers', () => {
  const answer = (status: number, body: unknown, headers: Record<string, string> = {}) =>
    provider.errorFor({ status, body, headers }, 'req-1');

  it('maps invalid_params to a bad request naming the field', () => {
    const error = answer(400, {
      error: {
        type: 'invalid_params',
        title: 'Invalid parameters',
        detail: 'resolution: must be one of ...',
      },
      status: 'error',
      status_message: 'invalid_params',
    });
    expect(error).toBeInstanceOf(BadRequestError);
    expect((error as BadRequestError).fieldErrors).toEqual([
      { field: 'resolution', message: 'resolution: must be one of ...' },
    ]);
    expect(error.retryable).toBe(false);
    expect(error.requestId).toBe('req-1');
  });

  it.each([
    [401, { error: { type: 'unauthorized', detail: 'bad key' } }, {}, AuthenticationError],
    [402, { error: { message: 'Insufficient credits' } }, {}, InsufficientCreditError],
    [400, { error: { message: 'Insufficient credits' } }, {}, InsufficientCreditError],
    [404, { error: { message: 'Model not found: gpt-image-9' } }, {}, NotFoundError],
    [
      400,
      { error: { type: 'content_policy', detail: 'rejected by the safety system' } },
      {},
      ContentPolicyError,
    ],
    [429, { error: { detail: 'slow down' } }, { 'retry-after': '7' }, RateLimitedError],
    [500, 'upstream exploded', {}, ServerError],
    [503, { error: { detail: 'overloaded' } }, {}, ServerError],
  ])('status %s %j is a %s', (status, body, headers, type) => {
    expect(answer(status, body, headers)).toBeInstanceOf(type);
  });

  it('keeps the Retry-After of a 429 in ms', () => {
    expect((answer(429, {}, { 'retry-after': '7' }) as RateLimitedError).retryAfterMs).toBe(7000);
  });
});

describe("Oxen.ai's served pricing object", () => {
  it('reads cost_per_image, and a per-tier grid where it holds a number for the tier (and quality)', () => {
    const flat = readOxenPricing({ pricing: { method: 'per_image', cost_per_image: 0.2 } })!;
    expect(servedUsdPerImage(flat, '2K', 'high')).toBe(0.2);
    const byTier = readOxenPricing({
      pricing: { method: 'per_image', cost_per_image: 0.2, cost_per_image_grid: { '1K': 0.1, '4K': 0.4 } },
    })!;
    expect(servedUsdPerImage(byTier, '1K', 'low')).toBe(0.1);
    expect(servedUsdPerImage(byTier, '4K', 'low')).toBe(0.4);
    // No grid figure for 2K: the flat figure applies.
    expect(servedUsdPerImage(byTier, '2K', 'low')).toBe(0.2);
    const byTierAndQuality = readOxenPricing({
      pricing: { cost_per_image_grid: { '1k': { low: 0.01, high: 0.2 } } },
    })!;
    expect(servedUsdPerImage(byTierAndQuality, '1K', 'high')).toBe(0.2);
    expect(servedUsdPerImage(byTierAndQuality, '1K', 'medium')).toBeUndefined();
    const byQualityAndTier = readOxenPricing({
      pricing: { cost_per_image_grid: { medium: { '2K': 0.07 } } },
    })!;
    expect(servedUsdPerImage(byQualityAndTier, '2K', 'medium')).toBe(0.07);
  });

  it('serves nothing for token-billed, empty, negative or missing pricing', () => {
    expect(readOxenPricing({ pricing: { method: 'token', input_cost_per_token: 3e-6 } })).toBeUndefined();
    expect(readOxenPricing({ pricing: { cost_per_image: -1 } })).toBeUndefined();
    expect(readOxenPricing({ pricing: null })).toBeUndefined();
    expect(readOxenPricing('not a model')).toBeUndefined();
  });
});
