/**
 * Contract tests per adapter, against the simulator: the request the provider receives is checked field by field
 * against its documented shape (shared/reference/providers.md, shared/seeds/), and each documented answer — success,
 * validation error, content refusal, out of credit, 429, 5xx, failed async task — maps to the right outcome.
 */
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
  it('Oxen.ai queue: POST /api/ai/queue, Bearer, seeded fields, num_generations', async () => {
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
      resolution: '1920x1080',
      output_format: 'jpeg',
      num_generations: 2,
    });
    expect(response.images).toHaveLength(2);
    expect(await sizeOf(response)).toBe('1920x1080 jpeg');
  });

  it('Oxen.ai edit: input_image and mask_url as data URIs, the edit model', async () => {
    await runThrough(
      providers.oxen,
      edit({ mask: path.join(images, 'garden-sky-mask.png'), quality: 'high' }),
    );
    expect(lastRequest().body).toEqual({
      model: 'gpt-image-2-edit',
      prompt: 'make it autumn',
      resolution: '1024x1024',
      quality: 'high',
      output_format: 'png',
      input_image: [expect.stringMatching(/^data:image\/jpeg;base64,/)],
      mask_url: expect.stringMatching(/^data:image\/png;base64,/),
      num_generations: 1,
    });
  });

  it('Oxen.ai sync mode: POST /api/ai/images/edit with num_images', async () => {
    const sync = new OxenProvider({ apiKey: KEY, baseUrl: simulator.url, timeoutMs: 10_000, mode: 'sync' });
    const response = await runThrough(sync, edit());
    expect(lastRequest().path).toBe('/api/ai/images/edit');
    expect(lastRequest().body).toMatchObject({
      model: 'gpt-image-2-edit',
      num_images: 1,
      input_image: [expect.any(String)],
    });
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

  it('OpenAI generate: JSON with model always, size, n; never input_fidelity; usage kept', async () => {
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
    });
    expect(response.requestId).toMatch(/^req_/);
    expect(await sizeOf(response)).toBe('1536x1024 webp');
  });

  it('OpenAI edit: multipart with repeated image[] parts and a mask, no moderation', async () => {
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

  it('Replicate: model predictions with Prefer: wait=N, input with aspect_ratio and input_images', async () => {
    const response = await runThrough(
      providers.replicate,
      edit({ resolution: '1024x1536', quality: 'high', outputFormat: 'jpeg' }),
    );
    const sent = lastRequest();
    expect(sent.path).toBe('/v1/models/openai/gpt-image-2/predictions');
    expect(sent.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(sent.headers.prefer).toBe('wait=5');
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

  it('WaveSpeedAI: edit path, images, aspect_ratio + resolution tier, sync mode off', async () => {
    const response = await runThrough(providers.wavespeed, edit({ resolution: '2048x1152', quality: 'low' }));
    const sent = lastRequest();
    expect(sent.path).toBe('/api/v3/openai/gpt-image-2/edit');
    expect(sent.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(sent.body).toEqual({
      prompt: 'make it autumn',
      aspect_ratio: '16:9',
      resolution: '2k',
      output_format: 'png',
      enable_sync_mode: false,
      enable_base64_output: false,
      quality: 'low',
      images: [expect.stringMatching(/^data:image\/jpeg;base64,/)],
    });
    expect(await sizeOf(response)).toBe('2048x1152 png');
  });

  it('WaveSpeedAI text-to-image has no images field', async () => {
    await runThrough(providers.wavespeed, generate());
    expect(lastRequest().path).toBe('/api/v3/openai/gpt-image-2/text-to-image');
    expect(lastRequest().body).not.toHaveProperty('images');
  });
});

describe('rows a provider cannot honour are refused before any call, naming its limit', () => {
  it.each([
    ['oxen', generate({ resolution: '1536x1024' }), 'resolution', /Oxen.ai serves only/],
    ['fal', generate({ resolution: '1920x1080' }), 'resolution', /multiples of 16 \(e\.g\. 1920x1088\)/],
    ['fal', generate({ resolution: '512x512' }), 'resolution', /655,360 pixels/],
    ['openai', generate({ numImages: 11 }), 'num_images', /at most 10/],
    ['openai', edit({ moderation: 'low' }), 'moderation', /no moderation/],
    [
      'replicate',
      generate({ resolution: '1024x768' }),
      'resolution',
      /1024x1024 \(1:1\), 1536x1024 \(3:2\), 1024x1536 \(2:3\)/,
    ],
    ['replicate', generate({ numImages: 2 }), 'num_images', /1 image per prediction/],
    [
      'wavespeed',
      generate({ resolution: '1920x1080' }),
      'resolution',
      /16:9 comes as 1024x576, 2048x1152, 3840x2160/,
    ],
    [
      'fal',
      edit({ inputImages: Array.from({ length: 17 }, () => path.join(images, 'dune.jpg')) }),
      'image_urls',
      /at most 16/,
    ],
  ] as const)('%s: %s', (name, request, field, message) => {
    expect(providers[name].checkRequest(request)).toContainEqual({
      field,
      message: expect.stringMatching(message),
    });
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

describe('Oxen.ai model schema read at worker start', () => {
  async function schemaServer(answer: (response: import('node:http').ServerResponse) => void) {
    const { createServer } = await import('node:http');
    const server = createServer((_request, response) => answer(response));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const { port } = server.address() as import('node:net').AddressInfo;
    return { server, url: `http://127.0.0.1:${port}` };
  }

  it('sends the current aspect_ratio + 1K/2K/4K form when the host serves that schema', async () => {
    const current = {
      type: 'object',
      required: ['prompt'],
      properties: {
        prompt: { type: 'string' },
        input_image: { type: 'array', items: { type: 'string' } },
        aspect_ratio: { type: 'string', enum: ['auto', '1:1', '16:9', '9:16', '4:3', '3:4', '3:2', '2:3'] },
        resolution: { type: 'string', enum: ['1K', '2K', '4K'] },
        quality: { type: 'string', enum: ['low', 'medium', 'high'] },
        output_format: { type: 'string', enum: ['png', 'jpeg', 'webp'] },
      },
      additionalProperties: false,
    };
    const { server, url } = await schemaServer((response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ id: 'gpt-image-2', json_request_schema: current }));
    });
    try {
      const oxen = new OxenProvider({ apiKey: KEY, baseUrl: url, timeoutMs: 5000, mode: 'queue' });
      await oxen.prepare(context());
      expect(await oxen.buildParameters(generate({ resolution: '2560x1440', model: 'gpt-image-2' }))).toEqual(
        {
          prompt: 'a paper boat on a pond',
          aspect_ratio: '16:9',
          resolution: '2K',
          output_format: 'png',
        },
      );
    } finally {
      server.close();
    }
  });

  it('falls back to the built-in schema when the model endpoint fails, and still refuses what it forbids', async () => {
    const { server, url } = await schemaServer((response) => {
      response.writeHead(500).end();
    });
    try {
      const oxen = new OxenProvider({ apiKey: KEY, baseUrl: url, timeoutMs: 5000, mode: 'queue' });
      await oxen.prepare(context());
      expect(await oxen.buildParameters(generate())).toMatchObject({ resolution: '1024x1024' });
      await expect(oxen.buildParameters(generate({ resolution: '2048x2048' }))).rejects.toThrow(
        /built-in schema .* refuses resolution/,
      );
    } finally {
      server.close();
    }
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
        body: JSON.stringify({ model: 'gpt-image-2', prompt, resolution: '1024x768' }),
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
