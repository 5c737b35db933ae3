/**
 * What each provider × model accepts, checked before any paid call: a row its model cannot honour is refused with the
 * provider's own limit, a row it can is let through. No network: the capability tables and the adapters' checks only.
 */
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { toOpenAIMask } from '../../src/providers/openai/mask.js';
import type { ImageProvider, ImageRequest } from '../../src/providers/provider.js';
import { createProvider, loadConfig } from '../../src/providers/configuration.js';
import { type ProviderName } from '../../src/shared/config.js';

const config = loadConfig({});
const providers = Object.fromEntries(
  (['oxen', 'fal', 'openai', 'replicate', 'wavespeed'] as const).map((name) => [
    name,
    createProvider(name, config),
  ]),
) as Record<ProviderName, ImageProvider>;
const images = path.resolve('jobs/images');

const generate = (overrides: Partial<ImageRequest> = {}): ImageRequest => ({
  operation: 'generate',
  prompt: 'a paper boat on a pond',
  inputImages: [],
  resolution: '1024x1024',
  numImages: 1,
  outputFormat: 'png',
  ...overrides,
});
const edit = (overrides: Partial<ImageRequest> = {}): ImageRequest =>
  generate({ operation: 'edit', inputImages: [path.join(images, 'dune.jpg')], ...overrides });
const GIF = 'data:image/gif;base64,R0lGODlhAQABAAAAACw=';

describe('refused before any paid call, naming the field and the limit', () => {
  it.each([
    // OpenAI: what its API refuses (openai-openapi CreateImageRequest / CreateImageEditRequest).
    ['openai', generate({ resolution: '768x768' }), 'resolution', /at least 655,360 pixels/],
    ['openai', generate({ resolution: '1000x1000' }), 'resolution', /multiples of 16 \(e\.g\. 1008x1008\)/],
    [
      'openai',
      generate({ outputCompression: 80 }),
      'output_compression',
      /jpeg and webp output only, not png/,
    ],
    ['openai', generate({ background: 'transparent', outputFormat: 'jpeg' }), 'background', /png or webp/],
    ['openai', edit({ inputImages: [GIF] }), 'image_urls', /does not read image\/gif/],
    ['openai', generate({ numImages: 11 }), 'num_images', /at most 10/],
    ['openai', edit({ moderation: 'low' }), 'moderation', /no moderation setting for edit/],
    ['openai', generate({ quality: 'xhigh' }), 'quality', /gpt-image-2: quality is one of low, medium, high/],
    [
      'openai',
      generate({ modelParameters: { input_fidelity: 'high' } }),
      'input_fidelity',
      /invalid_input_fidelity_model/,
    ],
    ['openai', generate({ modelParameters: { response_format: 'url' } }), 'response_format', /always answer/],
    ['openai', generate({ model: 'dall-e-3' }), 'model', /no model "dall-e-3".*gpt-image-2\.5-sunburst/],
    ['fal', generate({ resolution: '1920x1080' }), 'resolution', /multiples of 16 \(e\.g\. 1920x1088\)/],
    ['fal', generate({ resolution: '512x512' }), 'resolution', /655,360 pixels/],
    ['fal', generate({ background: 'opaque' }), 'background', /no background setting/],
    [
      'replicate',
      generate({ resolution: '1024x768' }),
      'resolution',
      /makes only 1024x1024, 1536x1024, .*3840x2160/,
    ],
    ['replicate', edit({ mask: path.join(images, 'garden-sky-mask.png') }), 'mask_url', /takes no mask/],
    ['wavespeed', generate({ numImages: 2 }), 'num_images', /at most 1 image/],
    ['wavespeed', edit({ mask: path.join(images, 'garden-sky-mask.png') }), 'mask_url', /takes no mask/],
    ['oxen', generate({ numImages: 5 }), 'num_images', /at most 4/],
  ] as const)('%s: %o', (name, request, field, message) => {
    expect(providers[name].checkRequest(request)).toContainEqual({
      field,
      message: expect.stringMatching(message),
    });
  });
});

