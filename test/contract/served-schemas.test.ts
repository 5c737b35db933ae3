/**
 * What a row may ask for comes from the schema the host serves now, read before rows are checked and at worker start:
 * Replicate's `latest_version.openapi_schema` (three published mirrors of the model's page disagree), with the built-in
 * table standing in when it cannot be read.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ReplicateProvider } from '../../src/providers/replicate/client.js';
import { PriceCatalogue, quoteRequest } from '../../src/cost/price-catalogue.js';
import { context, generate, KEY, providers, startContractSimulator } from './contract-frame.js';

startContractSimulator();

let close: (() => void) | undefined;
afterEach(() => close?.());

async function serving(answer: (response: ServerResponse) => void): Promise<string> {
  const server = createServer((_request, response) => answer(response));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  close = () => server.close();
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A model object whose latest version takes `properties` (replicate-javascript `index.d.ts` Model, ModelVersion). */
const modelWith = (properties: Record<string, unknown>) => ({
  owner: 'openai',
  name: 'gpt-image-2',
  latest_version: { id: 'v-narrow', openapi_schema: { components: { schemas: { Input: { properties } } } } },
});

describe("Replicate: the model's live input schema decides what rows may ask for", () => {
  it('a schema of three ratios, one image and no transparency refuses what the built-in table would let through', async () => {
    const url = await serving((response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(
        JSON.stringify(
          modelWith({
            prompt: { type: 'string' },
            aspect_ratio: { enum: ['1:1', '3:2', '2:3'] },
            input_images: { type: 'array' },
            background: { enum: ['auto', 'opaque'] },
            quality: { enum: ['low', 'medium', 'high', 'auto'] },
            output_format: { enum: ['webp', 'png', 'jpeg'] },
          }),
        ),
      );
    });
    const replicate = new ReplicateProvider({ apiKey: KEY, baseUrl: url, timeoutMs: 5000 });
    const wide = generate({ resolution: '2048x1152', numImages: 2, background: 'transparent' });
    // Before the schema is read: the built-in table (ten images, explicit sizes, transparency) takes the row.
    expect(replicate.checkRequest(wide)).toEqual([]);
    await replicate.prepare(context());
    expect(replicate.checkRequest(wide).map((error) => error.field)).toEqual([
      'num_images',
      'background',
      'resolution',
    ]);
    expect(
      replicate.checkRequest(generate({ resolution: '1536x1024', moderation: 'low' })).map((e) => e.field),
    ).toEqual(['moderation']);
    expect(replicate.checkRequest(generate({ resolution: '1024x1536' }))).toEqual([]);
  });

  it('keeps the built-in table when the model cannot be read', async () => {
    const url = await serving((response) => response.writeHead(503).end());
    const replicate = new ReplicateProvider({ apiKey: KEY, baseUrl: url, timeoutMs: 5000 });
    await replicate.prepare(context());
    expect(replicate.checkRequest(generate({ resolution: '2048x1152', numImages: 4 }))).toEqual([]);
  });
});

describe("WaveSpeedAI: rows are priced from the host's pricing endpoint when a key is set", () => {
  it('asks POST /api/v3/model/pricing per model × quality × tier and prices the tier planned for the row', async () => {
    const wavespeed = providers.wavespeed;
    const row = generate({ resolution: '1024x1536', quality: 'medium' });
    expect(wavespeed.servedPrice?.(row)).toBeUndefined();
    await wavespeed.prepare?.(context());
    // 1024x1536 goes 2:3 at 2k: the simulator's medium 2k run.
    expect(wavespeed.servedPrice?.(row)).toBe(0.16);
    expect(wavespeed.servedPrice?.(generate({ resolution: '1024x1024', quality: 'low' }))).toBe(0.06);
    const quote = quoteRequest(
      new PriceCatalogue(),
      'wavespeed',
      { ...row, servedUsdPerImage: 0.16 },
      'medium',
    );
    expect(quote).toMatchObject({ usd: 0.16, estimate: false, basis: 'served by the host' });
    expect(quote.source.url).toBe('https://api.wavespeed.ai/api/v3/model/pricing');
  });
});
