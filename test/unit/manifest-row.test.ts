import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateRow } from '../../src/producer/manifest-row.js';

const directory = '/data/manifests';

function errorsOf(fields: Record<string, unknown>) {
  const result = validateRow(fields, directory);
  return result.ok ? [] : result.errors;
}

describe('validateRow', () => {
  it('fills defaults: generate without images, 1024x1024, one png; keeps the prompt as written', () => {
    const result = validateRow({ prompt: '  a red kite  ' }, directory);
    expect(result).toEqual({
      ok: true,
      unknownFields: [],
      row: {
        prompt: '  a red kite  ',
        mode: 'generate',
        imageUrls: [],
        resolution: '1024x1024',
        numImages: 1,
        outputFormat: 'png',
      },
    });
  });

  it('infers edit from images, splits CSV image lists on |, and resolves paths against the manifest folder', () => {
    const result = validateRow(
      {
        prompt: 'blend',
        image_urls: 'a.png | sub/b.jpg|https://example.com/c.png',
        num_images: '2',
        output_format: 'JPEG',
      },
      directory,
    );
    expect(result.ok && result.row).toMatchObject({
      mode: 'edit',
      imageUrls: [
        path.join(directory, 'a.png'),
        path.join(directory, 'sub/b.jpg'),
        'https://example.com/c.png',
      ],
      numImages: 2,
      outputFormat: 'jpeg',
    });
  });

  it("accepts JSON arrays and fal's mask_image_url spelling", () => {
    const result = validateRow(
      { prompt: 'sky', image_urls: ['x.png'], mask_image_url: 'mask.png' },
      directory,
    );
    expect(result.ok && result.row.maskUrl).toBe(path.join(directory, 'mask.png'));
  });

  it('treats empty CSV cells and JSON nulls as not given', () => {
    const result = validateRow(
      { id: '', prompt: 'p', quality: '', num_images: null, mask_url: '' },
      directory,
    );
    expect(result.ok && result.row).toEqual({
      prompt: 'p',
      mode: 'generate',
      imageUrls: [],
      resolution: '1024x1024',
      numImages: 1,
      outputFormat: 'png',
    });
  });

  it('keeps the id of a numeric JSON id as text', () => {
    const result = validateRow({ id: 42, prompt: 'p' }, directory);
    expect(result.ok && result.row.id).toBe('42');
  });

  it('trims a resolution with a trailing space', () => {
    const result = validateRow({ prompt: 'p', resolution: '1920x1080 ' }, directory);
    expect(result.ok && result.row.resolution).toBe('1920x1080');
  });

  it.each([
    [{}, 'prompt', /required/],
    [{ prompt: '   ' }, 'prompt', /required/],
    [{ prompt: 42 }, 'prompt', /text/],
    [{ prompt: 'p', resolution: '1024x' }, 'resolution', /WIDTHxHEIGHT/],
    [{ prompt: 'p', resolution: '0x0' }, 'resolution', /at least 16/],
    [{ prompt: 'p', resolution: '-1024x1024' }, 'resolution', /WIDTHxHEIGHT/],
    [{ prompt: 'p', resolution: '4000x4000' }, 'resolution', /at most 3840/],
    [{ prompt: 'p', resolution: '3840x3840' }, 'resolution', /3840x2160/],
    [{ prompt: 'p', resolution: 1024 }, 'resolution', /text/],
    [{ prompt: 'p', num_images: '0' }, 'num_images', /1 to 10/],
    [{ prompt: 'p', num_images: 11 }, 'num_images', /1 to 10/],
    [{ prompt: 'p', num_images: 1.5 }, 'num_images', /whole number/],
    [{ prompt: 'p', num_images: 'two' }, 'num_images', /whole number/],
    [{ prompt: 'p', output_format: 'gif' }, 'output_format', /png, jpeg, webp/],
    [{ prompt: 'p', quality: 'ultra' }, 'quality', /low, medium, high/],
    [{ prompt: 'p', mode: 'remix' }, 'mode', /generate, edit/],
    [{ prompt: 'p', provider: 'nope' }, 'provider', /one of/],
    [{ prompt: 'p', mode: 'edit' }, 'image_urls', /at least one input image/],
    [{ prompt: 'p', mode: 'generate', image_urls: 'a.png' }, 'image_urls', /use mode "edit"/],
    [{ prompt: 'p', mask_url: 'm.png' }, 'mask_url', /only applies to mode "edit"/],
    [{ prompt: 'p', image_urls: 'javascript:alert(1)' }, 'image_urls', /not accepted/],
    [{ prompt: 'p', image_urls: 'file:///etc/passwd' }, 'image_urls', /not accepted/],
    [{ prompt: 'p', image_urls: 'https://user:secret@example.com/a.png' }, 'image_urls', /password/],
    [{ prompt: 'p', image_urls: 42 }, 'image_urls', /list of image URLs/],
  ])('rejects %j naming the field %s', (fields, field, message) => {
    const errors = errorsOf(fields);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors).toContainEqual({ field, message: expect.stringMatching(message) });
  });

  it('reports unknown fields without rejecting the row', () => {
    const result = validateRow({ prompt: 'p', promt: 'typo', colour: 'red' }, directory);
    expect(result.ok).toBe(true);
    expect(result.unknownFields).toEqual(['promt', 'colour']);
  });

  it('never puts a password-bearing URL in its message', () => {
    const errors = errorsOf({ prompt: 'p', image_urls: 'https://user:hunter2@example.com/a.png' });
    expect(JSON.stringify(errors)).not.toContain('hunter2');
  });
});

describe('the provider field: one host, several, or auto', () => {
  const rowOf = (provider: unknown) => {
    const result = validateRow({ prompt: 'p', provider }, directory);
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    return result.row;
  };

  it('reads a CSV list separated by |, a JSONL array, and auto', () => {
    expect(rowOf('fal|OpenAI').candidates).toEqual(['fal', 'openai']);
    expect(rowOf(['replicate', 'oxen']).candidates).toEqual(['replicate', 'oxen']);
    expect(rowOf('auto').candidates).toBe('auto');
    // One host, however written, is a pinned row.
    expect(rowOf('fal|fal')).toMatchObject({ provider: 'fal' });
    expect(rowOf(['oxen']).candidates).toBeUndefined();
  });

  it('refuses an unknown host in a list, naming the field and the value', () => {
    expect(errorsOf({ prompt: 'p', provider: 'openai|midjourney' })).toEqual([
      { field: 'provider', message: expect.stringMatching(/must be auto, or one of .*midjourney/) },
    ]);
    expect(errorsOf({ prompt: 'p', provider: [] })).toEqual([
      { field: 'provider', message: 'names no host' },
    ]);
  });
  it("takes the row's own route policy among several hosts; refuses one with a single host or an unknown policy", () => {
    const row = validateRow({ prompt: 'p', provider: 'auto', route: 'Fastest' }, directory);
    expect(row.ok && row.row.route).toBe('fastest');
    expect(errorsOf({ prompt: 'p', provider: 'fal', route: 'fastest' })).toEqual([
      { field: 'route', message: expect.stringMatching(/provider names one/) },
    ]);
    expect(errorsOf({ prompt: 'p', provider: 'auto', route: 'random' })).toEqual([
      { field: 'route', message: 'must be one of: cheapest, fastest' },
    ]);
  });
});
