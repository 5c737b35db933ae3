import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { OxenProvider } from '../../src/providers/oxen/client.js';
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
const jobsImages = path.resolve('jobs/images');

const generate: ImageRequest = {
  operation: 'generate',
  prompt: 'an ox on a road',
  inputImages: [],
  resolution: '1920x1080',
  numImages: 2,
  outputFormat: 'webp',
};

describe('Oxen.ai request bodies (seeded schema)', () => {
  it('sends exactly the documented generate fields, with the default model', async () => {
    expect(await provider.buildBody(generate)).toEqual({
      model: 'gpt-image-2',
      prompt: 'an ox on a road',
      resolution: '1920x1080',
      num_images: 2,
      output_format: 'webp',
    });
  });

  it('sends local input images and the mask as data URIs to the edit model', async () => {
    const body: Record<string, any> = await provider.buildBody({
      ...generate,
      operation: 'edit',
      inputImages: [path.join(jobsImages, 'garden.jpg'), 'https://example.com/b.png'],
      mask: path.join(jobsImages, 'garden-sky-mask.png'),
      quality: 'high',
    });
    expect(body.model).toBe('gpt-image-2-edit');
    expect(body.quality).toBe('high');
    expect(body.input_image?.[0]).toMatch(/^data:image\/jpeg;base64,\/9j\//);
    expect(body.input_image?.[1]).toBe('https://example.com/b.png');
    expect(body.mask_url).toMatch(/^data:image\/png;base64,iVBOR/);
  });

  it('uses the model a row names', async () => {
    expect((await provider.buildBody({ ...generate, model: 'gpt-image-2-2026-04-21' })).model).toBe(
      'gpt-image-2-2026-04-21',
    );
  });

  it('refuses a local file that is not an image', async () => {
    await expect(
      provider.buildBody({ ...generate, operation: 'edit', inputImages: [path.resolve('package.json')] }),
    ).rejects.toThrow(/not a PNG, JPEG, WebP or GIF/);
  });
});

describe('what Oxen.ai serves', () => {
  it('accepts its six sizes, quality high and up to 4 images', () => {
    expect(
      provider.checkRequest({ ...generate, resolution: '3840x2160', quality: 'high', numImages: 4 }),
    ).toEqual([]);
  });

  it('names the field of a size, quality or count it does not serve', () => {
    const errors = provider.checkRequest({ ...generate, resolution: '2048x2048', quality: 'low' });
    expect(errors.map((error) => error.field)).toEqual(['resolution', 'quality']);
    expect(errors[0]?.message).toMatch(/1024x768, 1024x1024/);
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
