/**
 * Contract tests per adapter, against the simulator: each documented answer — success, validation error, content
 * refusal, out of credit, 429, 5xx, failed async task — maps to the right outcome; Oxen's served request schema decides
 * what rows may ask for; the simulator keeps the books the fault suite relies on; OpenAI's rate-limit headers are read.
 */
import { describe, expect, it } from 'vitest';
import { OpenAIProvider } from '../../src/providers/openai/client.js';
import { OxenProvider } from '../../src/providers/oxen/client.js';
import type { ProviderName } from '../../src/shared/config.js';
import {
  BadRequestError,
  ContentPolicyError,
  InsufficientCreditError,
  RateLimitedError,
  ServerError,
  TaskFailedError,
} from '../../src/shared/errors.js';
import { ProviderSimulator, type FaultRule } from '../../src/simulator/server.js';
import {
  KEY,
  context,
  edit,
  generate,
  lastRequest,
  providers,
  runThrough,
  simulator,
  startContractSimulator,
} from './contract-frame.js';

startContractSimulator();

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
      // Only 1:1 and 16:9 served: 1024x1536 goes 1:1 at 2K, the smallest tier delivering 1536 pixels high.
      expect(oxen.sizeParameters(generate({ resolution: '1024x1536' }))).toEqual({
        aspect_ratio: '1:1',
        resolution: '2K',
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

  it("sends edits to gpt-image-2-edit where the host's gpt-image-2 schema takes no input_image (the seed's host)", async () => {
    const generateOnly = {
      type: 'object',
      required: ['prompt'],
      properties: {
        prompt: { type: 'string' },
        resolution: { type: 'string', enum: ['1024x1024', '1920x1080'] },
        num_images: { type: 'integer', minimum: 1, maximum: 4 },
        output_format: { type: 'string', enum: ['png'] },
      },
    };
    const editSchema = {
      ...generateOnly,
      required: ['prompt', 'input_image'],
      properties: { ...generateOnly.properties, input_image: { type: 'array', items: { type: 'string' } } },
    };
    const { createServer } = await import('node:http');
    const server = createServer((request, response) => {
      const schema = request.url?.endsWith('/gpt-image-2-edit') ? editSchema : generateOnly;
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ json_request_schema: schema }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const { port } = server.address() as import('node:net').AddressInfo;
    try {
      const oxen = new OxenProvider({
        apiKey: KEY,
        baseUrl: `http://127.0.0.1:${port}`,
        timeoutMs: 5000,
        mode: 'sync',
      });
      await oxen.prepare(context());
      const editRow = generate({ operation: 'edit', inputImages: ['https://example.com/in.png'] });
      expect(oxen.modelFor(editRow)).toBe('gpt-image-2-edit');
      expect(oxen.checkRequest(editRow)).toEqual([]);
      expect(await oxen.buildBody(editRow)).toMatchObject({
        model: 'gpt-image-2-edit',
        input_image: ['https://example.com/in.png'],
      });
      expect(oxen.modelFor(generate())).toBe('gpt-image-2');
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
