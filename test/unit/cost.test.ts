import { describe, expect, it } from 'vitest';
import { tablePrice } from '../../src/cost/price-catalogue.js';
import { type PricedQuality } from '../../src/providers/pricing.js';
import { FAL_PRICE_TABLE } from '../../src/providers/fal/pricing.js';
import { roundUsd } from '../../src/cost/usd.js';
import { type Resolution, parseResolution, resolutionProblem } from '../../src/shared/resolution.js';

const estimateImageCost = (size: Resolution, quality: PricedQuality = 'high') => {
  const price = tablePrice(FAL_PRICE_TABLE, size, quality);
  return { usd: price.usd, exactSize: price.exact, tier: resolutionTier(size), source: 'https://fal.ai/' };
};
import { resolutionTier } from '../../src/cost/resolution-tier.js';

describe('resolution tiers (Oxen: standard up to 1920x1080, high-resolution from 2560x1440)', () => {
  it.each([
    ['1024x768', 'standard'],
    ['1024x1024', 'standard'],
    ['1024x1536', 'standard'],
    ['1920x1080', 'standard'],
    ['1080x1920', 'standard'],
    ['2048x1152', 'high-resolution'],
    ['2560x1440', 'high-resolution'],
    ['3840x2160', 'high-resolution'],
  ])('%s is %s', (text, tier) => {
    expect(resolutionTier(parseResolution(text)!)).toBe(tier);
  });

  it('parses only WIDTHxHEIGHT', () => {
    expect(parseResolution('1024x768')).toEqual({ width: 1024, height: 768 });
    expect(parseResolution('1024 x 768')).toBeUndefined();
    expect(parseResolution('1024X768')).toBeUndefined();
    expect(parseResolution('auto')).toBeUndefined();
  });

  it('names what is wrong with impossible sizes', () => {
    expect(resolutionProblem({ width: 8, height: 1024 })).toMatch(/at least/);
    expect(resolutionProblem({ width: 4096, height: 1024 })).toMatch(/at most 3840/);
    expect(resolutionProblem({ width: 3840, height: 3840 })).toMatch(/3840x2160/);
    expect(resolutionProblem({ width: 3840, height: 2160 })).toBeUndefined();
  });
});

describe('GPT Image 2 price table (fal.ai model page)', () => {
  it.each([
    ['1024x1024', 'high', 0.22],
    ['1024x1024', 'medium', 0.06],
    ['1024x1024', 'low', 0.01],
    ['1024x768', 'high', 0.15],
    ['1024x1536', 'high', 0.17],
    ['1920x1080', 'high', 0.16],
    ['2560x1440', 'high', 0.23],
    ['3840x2160', 'high', 0.41],
    ['3840x2160', 'medium', 0.11],
  ] as const)('%s at %s costs $%s', (size, quality, usd) => {
    const estimate = estimateImageCost(parseResolution(size)!, quality);
    expect(estimate).toMatchObject({ usd, exactSize: true });
    expect(estimate.source).toMatch(/^https:\/\/fal\.ai\//);
  });

  it('prices both orientations alike and defaults to high quality', () => {
    expect(estimateImageCost({ width: 1536, height: 1024 }).usd).toBe(0.17);
    expect(estimateImageCost({ width: 1080, height: 1920 }).usd).toBe(0.16);
  });

  it('prices sizes outside the table as the next larger size of their tier, marked inexact', () => {
    expect(estimateImageCost({ width: 2048, height: 1152 })).toMatchObject({
      usd: 0.23,
      exactSize: false,
      tier: 'high-resolution',
    });
    expect(estimateImageCost({ width: 512, height: 512 })).toMatchObject({
      usd: 0.15,
      exactSize: false,
      tier: 'standard',
    });
    expect(estimateImageCost({ width: 1600, height: 1200 })).toMatchObject({
      usd: 0.16,
      exactSize: false,
      tier: 'standard',
    });
  });

  it('rounds sums of prices to a millionth', () => {
    expect(roundUsd(0.1 + 0.2)).toBe(0.3);
  });
});
