/**
 * The reuse key (issue 31): two requests that differ in any field shaping the image never share a key; the same request
 * always has the same key, whatever the host or the batch.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { reuseKey, type InputDigests } from '../../src/batch/reuse-key.js';
import type { ImageRequest } from '../../src/shared/job-definitions.js';

const digest = fc.stringMatching(/^[0-9a-f]{64}$/);
const request = fc.record({
  operation: fc.constantFrom('generate', 'edit'),
  prompt: fc.string({ maxLength: 40 }),
  model: fc.option(fc.constantFrom('gpt-image-2', 'gpt-image-1', 'openai/gpt-image-2'), { nil: undefined }),
  resolution: fc.constantFrom('1024x1024', '1536x1024', '1024x1536', '2048x2048'),
  quality: fc.option(fc.constantFrom('low', 'medium', 'high', 'auto'), { nil: undefined }),
  outputFormat: fc.constantFrom('png', 'jpeg', 'webp'),
  background: fc.option(fc.constantFrom('transparent', 'opaque', 'auto'), { nil: undefined }),
  outputCompression: fc.option(fc.integer({ min: 0, max: 100 }), { nil: undefined }),
  moderation: fc.option(fc.constantFrom('low', 'auto'), { nil: undefined }),
  numImages: fc.integer({ min: 1, max: 10 }),
  fidelity: fc.option(fc.constantFrom('low', 'high'), { nil: undefined }),
  inputs: fc.array(digest, { maxLength: 3 }),
  mask: fc.option(digest, { nil: undefined }),
});
type Drawn = typeof request extends fc.Arbitrary<infer T> ? T : never;
const FIELDS = [
  'operation',
  'prompt',
  'model',
  'resolution',
  'quality',
  'outputFormat',
  'background',
  'outputCompression',
  'moderation',
  'numImages',
  'fidelity',
  'inputs',
  'mask',
] as const;

function keyOf(drawn: Drawn, folder = '/somewhere'): string {
  const image: ImageRequest = {
    operation: drawn.operation,
    prompt: drawn.prompt,
    inputImages: drawn.inputs.map((_, index) => `${folder}/${index}.png`),
    resolution: drawn.resolution,
    numImages: drawn.numImages,
    outputFormat: drawn.outputFormat,
    ...(drawn.model === undefined ? {} : { model: drawn.model }),
    ...(drawn.quality === undefined ? {} : { quality: drawn.quality as ImageRequest['quality'] & string }),
    ...(drawn.background === undefined ? {} : { background: drawn.background }),
    ...(drawn.outputCompression === undefined ? {} : { outputCompression: drawn.outputCompression }),
    ...(drawn.moderation === undefined ? {} : { moderation: drawn.moderation }),
    ...(drawn.fidelity === undefined ? {} : { modelParameters: { input_fidelity: drawn.fidelity } }),
  };
  const digests: InputDigests = { inputs: drawn.inputs, mask: drawn.mask };
  return reuseKey(image, digests);
}

describe('reuse key', () => {
  it('is the same for the same request (paths of the inputs do not matter, their content does)', () => {
    fc.assert(
      fc.property(request, (drawn) => {
        expect(keyOf(drawn)).toBe(keyOf(structuredClone(drawn), '/elsewhere'));
      }),
    );
  });

  it('differs whenever any field that shapes the image differs', () => {
    fc.assert(
      fc.property(request, request, fc.constantFrom(...FIELDS), (a, b, field) => {
        const changed = { ...a, [field]: b[field] };
        fc.pre(JSON.stringify(changed[field]) !== JSON.stringify(a[field]));
        expect(keyOf(changed)).not.toBe(keyOf(a));
      }),
      { numRuns: 2000 },
    );
  });
});
