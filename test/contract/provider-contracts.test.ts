/**
 * Contract tests per adapter, against the simulator: the request the provider receives is checked field by field
 * against its documented shape (shared/reference/providers.md, shared/seeds/), and each documented answer — success,
 * validation error, content refusal, out of credit, 429, 5xx, failed async task — maps to the right outcome.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FalProvider } from '../../src/providers/fal/client.js';
import { OpenAIProvider } from '../../src/providers/openai/client.js';
import { OxenProvider } from '../../src/providers/oxen/client.js';
import type { ImageProvider, ImageRequest, ProviderResponse } from '../../src/providers/provider.js';
import { ReplicateProvider } from '../../src/providers/replicate/client.js';
import { WavespeedProvider } from '../../src/providers/wavespeed/client.js';
import type { ProviderName } from '../../src/shared/config.js';
import {
  BadRequestError,
  ContentPolicyError,
  InsufficientCreditError,
  RateLimitedError,
  ServerError,
  TaskFailedError,
} from '../../src/shared/errors.js';
import { ProviderSimulator, simulatorBaseUrls, type FaultRule } from '../../src/simulator/server.js';

const KEY = 'sk-contract-key';
const images = path.resolve('jobs/images');
const log = pino({ level: 'silent' });
let simulator: ProviderSimulator;
let providers: Record<ProviderName, ImageProvider>;

beforeAll(async () => {
  simulator = new ProviderSimulator({ apiKey: KEY });
  const origin = await simulator.start();
  const urls = simulatorBaseUrls(origin);
  const common = { apiKey: KEY, timeoutMs: 10_000 };
  providers = {
    oxen: new OxenProvider({ ...common, ...urls.oxen, mode: 'queue' }),
    fal: new FalProvider({ ...common, ...urls.fal }),
    openai: new OpenAIProvider({ ...common, ...urls.openai }),
    replicate: new ReplicateProvider({ ...common, ...urls.replicate }),
    wavespeed: new WavespeedProvider({ ...common, ...urls.wavespeed }),
  };
});
afterAll(async () => simulator.stop());

const context = () => ({ signal: AbortSignal.timeout(20_000), log });

/** Submit, then poll until done, as a worker does. */
async function runThrough(provider: ImageProvider, request: ImageRequest): Promise<ProviderResponse> {
  const submitted = await provider.submit(request, context());
  if (submitted.kind === 'completed') return submitted.response;
  for (;;) {
    const polled = await provider.poll(submitted.request, context());
    if (polled.kind === 'completed') return polled.response;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function lastRequest() {
  return simulator.recordedRequests.at(-1)!;
}

async function sizeOf(response: ProviderResponse): Promise<string> {
  const image = response.images[0]!;
  const bytes =
    image.kind === 'base64'
      ? Buffer.from(image.data, 'base64')
      : Buffer.from(await (await fetch(image.url)).arrayBuffer());
  const metadata = await sharp(bytes).metadata();
  return `${metadata.width}x${metadata.height} ${metadata.format}`;
}

const generate = (overrides: Partial<ImageRequest> = {}): ImageRequest => ({
  operation: 'generate',
  prompt: 'a paper boat on a pond',
  inputImages: [],
  resolution: '1024x1024',
  numImages: 1,
  outputFormat: 'png',
  ...overrides,
});

const edit = (overrides: Partial<ImageRequest> = {}): ImageRequest => ({
  ...generate({ operation: 'edit', prompt: 'make it autumn', inputImages: [path.join(images, 'dune.jpg')] }),
  ...overrides,
});

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
    expect(lastRequest().body).toMatchObject({ model: 'gpt-image-2', input_image: [expect.any(String)] });
    expect(await sizeOf(response)).toBe('1024x1024 png');
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

  it('WaveSpeedAI: edit path, uploaded images, the nearest aspect_ratio + resolution tier, sync mode off', async () => {
    const response = await runThrough(providers.wavespeed, edit({ resolution: '1024x1536', quality: 'low' }));
    const sent = lastRequest();
    expect(sent.path).toBe('/api/v3/openai/gpt-image-2/edit');
    expect(sent.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(sent.body).toEqual({
      prompt: 'make it autumn',
      aspect_ratio: '2:3',
      resolution: '1k',
      output_format: 'png',
      enable_sync_mode: false,
      enable_base64_output: false,
      quality: 'low',
      images: [expect.stringMatching(new RegExp(`^${simulator.url}/files/upload-`))],
    });
    expect(await sizeOf(response)).toMatch(/^\d+x\d+ png$/);
  });

  it('WaveSpeedAI text-to-image has no images field', async () => {
    await runThrough(providers.wavespeed, generate());
    expect(lastRequest().path).toBe('/api/v3/openai/gpt-image-2/text-to-image');
    expect(lastRequest().body).not.toHaveProperty('images');
  });
});

describe('answers map to row outcomes', () => {
  const cases: Array<
    [ProviderName, string, FaultRule | 'refuse' | 'invalid', new (...args: never[]) => Error]
  > = [];
  for (const name of ['oxen', 'fal', 'openai', 'replicate', 'wavespeed'] as const) {
    cases.push([
      name,
      '429 with Retry-After',
      { provider: name, status: 429, retryAfterSeconds: 3 },
      RateLimitedError,
    ]);
    cases.push([name, '5xx', { provider: name, status: 503 }, ServerError]);
    cases.push([name, 'content refusal', 'refuse', ContentPolicyError]);
  }
  cases.push([
    'oxen',
    'out of credit (failed generation)',
    { provider: 'oxen', taskFailure: 'Insufficient credits' },
    InsufficientCreditError,
  ]);
  cases.push([
    'fal',
    'out of credit (locked account)',
    { provider: 'fal', status: 403 },
    InsufficientCreditError,
  ]);
  cases.push([
    'openai',
    'out of credit (429 insufficient_quota)',
    {
      provider: 'openai',
      status: 429,
      body: {
        error: {
          message: 'You exceeded your current quota',
          type: 'insufficient_quota',
          param: null,
          code: 'insufficient_quota',
        },
      },
    },
    InsufficientCreditError,
  ]);
  cases.push([
    'replicate',
    'out of credit (402)',
    { provider: 'replicate', status: 402 },
    InsufficientCreditError,
  ]);
  cases.push(['wavespeed', 'out of credit', { provider: 'wavespeed', status: 402 }, InsufficientCreditError]);
  for (const name of ['oxen', 'fal', 'replicate', 'wavespeed'] as const) {
    cases.push([
      name,
      'async task failure',
      { provider: name, taskFailure: 'GPU fell over' },
      TaskFailedError,
    ]);
  }
  cases.push(['fal', '422 validation', 'invalid', BadRequestError]);
  cases.push(['openai', '400 validation', 'invalid', BadRequestError]);
  cases.push(['replicate', '422 validation', 'invalid', BadRequestError]);
  cases.push(['wavespeed', '400 validation', 'invalid', BadRequestError]);
  cases.push(['oxen', 'invalid parameter (failed generation)', 'invalid', BadRequestError]);

  it.each(cases)('%s: %s', async (name, _label, fault, type) => {
    let request = generate({ prompt: `outcome ${name} ${_label}` });
    if (fault === 'refuse') request = generate({ prompt: `[simulate:refuse] ${name}` });
    else if (fault === 'invalid') {
      // Bypass our own checks (as a host whose schema changed would): a value the provider refuses.
      request = generate({ quality: 'ultra' as never });
    } else simulator.injectFaults([fault]);
    const error = await runThrough(providers[name], request).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(type);
    if (type === RateLimitedError) expect((error as RateLimitedError).retryAfterMs).toBe(3000);
    if (type === BadRequestError) expect((error as BadRequestError).fieldErrors[0]?.field).toBe('quality');
    expect(String((error as Error).message)).not.toContain(KEY);
  });
});

describe('Oxen.ai: the request schema the host serves decides what rows may ask for', () => {
  async function schemaServer(answer: (response: import('node:http').ServerResponse) => void) {
    const { createServer } = await import('node:http');
    const server = createServer((_request, response) => answer(response));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const { port } = server.address() as import('node:net').AddressInfo;
    return { server, url: `http://127.0.0.1:${port}` };
  }
  const serving = (key: 'request_schema' | 'json_request_schema', schema: unknown) =>
    schemaServer((response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ id: 'gpt-image-2', [key]: schema }));
    });

  it('reads `request_schema` (models/overview.mdx): rows are checked against it before enqueue', async () => {
    const narrowed = {
      type: 'object',
      required: ['prompt'],
      properties: {
        prompt: { type: 'string' },
        aspect_ratio: { type: 'string', enum: ['1:1', '16:9'] },
        resolution: { type: 'string', enum: ['1K', '2K', '4K'] },
        quality: { type: 'string', enum: ['high'] },
        output_format: { type: 'string', enum: ['png'] },
      },
    };
    const { server, url } = await serving('request_schema', narrowed);
    try {
      const oxen = new OxenProvider({ apiKey: KEY, baseUrl: url, timeoutMs: 5000, mode: 'queue' });
      await oxen.prepare(context());
      expect(
        oxen.checkRequest(generate({ quality: 'low', outputFormat: 'webp' })).map((e) => e.field),
      ).toEqual(['quality', 'output_format']);
      expect(oxen.sizeParameters(generate({ resolution: '1024x1536' }))).toEqual({
        aspect_ratio: '1:1',
        resolution: '1K',
      });
    } finally {
      server.close();
    }
  });

  it('reads `json_request_schema` (per-model pages); a host on the seeded sizes schema gets WIDTHxHEIGHT', async () => {
    const seeded = {
      type: 'object',
      required: ['prompt'],
      properties: {
        prompt: { type: 'string' },
        resolution: { type: 'string', enum: ['1024x768', '1024x1024', '1920x1080'] },
        quality: { type: 'string', enum: ['high'] },
        num_images: { type: 'integer', minimum: 1, maximum: 4 },
        output_format: { type: 'string', enum: ['png', 'jpeg', 'webp'] },
      },
    };
    const { server, url } = await serving('json_request_schema', seeded);
    try {
      const oxen = new OxenProvider({ apiKey: KEY, baseUrl: url, timeoutMs: 5000, mode: 'sync' });
      await oxen.prepare(context());
      expect(oxen.checkRequest(generate({ resolution: '1536x1024' }))).toEqual([
        { field: 'resolution', message: expect.stringMatching(/makes only 1024x768, 1024x1024, 1920x1080/) },
      ]);
      expect(await oxen.buildBody(generate({ resolution: '1920x1080', numImages: 3 }))).toEqual({
        model: 'gpt-image-2',
        prompt: 'a paper boat on a pond',
        resolution: '1920x1080',
        num_images: 3,
        output_format: 'png',
      });
    } finally {
      server.close();
    }
  });

  it('falls back to the built-in current schema when the model endpoint fails', async () => {
    const { server, url } = await schemaServer((response) => response.writeHead(500).end());
    try {
      const oxen = new OxenProvider({ apiKey: KEY, baseUrl: url, timeoutMs: 5000, mode: 'queue' });
      await oxen.prepare(context());
      expect(await oxen.buildParameters(generate())).toEqual({
        prompt: 'a paper boat on a pond',
        aspect_ratio: '1:1',
        resolution: '1K',
        output_format: 'png',
      });
      expect(oxen.checkRequest(generate({ quality: 'xhigh' }))[0]?.field).toBe('quality');
    } finally {
      server.close();
    }
  });

  it('a row naming the retired gpt-image-2-edit goes to gpt-image-2: resent once after "Model not found"', async () => {
    const prompt = 'retired model row';
    const oxen = new OxenProvider({ apiKey: KEY, baseUrl: simulator.url, timeoutMs: 10_000, mode: 'queue' });
    const response = await runThrough(oxen, edit({ prompt, model: 'gpt-image-2-edit' }));
    const sent = simulator.recordedRequests.filter((request) => request.prompt === prompt);
    expect(sent.map((request) => [request.status, (request.body as { model: string }).model])).toEqual([
      [404, 'gpt-image-2-edit'],
      [200, 'gpt-image-2'],
    ]);
    expect(response.model).toBe('gpt-image-2');
    // Now known as retired: the next row goes straight to gpt-image-2.
    await runThrough(oxen, edit({ prompt: `${prompt} again`, model: 'gpt-image-2-edit' }));
    expect(lastRequest()).toMatchObject({ status: 200, body: { model: 'gpt-image-2' } });
  });

  it('prepare() learns from the host that gpt-image-2-edit is gone, before any paid call', async () => {
    const oxen = new OxenProvider({ apiKey: KEY, baseUrl: simulator.url, timeoutMs: 10_000, mode: 'queue' });
    await oxen.prepare(context());
    expect(oxen.modelFor(edit({ model: 'gpt-image-2-edit' }))).toBe('gpt-image-2');
    expect(oxen.checkRequest(edit({ model: 'gpt-image-2-edit', quality: 'low' }))).toEqual([]);
  });
});

