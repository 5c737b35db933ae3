/**
 * Hosts that take an aspect ratio and a 1K/2K/4K tier (Oxen.ai, WaveSpeedAI), end to end: a row is never delivered
 * fewer pixels than it asks for, the sizes a host delivers are recorded in Redis per ratio × tier and plan (and price)
 * later rows, and a row may name its ratio and tier itself.
 */
import path from 'node:path';
import { Redis } from 'ioredis';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { ResultLine } from '../../src/shared/job-definitions.js';
import { runCliInProcess } from '../helpers/cli.js';
import { temporaryDirectory } from '../helpers/files.js';
import { jsonLine, manifestFolder, writeManifest } from '../helpers/manifests.js';
import { redisUrl } from '../helpers/redis.js';
import { readJsonLines } from '../helpers/results.js';
import { simulatorSuite } from '../helpers/simulator-suite.js';
import { providerKey } from '../../src/shared/keys.js';

const suite = simulatorSuite();

async function runRows(
  batch: string,
  out: string,
  rows: Array<Record<string, unknown>>,
): Promise<ResultLine[]> {
  const manifest = await writeManifest(await manifestFolder(), `${batch}.jsonl`, rows.map(jsonLine));
  const result = await runCliInProcess(
    ['run', manifest, '--out', out, '--batch', batch],
    suite.environment(),
  );
  expect(result.stderr).toBe('');
  expect(result.exitCode).toBe(0);
  const lines = await readJsonLines<ResultLine>(path.join(out, batch, 'results.jsonl'));
  return lines.sort((a, b) => a.row_key.localeCompare(b.row_key));
}

describe('tiered hosts deliver at least the pixels asked for', () => {
  it.each(['oxen', 'wavespeed'] as const)(
    '%s: 1024x1536 and 2560x1440 rows get at least their width and height',
    async (provider) => {
      const out = await temporaryDirectory();
      const lines = await runRows(`tiers-${provider}`, out, [
        { id: 'portrait', provider, prompt: 'a tall tower', resolution: '1024x1536', quality: 'low' },
        { id: 'wide', provider, prompt: 'a wide valley', resolution: '2560x1440', quality: 'low' },
      ]);
      const tier = (name: string) => (provider === 'oxen' ? name : name.toLowerCase());
      expect(lines.map((line) => [line.row_key, line.size_requested])).toEqual([
        ['portrait', { aspect_ratio: '2:3', resolution: tier('2K') }],
        ['wide', { aspect_ratio: '16:9', resolution: tier('4K') }],
      ]);
      for (const line of lines) {
        const [width, height] = line.resolution.split('x').map(Number) as [number, number];
        expect(line.outputs[0]!.width).toBeGreaterThanOrEqual(width);
        expect(line.outputs[0]!.height).toBeGreaterThanOrEqual(height);
      }
    },
  );

  it('records what Oxen.ai delivered per ratio × tier, and plans and prices later rows from it', async () => {
    const out = await temporaryDirectory();
    const first = await runRows('learn-1', out, [
      { id: 'square', provider: 'oxen', prompt: 'a square tile', resolution: '1024x1024', quality: 'low' },
    ]);
    expect(first[0]!.size_requested).toEqual({ aspect_ratio: '1:1', resolution: '1K' });
    const delivered = `${first[0]!.outputs[0]!.width}x${first[0]!.outputs[0]!.height}`;
    const redis = new Redis(redisUrl());
    try {
      expect(await redis.hgetall(providerKey(suite.prefix(), 'oxen', 'tier-sizes'))).toEqual({
        '1:1@1K': delivered,
      });
    } finally {
      redis.disconnect();
    }
    // Before anything was delivered, a row of the delivered size would have gone at 2K (the pessimistic reading: 1K is
    // at least 1024 pixels on its longer edge); now it goes at 1K.
    const second = await runRows('learn-2', out, [
      { id: 'square', provider: 'oxen', prompt: 'a larger tile', resolution: delivered, quality: 'low' },
    ]);
    expect(delivered).not.toBe('1024x1024');
    expect(second[0]!.size_requested).toEqual({ aspect_ratio: '1:1', resolution: '1K' });
    // Priced at the tier sent: the same 1K price as the first row (the simulated host serves one flat price).
    expect(second[0]!.cost_usd).toBe(first[0]!.cost_usd);
  });

  it('a row naming aspect_ratio and resolution_tier is sent as named and recorded at that tier size', async () => {
    const out = await temporaryDirectory();
    const lines = await runRows('named', out, [
      {
        id: 'named',
        provider: 'wavespeed',
        prompt: 'a social post',
        aspect_ratio: '4:5',
        resolution_tier: '2K',
        quality: 'low',
      },
    ]);
    expect(lines[0]!.size_requested).toEqual({ aspect_ratio: '4:5', resolution: '2k' });
    expect(lines[0]!.resolution).toBe('1632x2048');
    expect(lines[0]!.outputs[0]).toMatchObject({ width: 1632, height: 2048 });
  });

  it('WaveSpeedAI takes no output_format: a jpeg row gets a jpeg file, converted from what the host sent', async () => {
    const out = await temporaryDirectory();
    const lines = await runRows('formats', out, [
      { id: 'photo', provider: 'wavespeed', prompt: 'a photo', output_format: 'jpeg', quality: 'low' },
    ]);
    expect(lines[0]!.outputs[0]!.path).toBe('images/photo.jpg');
    const metadata = await sharp(path.join(out, 'formats', lines[0]!.outputs[0]!.path)).metadata();
    expect(metadata.format).toBe('jpeg');
    const sent = suite
      .simulator()
      .recordedRequests.filter((request) => request.path.startsWith('/api/v3/openai/'))
      .at(-1);
    expect(sent?.body).not.toHaveProperty('output_format');
  });
});
