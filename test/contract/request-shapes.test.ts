/**
 * Contract tests per adapter, against the simulator: the request the provider receives is checked field by field
 * against its documented shape (shared/reference/providers.md, shared/seeds/).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { OxenProvider } from '../../src/providers/oxen/client.js';
import {
  KEY,
  edit,
  generate,
  images,
  lastRequest,
  providers,
  runThrough,
  simulator,
  sizeOf,
  startContractSimulator,
} from './contract-frame.js';

startContractSimulator();

describe('request shapes', () => {
  it('Oxen.ai queue: POST /api/ai/queue, Bearer, the nearest aspect ratio and tier, num_generations', async () => {
    const response = await runThrough(
      providers.oxen,
      generate({ resolution: '1920x1080', outputFormat: 'jpeg', numImages: 2 }),
    );
    const sent = lastRequest();
    expect(sent.path).toBe('/api/ai/queue');
    expect(sent.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(sent.body).toEqual({
      model: 'gpt-image-2',
      prompt: 'a paper boat on a pond',
      aspect_ratio: '16:9',
      resolution: '2K',
      output_format: 'jpeg',
      num_generations: 2,
    });
    expect(response.images).toHaveLength(2);
    expect(await sizeOf(response)).toMatch(/^\d+x\d+ jpeg$/);
  });

  it('Oxen.ai edit: gpt-image-2 with input_image and mask_url as data URIs (gpt-image-2-edit is gone)', async () => {
    await runThrough(
      providers.oxen,
      edit({ mask: path.join(images, 'garden-sky-mask.png'), quality: 'medium' }),
    );
    expect(lastRequest().body).toEqual({
      model: 'gpt-image-2',
      prompt: 'make it autumn',
      aspect_ratio: '1:1',
      resolution: '1K',
      quality: 'medium',
      output_format: 'png',
      input_image: [expect.stringMatching(/^data:image\/jpeg;base64,/)],
      mask_url: expect.stringMatching(/^data:image\/png;base64,/),
      num_generations: 1,
    });
    expect(lastRequest().status).toBe(200);
  });

  it('Oxen.ai sync mode: POST /api/ai/images/edit without num_images (the current schema has none)', async () => {
    const sync = new OxenProvider({ apiKey: KEY, baseUrl: simulator.url, timeoutMs: 10_000, mode: 'sync' });
    const response = await runThrough(sync, edit());
    expect(lastRequest().path).toBe('/api/ai/images/edit');
    expect(lastRequest().body).not.toHaveProperty('num_images');
    expect(lastRequest().body).toMatchObject({
      model: 'gpt-image-2',
      input_image: [expect.any(String)],
      aspect_ratio: '1:1',
      resolution: '1K',
    });
    // 1:1 at 1K as the simulator delivers it (the published GPT Image 2 tier table it follows): at least 1024x1024.
    expect(await sizeOf(response)).toBe('1280x1280 png');
  });

  it('fal.ai: queue submit to the app, Key auth, image_size object; local files through fal storage', async () => {
    const response = await runThrough(
      providers.fal,
      edit({
        resolution: '1536x1024',
        quality: 'medium',
        mask: path.join(images, 'garden-sky-mask.png'),
        outputFormat: 'webp',
      }),
    );
    const sent = lastRequest();
    expect(sent.path).toBe('/openai/gpt-image-2/edit');
    expect(sent.headers.authorization).toBe(`Key ${KEY}`);
    expect(sent.body).toEqual({
      prompt: 'make it autumn',
      image_size: { width: 1536, height: 1024 },
      num_images: 1,
      output_format: 'webp',
      quality: 'medium',
      image_urls: [expect.stringMatching(new RegExp(`^${simulator.url}/files/upload-`))],
      mask_url: expect.stringMatching(/\/files\/upload-/),
    });
    expect(response.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(await sizeOf(response)).toBe('1536x1024 webp');
  });

  it('fal.ai text-to-image goes to openai/gpt-image-2 with no image fields', async () => {
    await runThrough(providers.fal, generate());
    expect(lastRequest().path).toBe('/openai/gpt-image-2');
    expect(lastRequest().body).toEqual({
      prompt: 'a paper boat on a pond',
      image_size: { width: 1024, height: 1024 },
      num_images: 1,
      output_format: 'png',
    });
  });

  it('OpenAI generate: JSON with model always, size, n; never input_fidelity; usage kept whole', async () => {
    const response = await runThrough(
      providers.openai,
      generate({
        resolution: '1536x1024',
        quality: 'low',
        background: 'opaque',
        moderation: 'low',
        outputCompression: 80,
        outputFormat: 'webp',
      }),
    );
    const sent = lastRequest();
    expect(sent.path).toBe('/v1/images/generations');
    expect(sent.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(sent.body).toEqual({
      model: 'gpt-image-2',
      prompt: 'a paper boat on a pond',
      n: 1,
      size: '1536x1024',
      output_format: 'webp',
      quality: 'low',
      output_compression: 80,
      background: 'opaque',
      moderation: 'low',
    });
    expect(response.usage).toMatchObject({
      input_tokens: expect.any(Number),
      output_tokens: expect.any(Number),
      output_tokens_details: { image_tokens: expect.any(Number), text_tokens: 0 },
    });
    expect(response.requestId).toMatch(/^req_/);
    expect(await sizeOf(response)).toBe('1536x1024 webp');
  });

  it('OpenAI edit: multipart image[] parts, the mask converted to alpha at the first image size (accepted)', async () => {
    const response = await runThrough(
      providers.openai,
      edit({
        inputImages: [path.join(images, 'dune.jpg'), path.join(images, 'storm.jpg')],
        mask: path.join(images, 'garden-sky-mask.png'),
        resolution: '1024x1536',
      }),
    );
    const sent = lastRequest();
    expect(sent.path).toBe('/v1/images/edits');
    expect(sent.status).toBe(200);
    expect(String(sent.headers['content-type'])).toMatch(/^multipart\/form-data; boundary=/);
    expect(sent.body).toEqual({
      model: 'gpt-image-2',
      prompt: 'make it autumn',
      n: '1',
      size: '1024x1536',
      output_format: 'png',
      images: 2,
      mask: true,
    });
    expect(await sizeOf(response)).toBe('1024x1536 png');
  });

  it('OpenAI refuses a mask as manifests write it (opaque white/black): it must be converted', async () => {
    const form = new FormData();
    form.append('model', 'gpt-image-2');
    form.append('prompt', 'raw mask');
    const garden = await readFile(path.join(images, 'garden.jpg'));
    form.append('image[]', new Blob([garden], { type: 'image/jpeg' }), 'a.jpg');
    const rgbMask = await sharp(path.join(images, 'garden-sky-mask.png')).removeAlpha().png().toBuffer();
    form.append('mask', new Blob([rgbMask], { type: 'image/png' }), 'mask.png');
    const answer = await fetch(`${simulator.url}/v1/images/edits`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}` },
      body: form,
    });
    expect(answer.status).toBe(400);
    expect(await answer.json()).toMatchObject({ error: { param: 'mask' } });
  });

  it('Replicate: model predictions answered at once (no Prefer: wait), input with aspect_ratio and input_images', async () => {
    const response = await runThrough(
      providers.replicate,
      edit({ resolution: '1024x1536', quality: 'high', outputFormat: 'jpeg' }),
    );
    const sent = lastRequest();
    expect(sent.path).toBe('/replicate/v1/models/openai/gpt-image-2/predictions');
    expect(sent.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(sent.headers.prefer).toBeUndefined();
    expect(sent.body).toEqual({
      input: {
        prompt: 'make it autumn',
        aspect_ratio: '2:3',
        number_of_images: 1,
        output_format: 'jpeg',
        quality: 'high',
        input_images: [expect.stringMatching(/^data:image\/jpeg;base64,/)],
      },
    });
    expect(await sizeOf(response)).toBe('1024x1536 jpeg');
  });

  it("Replicate: the current schema's explicit sizes and up to 10 images per prediction", async () => {
    const response = await runThrough(
      providers.replicate,
      generate({ resolution: '2048x1152', numImages: 3, outputFormat: 'webp', background: 'transparent' }),
    );
    expect(lastRequest().body).toMatchObject({
      input: { aspect_ratio: '2048x1152', number_of_images: 3, background: 'transparent' },
    });
    expect(response.images).toHaveLength(3);
    expect(await sizeOf(response)).toBe('2048x1152 webp');
  });

  it('Replicate: a local input over 1 MB is uploaded through the files API (Replicate: data URIs only below 1 MB)', async () => {
    const folder = await mkdtemp(path.join(os.tmpdir(), 'replicate-1mb-'));
    try {
      const noise = (side: number) =>
        sharp({
          create: {
            width: side,
            height: side,
            channels: 3,
            background: '#000000',
            noise: { type: 'gaussian', mean: 128, sigma: 60 },
          },
        })
          .png({ compressionLevel: 0 })
          .toBuffer();
      const [large, small] = await Promise.all([noise(700), noise(200)]);
      expect(large.length).toBeGreaterThan(1_000_000);
      expect(large.length).toBeLessThan(10_000_000);
      await writeFile(path.join(folder, 'large.png'), large);
      await writeFile(path.join(folder, 'small.png'), small);
      await runThrough(providers.replicate, edit({ inputImages: [path.join(folder, 'large.png')] }));
      expect(lastRequest().body).toMatchObject({
        input: { input_images: [expect.stringMatching(/\/replicate\/v1\/files\/[0-9a-f]+$/)] },
      });
      await runThrough(providers.replicate, edit({ inputImages: [path.join(folder, 'small.png')] }));
      expect(lastRequest().body).toMatchObject({
        input: { input_images: [expect.stringMatching(/^data:image\/png;base64,/)] },
      });
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it('Replicate: local inputs over 10 MB in total are uploaded through the files API, not inlined', async () => {
    const folder = await mkdtemp(path.join(os.tmpdir(), 'replicate-large-'));
    try {
      const big = await sharp({
        create: {
          width: 1800,
          height: 1800,
          channels: 3,
          background: '#000000',
          noise: { type: 'gaussian', mean: 128, sigma: 60 },
        },
      })
        .png({ compressionLevel: 0 })
        .toBuffer();
      expect(big.length).toBeGreaterThan(5_000_000);
      const files = [path.join(folder, 'a.png'), path.join(folder, 'b.png')];
      for (const file of files) await writeFile(file, big);
      const response = await runThrough(
        providers.replicate,
        edit({ inputImages: files, prompt: 'large inputs' }),
      );
      const uploaded: unknown = expect.stringMatching(/\/replicate\/v1\/files\/[0-9a-f]+$/);
      expect(lastRequest().body).toMatchObject({
        input: { input_images: [uploaded, uploaded] },
      });
      expect(response.images).toHaveLength(1);
      // The same bytes inline are refused, as replicate-javascript refuses them.
      const inline = `data:image/png;base64,${big.toString('base64')}`;
      const answer = await fetch(`${simulator.url}/replicate/v1/models/openai/gpt-image-2/predictions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ input: { prompt: 'inline', input_images: [inline, inline] } }),
      });
      expect(answer.status).toBe(413);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it('WaveSpeedAI: edit path, uploaded images, the ratio and smallest tier delivering the size, no output_format', async () => {
    const response = await runThrough(providers.wavespeed, edit({ resolution: '1024x1536', quality: 'low' }));
    const sent = lastRequest();
    expect(sent.path).toBe('/api/v3/openai/gpt-image-2/edit');
    expect(sent.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(sent.body).toEqual({
      prompt: 'make it autumn',
      aspect_ratio: '2:3',
      resolution: '2k',
      enable_sync_mode: false,
      enable_base64_output: false,
      quality: 'low',
      images: [expect.stringMatching(new RegExp(`^${simulator.url}/files/upload-`))],
    });
    expect(await sizeOf(response)).toBe('1360x2048 png');
  });

  it('WaveSpeedAI text-to-image has no images field', async () => {
    await runThrough(providers.wavespeed, generate());
    expect(lastRequest().path).toBe('/api/v3/openai/gpt-image-2/text-to-image');
    expect(lastRequest().body).not.toHaveProperty('images');
  });
});