describe('simulator bookkeeping the fault suite relies on', () => {
  it('counts a submission that arrives while its Retry-After runs as early, and one after it as not', async () => {
    const probe = new ProviderSimulator();
    const origin = await probe.start();
    const send = (prompt: string) =>
      fetch(`${origin}/api/ai/images/generate`, {
        method: 'POST',
        headers: { authorization: 'Bearer k', 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-image-2', prompt, resolution: '1K' }),
      });
    try {
      probe.injectFaults([{ status: 429, retryAfterSeconds: 1 }]);
      expect((await send('first')).status).toBe(429);
      await new Promise((resolve) => setTimeout(resolve, 200));
      await send('too early');
      expect(probe.earlySubmissionsByProvider.get('oxen')).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      await send('in time');
      expect(probe.earlySubmissionsByProvider.get('oxen')).toBe(1);
    } finally {
      await probe.stop();
    }
  });

  it('enforces its rate limit with 429 and Retry-After', async () => {
    const limited = new ProviderSimulator({ rateLimitPerMinute: 60 });
    const origin = await limited.start();
    try {
      const statuses: number[] = [];
      for (let index = 0; index < 3; index += 1) {
        const response = await fetch(`${origin}/api/ai/queue`, {
          method: 'POST',
          headers: { authorization: 'Bearer k', 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'gpt-image-2', prompt: `limited ${index}` }),
        });
        statuses.push(response.status);
        if (response.status === 429) expect(response.headers.get('retry-after')).toBe('1');
      }
      expect(statuses).toEqual([200, 429, 429]);
      expect(limited.throttledByProvider.get('oxen')).toBe(2);
    } finally {
      await limited.stop();
    }
  });
});

describe('OpenAI rate-limit headers', () => {
  it('slows down before the 429 when x-ratelimit-remaining-requests reaches 0', async () => {
    const limited = new ProviderSimulator({ rateLimitPerMinute: 60 });
    const origin = await limited.start();
    try {
      const openai = new OpenAIProvider({ apiKey: KEY, baseUrl: `${origin}/v1`, timeoutMs: 10_000 });
      const response = await runThrough(openai, generate());
      expect(response.throttleMs).toBeGreaterThan(0);
      expect(response.throttleMs).toBeLessThanOrEqual(1000);
    } finally {
      await limited.stop();
    }
  });
});