describe('accepted as the published schemas allow', () => {
  it.each([
    ['openai', generate({ model: 'gpt-image-2.5-sunburst', quality: 'max' })],
    [
      'openai',
      generate({ model: 'gpt-image-2.5-flare-2026-09-08', quality: 'xhigh', resolution: '3840x2160' }),
    ],
    ['openai', generate({ background: 'transparent', outputFormat: 'webp', outputCompression: 70 })],
    ['openai', generate({ resolution: '1024x640', numImages: 10 })],
    ['replicate', generate({ resolution: '2048x1152', numImages: 10, background: 'transparent' })],
    ['replicate', edit({ resolution: '2160x3840', moderation: 'low' })],
    // WaveSpeed: any size; the nearest ratio and tier are sent (the seed's own 2:3 and 3:2 at common sizes).
    ['wavespeed', generate({ resolution: '1024x1536' })],
    ['wavespeed', edit({ resolution: '1536x1024', quality: 'high' })],
    ['wavespeed', generate({ resolution: '1920x1080' })],
    ['oxen', generate({ resolution: '1536x1024', quality: 'low', numImages: 4 })],
    [
      'fal',
      edit({
        resolution: '1536x1024',
        quality: 'low',
        numImages: 4,
        mask: path.join(images, 'garden-sky-mask.png'),
      }),
    ],
  ] as const)('%s: %o', (name, request) => {
    expect(providers[name].checkRequest(request)).toEqual([]);
  });

  it('WaveSpeedAI: sends the smallest tier that delivers at least the size asked for', () => {
    // 2:3 at 1k delivers at least 683x1024 by the pessimistic reading: too few pixels for 1024x1536.
    expect(providers.wavespeed.sizeParameters?.(generate({ resolution: '1024x1536' }))).toEqual({
      aspect_ratio: '2:3',
      resolution: '2k',
    });
    expect(providers.wavespeed.sizeParameters?.(generate({ resolution: '3840x2160' }))).toEqual({
      aspect_ratio: '16:9',
      resolution: '4k',
    });
    // 16:9 at 2k is 2048x1152: fewer pixels than 2560x1440.
    expect(providers.wavespeed.sizeParameters?.(generate({ resolution: '2560x1440' }))).toEqual({
      aspect_ratio: '16:9',
      resolution: '4k',
    });
    expect(providers.wavespeed.sizeParameters?.(generate({ resolution: '1024x1024' }))).toEqual({
      aspect_ratio: '1:1',
      resolution: '1k',
    });
  });

  it('WaveSpeedAI: sends only the ten ratios its current API pages list', () => {
    for (const resolution of ['1024x2048', '2048x1024', '720x2160', '2160x720', '912x2128']) {
      const ratio = providers.wavespeed.sizeParameters?.(generate({ resolution }))?.aspect_ratio;
      expect(['1:1', '3:2', '2:3', '3:4', '4:3', '4:5', '5:4', '9:16', '16:9', '21:9']).toContain(ratio);
    }
    expect(providers.wavespeed.checkRequest(generate({ aspectRatio: '1:2' }))).toEqual([
      expect.objectContaining({ field: 'aspect_ratio' }),
    ]);
  });
});

describe("OpenAI masks: the manifest's white = edit becomes alpha 0 = edit", () => {
  it('converts an opaque white/black mask to alpha at the first image size, as a PNG with an alpha channel', async () => {
    const mask = await sharp(path.join(images, 'garden-sky-mask.png')).removeAlpha().png().toBuffer();
    const converted = await toOpenAIMask(mask, { width: 768, height: 512 });
    const metadata = await sharp(converted).metadata();
    expect([metadata.format, metadata.width, metadata.height, metadata.hasAlpha]).toEqual([
      'png',
      768,
      512,
      true,
    ]);
    const alpha = await sharp(converted).extractChannel(3).raw().toBuffer();
    // The mask is white over the top 96 of 256 rows: transparent (edit) at the top, opaque (keep) below.
    expect(alpha[10 * 768 + 100]).toBe(0);
    expect(alpha[500 * 768 + 100]).toBe(255);
  });

  it('keeps a mask already in OpenAI form (transparent = edit), resized', async () => {
    const openaiForm = await sharp({
      create: { width: 100, height: 100, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } },
    })
      .png()
      .toBuffer();
    const converted = await toOpenAIMask(openaiForm, { width: 200, height: 50 });
    const alpha = await sharp(converted).extractChannel(3).raw().toBuffer();
    expect(Math.max(...alpha)).toBe(0);
    expect((await sharp(converted).metadata()).width).toBe(200);
  });
});

describe('OpenAI input images', () => {
  const png = (bytes: number) => {
    const buffer = Buffer.alloc(bytes, 1);
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(buffer);
    return `data:image/png;base64,${buffer.toString('base64')}`;
  };
  const openai = providers.openai as unknown as {
    imageBytes(reference: string, signal: AbortSignal, field: string): Promise<{ bytes: Buffer }>;
  };

  it('takes an input of 30 MB ("less than 50MB", openai-openapi CreateImageEditRequest.image)', async () => {
    const { bytes } = await openai.imageBytes(png(30_000_000), AbortSignal.timeout(10_000), 'image_urls');
    expect(bytes.length).toBe(30_000_000);
  });

  it('refuses one of 50 MB, naming the limit', async () => {
    await expect(
      openai.imageBytes(png(50_000_000), AbortSignal.timeout(10_000), 'image_urls'),
    ).rejects.toThrow(/under 50 MB/);
  });
});
