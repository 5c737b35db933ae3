import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { jobIdFor, queueNameFor } from '../../src/shared/keys.js';
import { batchPaths, outputImagePath, resolveInside } from '../../src/storage/output-layout.js';
import { rowKeyStem, safeFileStem } from '../../src/shared/keys.js';

describe('safeFileStem', () => {
  it('keeps safe names unchanged', () => {
    expect(safeFileStem('ladybird-night_2.v1')).toBe('ladybird-night_2.v1');
  });

  it.each([
    '../../x',
    '/etc/passwd',
    'a\\..\\b',
    'CON',
    'a\0b',
    '..',
    '.hidden',
    '-rf',
    'sp ace',
    'a:b',
    'ü',
  ])('turns %j into one plain file name', (name) => {
    const stem = safeFileStem(name);
    expect(stem).toMatch(/^[A-Za-z0-9_+][A-Za-z0-9._+-]*$/);
    expect(stem).not.toContain('/');
    expect(stem).not.toContain('\\');
    expect(stem).not.toContain(':');
    expect(stem.startsWith('..')).toBe(false);
  });

  it('keeps different names apart even when they sanitise alike', () => {
    expect(safeFileStem('a/b')).not.toBe(safeFileStem('a?b'));
    expect(safeFileStem('a/b')).not.toBe('a_b');
  });

  it('keeps a row key that looks hashed apart from the key it looks like (issue 18: two rows, one job)', () => {
    const hashed = rowKeyStem('a/b');
    expect(hashed).toMatch(/^a_b-[0-9a-f]{8}$/);
    expect(rowKeyStem(hashed)).not.toBe(hashed);
    const keys = ['a/b', hashed, 'a?b', 'a_b', rowKeyStem(hashed), 'x-deadbeef', 'x/deadbeef'];
    expect(new Set(keys.map(rowKeyStem)).size).toBe(keys.length);
    expect(new Set(keys.map((key) => jobIdFor('b', key))).size).toBe(keys.length);
  });

  it('caps long names', () => {
    expect(safeFileStem('x'.repeat(500)).length).toBeLessThanOrEqual(109);
  });
});

describe('output paths', () => {
  it('lays a batch out under <out>/<batch>/', () => {
    const paths = batchPaths('/out', 'batch-1');
    expect(paths).toEqual({
      directory: '/out/batch-1',
      images: '/out/batch-1/images',
      results: '/out/batch-1/results.jsonl',
      rejects: '/out/batch-1/rejects.jsonl',
      summary: '/out/batch-1/summary.json',
    });
  });

  it('names images <row-key>[-<n>].<ext>', () => {
    expect(outputImagePath('row-7', 0, 1, 'png')).toBe('images/row-7.png');
    expect(outputImagePath('row-7', 1, 3, 'jpeg')).toBe('images/row-7-2.jpg');
    expect(outputImagePath('row-7', 0, 1, 'webp')).toBe('images/row-7.webp');
  });

  it('never leaves the batch directory, whatever the row key says', () => {
    for (const rowKey of ['../../../etc/cron.d/x', '/abs/path', '..', 'a/../../b']) {
      const relative = outputImagePath(rowKey, 0, 1, 'png');
      const absolute = resolveInside('/out/batch', relative);
      expect(absolute.startsWith('/out/batch/images/')).toBe(true);
    }
  });

  it('refuses a relative path that escapes', () => {
    expect(() => resolveInside('/out/batch', '../x.png')).toThrow(/outside/);
    expect(() => resolveInside('/out/batch', '/etc/x.png')).toThrow(/outside/);
  });

  it('keeps a batch id with a path in it inside the output root', () => {
    expect(path.dirname(batchPaths('/out', '../../evil').directory)).toBe('/out');
  });
});

describe('job ids', () => {
  it('are the same for the same batch and row key, and differ otherwise', () => {
    expect(jobIdFor('b1', 'row-1')).toBe(jobIdFor('b1', 'row-1'));
    expect(jobIdFor('b1', 'row-1')).not.toBe(jobIdFor('b2', 'row-1'));
    expect(jobIdFor('b1', 'row-1')).not.toBe(jobIdFor('b1', 'row-2'));
  });

  it('never contain ":" and are never all digits (BullMQ custom id rules)', () => {
    for (const rowKey of ['12', 'a:b', '::', '7']) {
      const id = jobIdFor('batch', rowKey);
      expect(id).not.toContain(':');
      expect(id).not.toMatch(/^\d+$/);
    }
  });

  it('queue names are one per provider', () => {
    expect(queueNameFor('oxen')).toBe('{provider-oxen}');
  });
});
