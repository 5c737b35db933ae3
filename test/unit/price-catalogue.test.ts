import { inputBillingShownBy } from '../../src/batch/billing-facts.js';
import { describe, expect, it, afterAll } from 'vitest';
import type { Quality } from '../../src/shared/job-definitions.js';
import { PriceCatalogue } from '../../src/cost/price-catalogue.js';
import {
  inputImageTokens,
  OPENAI_PRICE_TABLE,
  outputImageTokens,
} from '../../src/providers/gpt-image-tokens.js';
import { FAL_PRICE_TABLE } from '../../src/providers/fal/pricing.js';
import { loadPricingOverride } from '../../src/cost/pricing-file.js';
import { cheaperEquivalent, priceList, priceListLines } from '../../src/cost/price-list.js';
import { PRICED_QUALITIES } from '../../src/providers/pricing.js';
import { PROVIDER_NAMES } from '../../src/shared/config.js';
import { ConfigurationError } from '../../src/shared/errors.js';
import { removeTemporaryDirectories, writeTemporaryFile } from '../helpers/files.js';

afterAll(removeTemporaryDirectories);

/** USD as the catalogue rounds it (to a millionth of a dollar). */
const roundUsdForTest = (usd: number) => Math.round(usd * 1e6) / 1e6;

const catalogue = new PriceCatalogue();
const QUALITIES: Quality[] = ['low', 'medium', 'high'];

/** The GPT Image 2 table as published on fal.ai's model page (seed), USD per image. */
const PUBLISHED_FAL: Record<string, [number, number, number]> = {
  '1024x768': [0.01, 0.04, 0.15],
  '1024x1024': [0.01, 0.06, 0.22],
  '1024x1536': [0.01, 0.05, 0.17],
  '1920x1080': [0.01, 0.04, 0.16],
  '2560x1440': [0.01, 0.06, 0.23],
  '3840x2160': [0.02, 0.11, 0.41],
};
/** OpenAI's per-image figures as published (providers.md §1). */
const PUBLISHED_OPENAI: Record<string, [number, number, number]> = {
  '1024x1024': [0.006, 0.053, 0.211],
  '1024x1536': [0.005, 0.042, 0.165],
  '1920x1080': [0.005, 0.04, 0.158],
  '2560x1440': [0.007, 0.056, 0.222],
  '3840x2160': [0.012, 0.101, 0.401],
};

const request = (
  size: string,
  quality: Quality,
  overrides: Partial<Parameters<PriceCatalogue['quote']>[1]> = {},
) => {
  const [width, height] = size.split('x').map(Number) as [number, number];
  return {
    operation: 'generate' as const,
    resolution: { width, height },
    quality,
    numImages: 1,
    inputImageCount: 0,
    ...overrides,
  };
};

