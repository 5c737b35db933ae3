/**
 * The frame of the adapter contract tests: one simulator per test file (key `sk-contract-key`) and every adapter
 * pointed at it, as live bindings a test file reads after {@link startContractSimulator} registered its hooks; and the
 * helpers those tests share (submit-and-poll, the request the simulator last received, the size of an answer).
 */
import path from 'node:path';
import pino from 'pino';
import sharp from 'sharp';
import { afterAll, beforeAll } from 'vitest';
import { FalProvider } from '../../src/providers/fal/client.js';
import { OpenAIProvider } from '../../src/providers/openai/client.js';
import { OxenProvider } from '../../src/providers/oxen/client.js';
import type { ImageProvider, ImageRequest, ProviderResponse } from '../../src/providers/provider.js';
import { ReplicateProvider } from '../../src/providers/replicate/client.js';
import { WavespeedProvider } from '../../src/providers/wavespeed/client.js';
import type { ProviderName } from '../../src/shared/config.js';
import { ProviderSimulator, simulatorBaseUrls } from '../../src/simulator/server.js';

export const KEY = 'sk-contract-key';
export const images = path.resolve('jobs/images');
export const log = pino({ level: 'silent' });
export let simulator: ProviderSimulator;
export let providers: Record<ProviderName, ImageProvider>;

/** Register the hooks that start the simulator and the adapters for the calling test file, and stop it after. */
export function startContractSimulator(): void {
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
}

export const context = () => ({ signal: AbortSignal.timeout(20_000), log });

/** Submit, then poll until done, as a worker does. */
export async function runThrough(provider: ImageProvider, request: ImageRequest): Promise<ProviderResponse> {
  const submitted = await provider.submit(request, context());
  if (submitted.kind === 'completed') return submitted.response;
  for (;;) {
    const polled = await provider.poll(submitted.request, context());
    if (polled.kind === 'completed') return polled.response;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export function lastRequest() {
  return simulator.recordedRequests.at(-1)!;
}

export async function sizeOf(response: ProviderResponse): Promise<string> {
  const image = response.images[0]!;
  const bytes =
    image.kind === 'base64'
      ? Buffer.from(image.data, 'base64')
      : Buffer.from(await (await fetch(image.url)).arrayBuffer());
  const metadata = await sharp(bytes).metadata();
  return `${metadata.width}x${metadata.height} ${metadata.format}`;
}

export const generate = (overrides: Partial<ImageRequest> = {}): ImageRequest => ({
  operation: 'generate',
  prompt: 'a paper boat on a pond',
  inputImages: [],
  resolution: '1024x1024',
  numImages: 1,
  outputFormat: 'png',
  ...overrides,
});

export const edit = (overrides: Partial<ImageRequest> = {}): ImageRequest => ({
  ...generate({ operation: 'edit', prompt: 'make it autumn', inputImages: [path.join(images, 'dune.jpg')] }),
  ...overrides,
});
