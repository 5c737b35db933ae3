/**
 * Recorded fixtures (test/fixtures/<provider>/*.json), each taken from a provider's own docs or SDK test suite and
 * naming its source, replayed through the adapters: a local server answers the adapter's requests with the recorded
 * answers in order, checking that each request goes to the documented method and path (and, where the fixture gives
 * one, carries the documented body); the adapter must then read the documented answer as the fixture expects.
 * These need no simulator: a misreading shared by adapter and simulator cannot hide here.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageProvider, ImageRequest, ProviderResponse } from '../../src/providers/provider.js';
import { createProvider, loadConfig, withProviderSettings } from '../../src/providers/configuration.js';
import { PROVIDER_NAMES, type ProviderName } from '../../src/shared/config.js';
import { ProviderError, RateLimitedError, BadRequestError } from '../../src/shared/errors.js';

interface Exchange {
  request: string;
  expectBody?: Record<string, unknown>;
  exactBody?: boolean;
  status: number;
  headers?: Record<string, string>;
  body: unknown;
}
interface Fixture {
  source: string;
  host: string;
  settings?: Record<string, unknown>;
  row: Partial<ImageRequest>;
  exchanges: Exchange[];
  expect:
    | { completed: { images: number | string[]; requestId?: string; usage?: Record<string, unknown> } }
    | { error: string; fields?: string[]; retryAfterMs?: number };
}

const fixturesRoot = path.resolve('test/fixtures');
const log = pino({ level: 'silent' });
let scratch: string;

beforeAll(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'image-batch-fixtures-'));
  // Two 6 MB "PNG" inputs: over Replicate's 1 MB advice for data URIs (and its SDK's 10 MB inline limit).
  for (const name of ['large-input-1', 'large-input-2']) {
    const bytes = Buffer.alloc(6_000_000, 7);
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(bytes);
    await writeFile(path.join(scratch, `${name}.png`), bytes);
  }
});
afterAll(async () => rm(scratch, { recursive: true, force: true }));

async function fixturesOf(provider: ProviderName): Promise<Array<[string, Fixture]>> {
  const directory = path.join(fixturesRoot, provider);
  const names = (await readdir(directory)).filter((name) => name.endsWith('.json')).sort();
  return Promise.all(
    names.map(
      async (name) =>
        [name, JSON.parse(await readFile(path.join(directory, name), 'utf8')) as Fixture] as [
          string,
          Fixture,
        ],
    ),
  );
}

/** Serve `exchanges` in order; record what arrived. The fixture's host is replaced by the server's origin. */
async function replay(fixture: Fixture) {
  const arrived: Array<{ request: string; body: unknown; exchange: Exchange | undefined }> = [];
  let origin = '';
  const swap = (value: unknown) =>
    JSON.parse(JSON.stringify(value).split(fixture.host).join(origin)) as unknown;
  const server = createServer((request: IncomingMessage, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // multipart or empty
      }
      const exchange = fixture.exchanges[arrived.length];
      arrived.push({ request: `${request.method} ${request.url}`, body, exchange });
      if (exchange === undefined) return response.writeHead(500).end('no more recorded answers');
      response.writeHead(exchange.status, { 'content-type': 'application/json', ...exchange.headers });
      response.end(JSON.stringify(swap(exchange.body)));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { origin, arrived, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

function adapterFor(provider: ProviderName, fixture: Fixture, origin: string): ImageProvider {
  const config = withProviderSettings(loadConfig({}), provider, {
    apiKey: 'sk-fixture',
    baseUrl: origin,
    restUrl: origin,
    timeoutMs: 5000,
    ...fixture.settings,
  });
  return createProvider(provider, config);
}

function requestOf(fixture: Fixture): ImageRequest {
  const inputImages = (fixture.row.inputImages ?? []).map((reference) =>
    reference.startsWith('@jobs/')
      ? path.resolve(reference.slice(1))
      : reference.startsWith('@')
        ? path.join(scratch, `${reference.slice(1)}.png`)
        : reference,
  );
  return {
    numImages: 1,
    outputFormat: 'png',
    resolution: '1024x1024',
    operation: 'generate',
    prompt: 'p',
    ...fixture.row,
    ...{ inputImages },
  };
}

async function runThrough(adapter: ImageProvider, request: ImageRequest): Promise<ProviderResponse> {
  const context = { signal: AbortSignal.timeout(10_000), log };
  const submitted = await adapter.submit(request, context);
  if (submitted.kind === 'completed') return submitted.response;
  for (;;) {
    const polled = await adapter.poll(submitted.request, context);
    if (polled.kind === 'completed') return polled.response;
  }
}

describe.each(PROVIDER_NAMES.map((name) => [name]))('%s: recorded fixtures', (provider) => {
  it('has fixtures, each naming its source', async () => {
    const fixtures = await fixturesOf(provider);
    expect(fixtures.length).toBeGreaterThanOrEqual(3);
    for (const [, fixture] of fixtures) expect(fixture.source.length).toBeGreaterThan(20);
  });

  it('replays every fixture: documented requests sent, documented answers read', async () => {
    for (const [name, fixture] of await fixturesOf(provider)) {
      const server = await replay(fixture);
      try {
        const adapter = adapterFor(provider, fixture, server.origin);
        const outcome = await runThrough(adapter, requestOf(fixture)).then(
          (response) => ({ response }),
          (error: unknown) => ({ error }),
        );
        for (const [index, arrival] of server.arrived.entries()) {
          const exchange = fixture.exchanges[index]!;
          expect(arrival.request.replace(/\?.*$/, ''), `${name}: request ${index + 1}`).toBe(
            exchange.request,
          );
          if (exchange.expectBody !== undefined) {
            if (exchange.exactBody === true) expect(arrival.body, name).toEqual(exchange.expectBody);
            else
              expect(arrival.body, name).toMatchObject(
                JSON.parse(
                  JSON.stringify(exchange.expectBody).split(fixture.host).join(server.origin),
                ) as Record<string, unknown>,
              );
          }
        }
        expect(server.arrived.length, `${name}: every recorded answer used`).toBe(fixture.exchanges.length);
        if ('completed' in fixture.expect) {
          const wanted = fixture.expect.completed;
          expect('response' in outcome, `${name}: ${'error' in outcome ? String(outcome.error) : ''}`).toBe(
            true,
          );
          const response = (outcome as { response: ProviderResponse }).response;
          if (typeof wanted.images === 'number') expect(response.images).toHaveLength(wanted.images);
          else
            expect(response.images.map((image) => (image.kind === 'url' ? image.url : image.data))).toEqual(
              wanted.images.map((url) => url.split(fixture.host).join(server.origin)),
            );
          if (wanted.requestId !== undefined) expect(response.requestId).toBe(wanted.requestId);
          if (wanted.usage !== undefined) expect(response.usage).toMatchObject(wanted.usage);
        } else {
          const wanted = fixture.expect;
          const error = (outcome as { error?: unknown }).error;
          expect(error, name).toBeInstanceOf(ProviderError);
          expect((error as Error).constructor.name, name).toBe(wanted.error);
          if (wanted.fields !== undefined)
            expect((error as BadRequestError).fieldErrors.map((field) => field.field)).toEqual(wanted.fields);
          if (wanted.retryAfterMs !== undefined)
            expect((error as RateLimitedError).retryAfterMs).toBe(wanted.retryAfterMs);
          expect((error as Error).message).not.toContain('sk-fixture');
        }
      } finally {
        await server.close();
      }
    }
  });
});