describe('the GPT Image 2 price table, every size × quality', () => {
  // fal.ai's table is each image's token price rounded up to the cent: ours rounds the same way, so they are equal.
  for (const [size, prices] of Object.entries(PUBLISHED_FAL)) {
    for (const [index, quality] of QUALITIES.entries()) {
      it(`fal ${size} ${quality} is the published $${prices[index]}`, () => {
        const quote = catalogue.quote('fal', request(size, quality));
        expect(quote.usdPerImage).toBeCloseTo(prices[index]!, 9);
        expect(quote).toMatchObject({ estimate: false, override: false, basis: 'token-derived' });
        expect(quote.source.url).toMatch(/^https:\/\/fal\.ai\//);
      });
    }
  }
  // OpenAI's per-image figures are token prices given to a tenth of a cent: ours is within that tenth of a cent of each,
  // and within 5 % of it wherever a tenth of a cent is under 5 % of the figure (for the low-quality figures of
  // $0.005–0.012 it is 8–20 %, and ours is the exact token price the figure was rounded from).
  for (const [size, prices] of Object.entries(PUBLISHED_OPENAI)) {
    for (const [index, quality] of QUALITIES.entries()) {
      it(`openai ${size} ${quality} is the published $${prices[index]} to a tenth of a cent`, () => {
        const published = prices[index]!;
        const quote = catalogue.quote('openai', request(size, quality));
        expect(Math.abs(quote.usdPerImage - published)).toBeLessThanOrEqual(0.001);
        if (0.001 / published < 0.05)
          expect(Math.abs(quote.usdPerImage - published) / published).toBeLessThanOrEqual(0.05);
        expect(quote).toMatchObject({ estimate: false, basis: 'token-derived' });
        expect(quote.source.url).toBe('https://openai.com/api/pricing/');
      });
    }
  }
});

describe('catalogue entries', () => {
  it('every provider prices every size of the table, with a source and a date read', () => {
    for (const provider of PROVIDER_NAMES) {
      for (const { size } of [...FAL_PRICE_TABLE, ...OPENAI_PRICE_TABLE]) {
        const quote = catalogue.quote(provider, request(`${size.width}x${size.height}`, 'high'));
        expect(quote.usd).toBeGreaterThan(0);
        expect(quote.source.url).toMatch(/^https:\/\//);
        expect(quote.source.readOn).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      }
    }
  });

  it('labels prices of providers that publish none as estimates (Oxen, Replicate: OpenAI token-derived)', () => {
    for (const provider of ['oxen', 'replicate'] as const) {
      const quote = catalogue.quote(provider, request('2560x1440', 'high'));
      expect(quote).toMatchObject({ estimate: true, basis: 'token-derived', tier: 'high-resolution' });
      // 7,370 output tokens at $30/M (OpenAI's published figure, rounded up: $0.222).
      expect(quote.usdPerImage).toBeCloseTo(0.2211, 9);
      expect(quote.source.note).toMatch(/publishes no per-image price/);
    }
  });

  it('prices WaveSpeed per run by quality and resolution tier: published cells exact, the rest estimated', () => {
    const wavespeed = (size: string, quality: Quality) =>
      catalogue.quote('wavespeed', request(size, quality, { operation: 'edit', inputImageCount: 1 }));
    // Published: "From $0.060/run" (low, 1k) and "$0.1 per run" (the edit page's defaults, medium, 1k).
    expect(wavespeed('1024x1024', 'low')).toMatchObject({ usd: 0.06, estimate: false });
    expect(wavespeed('1024x1024', 'medium')).toMatchObject({ usd: 0.1, estimate: false });
    // 1536x1024 needs 2k (3:2 at 1k delivers at least 1024x672): not published, never below medium 1k.
    expect(wavespeed('1536x1024', 'medium')).toMatchObject({ usd: 0.1, estimate: true });
    // Not published: medium 1k scaled by output tokens (high 1024x1024: 7,024 / 1,756 tokens), at least $0.06.
    const high = wavespeed('1024x1024', 'high');
    expect(high.estimate).toBe(true);
    expect(high.usd).toBeCloseTo(
      0.1 * (7024 / outputImageTokens({ width: 1024, height: 1024 }, 'medium')!),
      6,
    );
    expect(wavespeed('3840x2160', 'low').usd).toBe(0.06);
    const fourK = wavespeed('3840x2160', 'medium');
    expect(fourK.estimate).toBe(true);
    expect(fourK.usd).toBeGreaterThan(0.1);
    // 1920x1080 is WaveSpeed's 2k: never cheaper than the published medium 1k.
    expect(wavespeed('1920x1080', 'medium').usd).toBeGreaterThanOrEqual(0.1);
  });

  it('counts images and, where billed, edit input images as image input tokens', () => {
    const three = catalogue.quote('fal', request('1024x1024', 'high', { numImages: 3 }));
    expect(three.usd).toBeCloseTo(0.66, 6);
    const edit = catalogue.quote(
      'openai',
      request('1024x1024', 'high', { operation: 'edit', inputImageCount: 2 }),
    );
    // 7,024 output tokens at $30/M, and each input at most 1,536 image tokens at $8/M (its size is not known here).
    expect(edit.usd).toBeCloseTo(roundUsdForTest(7024 * 30e-6 + 2 * 1536 * 8e-6), 6);
    expect(edit.estimate).toBe(true);
    // Sizes read from local files price each input by its own patches: 512x512 → 1024x1024 → 1,024 tokens.
    const measured = catalogue.quote(
      'openai',
      request('1024x1024', 'high', {
        operation: 'edit',
        inputImageCount: 2,
        inputImageSizes: [{ width: 512, height: 512 }, undefined],
      }),
    );
    expect(measured.usd).toBeCloseTo(roundUsdForTest(7024 * 30e-6 + (1024 + 1536) * 8e-6), 6);
    expect(measured.estimate).toBe(true);
    const allMeasured = catalogue.quote(
      'openai',
      request('1024x1024', 'high', {
        operation: 'edit',
        inputImageCount: 1,
        inputImageSizes: [{ width: 512, height: 512 }],
      }),
    );
    expect(allMeasured.estimate).toBe(false);
    const withPrompt = catalogue.quote('openai', request('1024x1024', 'high', { promptCharacters: 400 }));
    expect(withPrompt.usd).toBeCloseTo(roundUsdForTest(7024 * 30e-6 + 100 * 5e-6), 6);
    const twoImages = catalogue.quote(
      'openai',
      request('1024x1024', 'high', { numImages: 2, promptCharacters: 400 }),
    );
    // n > 1 is billed as n calls, prompt included.
    expect(twoImages.usd).toBeCloseTo(roundUsdForTest(2 * (7024 * 30e-6 + 100 * 5e-6)), 6);
  });

  it('computes the actual cost of OpenAI usage from token prices', () => {
    const usage = {
      input_tokens: 1050,
      input_tokens_details: { text_tokens: 50, image_tokens: 1000 },
      output_tokens: 7000,
    };
    expect(catalogue.actualUsd('openai', usage)).toBeCloseTo(50 * 5e-6 + 1000 * 8e-6 + 7000 * 30e-6, 6);
    expect(catalogue.actualUsd('oxen', usage)).toBeUndefined();
    expect(catalogue.actualUsd('openai', null)).toBeUndefined();
  });

  it('prices text output tokens at $10/M and cached input tokens at the cached rates', () => {
    const usage = {
      input_tokens: 1050,
      input_tokens_details: { text_tokens: 50, image_tokens: 1000, cached_tokens: 20 },
      output_tokens: 7100,
      output_tokens_details: { image_tokens: 7000, text_tokens: 100 },
    };
    expect(catalogue.actualUsd('openai', usage)).toBeCloseTo(
      30 * 5e-6 + 20 * 1.25e-6 + 1000 * 8e-6 + 7000 * 30e-6 + 100 * 10e-6,
      6,
    );
  });

  it('says "unpriced" for GPT Image 2.5 xhigh and max instead of guessing', () => {
    const quote = catalogue.quote('openai', request('1024x1024', 'xhigh'));
    expect(quote).toMatchObject({ unpriced: true, usd: 0, basis: 'unpriced' });
    expect(quote.source.note).toMatch(/no published price for quality "xhigh"/);
  });
});

describe('price list and cheaper equivalents', () => {
  it('lists every provider with its source, date read and a price for every common size and quality', () => {
    const entries = priceList(catalogue);
    expect(entries.map((entry) => entry.provider)).toEqual([...PROVIDER_NAMES]);
    for (const entry of entries) {
      expect(entry.source.url).toMatch(/^https:\/\//);
      expect(entry.source.readOn).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      expect(entry.sizes).toHaveLength(6);
      for (const size of entry.sizes)
        for (const quality of PRICED_QUALITIES) expect(size.usd[quality]).toBeGreaterThan(0);
    }
    const fal = entries.find((entry) => entry.provider === 'fal')!;
    expect(fal.sizes.find((size) => size.size === '3840x2160')!.usd.high).toBe(0.41);
    expect(priceListLines(entries).join('\n')).toMatch(
      /WaveSpeedAI \(wavespeed\)[\s\S]*1024x1024\s+standard\s+\$0\.06\s+\$0\.10/,
    );
  });

  it('finds a size with at least as many pixels that costs less at the same quality (1536x1024 high < 1024x1024 high)', () => {
    const hint = cheaperEquivalent(catalogue, 'openai', {
      resolution: '1024x1024',
      quality: 'high',
      operation: 'generate',
    });
    // 5,488 and 7,024 output tokens at $30/M.
    expect(hint?.resolution).toBe('1536x1024');
    expect(hint?.usdPerImage).toBeCloseTo(5488 * 30e-6, 9);
    expect(hint?.currentUsdPerImage).toBeCloseTo(7024 * 30e-6, 9);
    // Nothing cheaper with as many pixels than the widest allowed size; none where the price does not follow pixels.
    expect(
      cheaperEquivalent(catalogue, 'openai', {
        resolution: '3840x2160',
        quality: 'high',
        operation: 'generate',
      }),
    ).toBeUndefined();
    expect(
      cheaperEquivalent(catalogue, 'wavespeed', {
        resolution: '1024x1024',
        quality: 'high',
        operation: 'generate',
      }),
    ).toBeUndefined();
  });
});

describe('pricing override files', () => {
  it('reads YAML and JSON, and the quotes say the price came from the file', async () => {
    const yamlFile = await writeTemporaryFile(
      'prices.yaml',
      'providers:\n  oxen:\n    per_image_usd:\n      standard: 0.12\n      high-resolution: 0.3\n    source: our Oxen contract\n',
    );
    const jsonFile = await writeTemporaryFile(
      'prices.json',
      JSON.stringify({
        providers: { openai: { per_image_usd: { '1024x1024': { high: 0.2 } }, per_input_image_usd: 0.01 } },
      }),
    );
    const fromYaml = new PriceCatalogue(await loadPricingOverride(yamlFile));
    expect(fromYaml.quote('oxen', request('1024x1024', 'high'))).toMatchObject({
      usd: 0.12,
      override: true,
      basis: 'override',
    });
    expect(fromYaml.quote('oxen', request('3840x2160', 'high')).usd).toBe(0.3);
    expect(fromYaml.quote('fal', request('1024x1024', 'high')).override).toBe(false);
    const fromJson = new PriceCatalogue(await loadPricingOverride(jsonFile));
    expect(
      fromJson.quote('openai', request('1024x1024', 'high', { operation: 'edit', inputImageCount: 2 })).usd,
    ).toBeCloseTo(0.22, 6);
    expect(fromJson.quote('openai', request('1024x1024', 'low')).override).toBe(false);
  });

  it('names the file and every bad field', async () => {
    const file = await writeTemporaryFile(
      'bad.json',
      JSON.stringify({ providers: { oxen: { per_image_usd: -1 }, nobody: {} } }),
    );
    const error = await loadPricingOverride(file).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toContain(file);
    expect((error as Error).message).toMatch(/providers\.oxen\.per_image_usd/);
    expect((error as Error).message).toMatch(/nobody/);
  });
});

describe('GPT Image 2 tokens', () => {
  it("reproduces OpenAI's own output-token examples exactly", () => {
    const examples: Array<[string, Quality, number]> = [
      ['1024x1024', 'high', 7024],
      ['1536x1024', 'high', 5488],
      ['1792x1024', 'high', 5063],
      ['3584x2048', 'high', 12329],
      ['960x720', 'low', 130],
      ['976x704', 'low', 129],
    ];
    for (const [size, quality, tokens] of examples) {
      const [width, height] = size.split('x').map(Number) as [number, number];
      expect(outputImageTokens({ width, height }, quality), `${size} ${quality}`).toBe(tokens);
      expect(outputImageTokens({ width: height, height: width }, quality), `${size} turned`).toBe(tokens);
    }
  });

  it('prices every size a provider allows, not only listed ones; xhigh and max stay unpriced', () => {
    const odd = catalogue.quote('openai', request('1248x832', 'medium'));
    expect(odd.usdPerImage).toBeCloseTo(
      outputImageTokens({ width: 1248, height: 832 }, 'medium')! * 30e-6,
      9,
    );
    expect(odd.estimate).toBe(false);
    expect(outputImageTokens({ width: 1024, height: 1024 }, 'xhigh')).toBeUndefined();
    expect(catalogue.quote('openai', request('1024x1024', 'xhigh')).unpriced).toBe(true);
  });

  it('counts an edit input image in 32 px patches, magnified toward 1,024 px and capped at 1,536 patches', () => {
    expect(inputImageTokens({ width: 1024, height: 1024 })).toBe(1024);
    // A small input is magnified (at most 2x) toward a 1,024 px long side.
    expect(inputImageTokens({ width: 512, height: 512 })).toBe(1024);
    expect(inputImageTokens({ width: 256, height: 256 })).toBe(256);
    // A large one is shrunk to the patch budget.
    expect(inputImageTokens({ width: 4096, height: 4096 })).toBeLessThanOrEqual(1536);
    expect(inputImageTokens({ width: 4096, height: 4096 })).toBeGreaterThan(1400);
    // Unknown size: the budget, so the estimate errs high.
    expect(inputImageTokens()).toBe(1536);
  });
});

describe('the input side of a request of n images', () => {
  const prompt = 'a detailed prompt of a lighthouse on a cliff at dusk, waves below, gulls above, warm light';
  const threeEdits = {
    operation: 'edit' as const,
    resolution: { width: 1024, height: 1024 },
    quality: 'high' as const,
    numImages: 3,
    inputImageCount: 2,
    inputImageSizes: [
      { width: 1024, height: 1024 },
      { width: 1024, height: 1024 },
    ],
    promptCharacters: prompt.length,
  };

  it('is read from the usage of an n > 1 answer: about n copies of the prompt is per image, about one is once', () => {
    const single = Math.ceil(prompt.length / 4);
    const usage = (textTokens: number) => ({
      input_tokens_details: { text_tokens: textTokens, image_tokens: 0 },
    });
    const request = { numImages: 3, promptCharacters: prompt.length };
    expect(inputBillingShownBy(usage(3 * single), request)).toBe('per-image');
    expect(inputBillingShownBy(usage(single + 2), request)).toBe('once');
    expect(inputBillingShownBy(usage(single), { ...request, numImages: 1 })).toBeUndefined();
    expect(inputBillingShownBy({ input_tokens: 40 }, request)).toBeUndefined();
  });

  it('is priced per image (the most it can cost, marked an estimate) until the host has shown it, then as shown', () => {
    const catalogue = new PriceCatalogue();
    const unknown = catalogue.quote('openai', threeEdits);
    expect(unknown.estimate).toBe(true);
    catalogue.learnInputBilling({ openai: 'once' });
    const once = catalogue.quote('openai', threeEdits);
    expect(once.estimate).toBe(false);
    const one = catalogue.quote('openai', { ...threeEdits, numImages: 1 });
    // One image: output, prompt and inputs; three billed once on the input side: output three times, the rest once.
    const inputs = one.usd - once.usdPerImage;
    expect(once.usd).toBeCloseTo(3 * once.usdPerImage + inputs, 6);
    expect(unknown.usd).toBeCloseTo(3 * one.usd, 6);
    expect(once.usd).toBeLessThan(unknown.usd);
  });
});
