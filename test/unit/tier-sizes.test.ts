/**
 * Hosts that take an aspect ratio and a 1K/2K/4K tier (Oxen.ai, WaveSpeedAI) never deliver fewer pixels than a row
 * asks for: the smallest tier that delivers its size at the nearest ratio, under a reading of the tiers that cannot
 * promise more than a host gives, corrected by the sizes hosts were seen to deliver; priced at the tier sent.
 */
import { describe, expect, it } from 'vitest';
import { PriceCatalogue, quoteRequest } from '../../src/cost/price-catalogue.js';
import { createProvider, loadConfig } from '../../src/providers/configuration.js';
import type { ImageProvider, ImageRequest } from '../../src/providers/provider.js';
import { assumedTierSize, planTier } from '../../src/providers/tier-sizes.js';

const config = loadConfig({});
const oxen = (): ImageProvider => createProvider('oxen', config);
const wavespeed = (): ImageProvider => createProvider('wavespeed', config);
const request = (overrides: Partial<ImageRequest> = {}): ImageRequest => ({
  operation: 'generate',
  prompt: 'a lighthouse at dusk',
  inputImages: [],
  resolution: '1024x1024',
  numImages: 1,
  outputFormat: 'png',
  ...overrides,
});
const RULE = { ratios: ['1:1', '16:9', '9:16', '2:3', '3:2', '21:9'], tiers: ['1K', '2K', '4K'] };

describe('the tier planned for a size', () => {
  it('reads each tier as the fewest pixels it could mean: longer edge 1024, 2048, 3840, within 8,294,400 pixels', () => {
    expect(assumedTierSize('2:3', 0)).toEqual({ width: 672, height: 1024 });
    expect(assumedTierSize('16:9', 1)).toEqual({ width: 2048, height: 1152 });
    expect(assumedTierSize('16:9', 2)).toEqual({ width: 3840, height: 2160 });
    expect(assumedTierSize('1:1', 2)).toEqual({ width: 2880, height: 2880 });
    const size = assumedTierSize('2:3', 2);
    expect(size.width * size.height).toBeLessThanOrEqual(8_294_400);
  });

  it.each([
    ['1024x1536', '2:3', '2K'],
    ['2560x1440', '16:9', '4K'],
    ['1920x1080', '16:9', '2K'],
    ['1024x1024', '1:1', '1K'],
    ['3840x2160', '16:9', '4K'],
  ])('%s goes as %s at %s, which delivers at least its width and height', (asked, ratio, tier) => {
    const [width, height] = asked.split('x').map(Number) as [number, number];
    const plan = planTier({ width, height }, RULE, new Map());
    expect(plan).toMatchObject({ aspectRatio: ratio, tier, learned: false });
    if ('problem' in plan) throw new Error(plan.problem);
    expect(plan.expectedSize.width).toBeGreaterThanOrEqual(width);
    expect(plan.expectedSize.height).toBeGreaterThanOrEqual(height);
  });

  it('refuses a size even the largest tier cannot deliver at its ratio, saying what that tier delivers', () => {
    const plan = planTier(
      { width: 3520, height: 2400 },
      { ratios: ['3:2'], tiers: ['1K', '2K', '4K'] },
      new Map(),
    );
    expect(plan).toEqual({
      problem: expect.stringMatching(
        /largest tier \(4K\) at the nearest aspect ratio 3:2 delivers 3520x2336/,
      ),
    });
  });

  it('plans from the sizes a host was seen to deliver: 1280x1280 at 1K makes a 1280x1280 row a 1K row', () => {
    expect(planTier({ width: 1280, height: 1280 }, RULE, new Map())).toMatchObject({ tier: '2K' });
    const book = new Map([['1:1@1K', { width: 1280, height: 1280 }]]);
    expect(planTier({ width: 1280, height: 1280 }, RULE, book)).toMatchObject({
      tier: '1K',
      learned: true,
      expectedSize: { width: 1280, height: 1280 },
    });
  });

  it('a smaller delivery than read moves later rows up a tier (learned through the adapter)', () => {
    const adapter = oxen();
    expect(adapter.planSize?.(request({ resolution: '1024x576' }))).toMatchObject({ tier: '1K' });
    adapter.learnTierSizes?.({ '16:9@1K': '1008x560' });
    expect(adapter.planSize?.(request({ resolution: '1024x576' }))).toMatchObject({ tier: '2K' });
  });
});

describe('a row that names its aspect ratio and tier', () => {
  it('goes as named, case-insensitively in the host spelling, at the size that tier delivers', () => {
    expect(wavespeed().planSize?.(request({ aspectRatio: '4:5', resolutionTier: '2K' }))).toMatchObject({
      aspectRatio: '4:5',
      tier: '2k',
      expectedSize: { width: 1632, height: 2048 },
    });
    expect(oxen().planSize?.(request({ aspectRatio: '21:9' }))).toMatchObject({
      aspectRatio: '21:9',
      tier: '1K',
    });
  });

  it('is refused where the host does not take the ratio, or takes pixels', () => {
    expect(oxen().checkRequest(request({ aspectRatio: '4:5' }))).toEqual([
      expect.objectContaining({
        field: 'aspect_ratio',
        message: expect.stringMatching(/aspect_ratio is one of auto, 1:1/),
      }),
    ]);
    for (const name of ['openai', 'fal'] as const) {
      expect(createProvider(name, config).checkRequest(request({ resolutionTier: '2K' }))).toEqual([
        expect.objectContaining({
          field: 'resolution_tier',
          message: expect.stringMatching(/size in pixels/),
        }),
      ]);
    }
  });
});

describe('priced at the tier sent', () => {
  it('a WaveSpeedAI 1024x1536 row is priced at 2k, the tier that delivers it, not at 1k', () => {
    const adapter = wavespeed();
    const row = request({ resolution: '1024x1536', quality: 'medium' });
    const plan = adapter.planSize!(row)!;
    const planned = {
      ...row,
      sizePlan: { aspectRatio: plan.aspectRatio, tier: plan.tier, expectedSize: '1360x2048' },
    };
    const atTwoK = quoteRequest(new PriceCatalogue(), 'wavespeed', planned, 'medium');
    const atOneK = quoteRequest(
      new PriceCatalogue(),
      'wavespeed',
      { ...row, sizePlan: { aspectRatio: '2:3', tier: '1k', expectedSize: '672x1024' } },
      'medium',
    );
    expect(atOneK.usd).toBe(0.1);
    expect(atTwoK.usd).toBeGreaterThan(atOneK.usd);
  });
});
