/**
 * Real images for the simulator, made with sharp at the requested size and format: a generate is a gradient derived
 * from the prompt with the prompt written on it; an edit is the first input image, tinted by the prompt (inside the
 * mask only, when one is given), with the other inputs as thumbnails and the prompt as a caption.
 */
import { createHash } from 'node:crypto';
import sharp, { type Sharp } from 'sharp';
import type { OutputFormat } from '../shared/job-definitions.js';
import type { Resolution } from '../shared/resolution.js';

/** Two colours derived from a text, as `#rrggbb`. */
export function colorsFor(text: string): [string, string] {
  const digest = createHash('sha256').update(text).digest();
  const hex = (offset: number) => `#${digest.subarray(offset, offset + 3).toString('hex')}`;
  return [hex(0), hex(3)];
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (character) => `&#${character.charCodeAt(0)};`);
}

function captionSvg(prompt: string, size: Resolution, label: string): Buffer {
  const fontSize = Math.max(12, Math.round(Math.min(size.width, size.height) / 24));
  const charactersPerLine = Math.max(10, Math.floor(size.width / (fontSize * 0.6)) - 4);
  const words = prompt.replace(/\s+/g, ' ').slice(0, 400).split(' ');
  const lines: string[] = [];
  let current = '';
  for (const word of words) {
    if ((current + ' ' + word).trim().length > charactersPerLine && current !== '') {
      lines.push(current);
      current = word;
    } else current = (current + ' ' + word).trim();
  }
  if (current !== '') lines.push(current);
  const shown = lines.slice(0, 4);
  const boxHeight = Math.round(fontSize * 1.4 * (shown.length + 1) + fontSize);
  const top = size.height - boxHeight;
  const text = [label, ...shown]
    .map(
      (line, index) =>
        `<text x="${fontSize}" y="${top + fontSize * 1.4 * (index + 1)}" font-family="sans-serif" font-size="${
          index === 0 ? Math.round(fontSize * 0.7) : fontSize
        }" fill="white">${escapeXml(line)}</text>`,
    )
    .join('');
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${size.width}" height="${size.height}">` +
      `<rect x="0" y="${top}" width="${size.width}" height="${boxHeight}" fill="black" fill-opacity="0.55"/>${text}</svg>`,
  );
}

async function encode(image: Sharp, format: OutputFormat): Promise<Buffer> {
  switch (format) {
    case 'png':
      return image.png({ compressionLevel: 6 }).toBuffer();
    case 'jpeg':
      return image.jpeg({ quality: 85 }).toBuffer();
    case 'webp':
      return image.webp({ quality: 80 }).toBuffer();
  }
}

/** Generated images by prompt, size and format: the same request makes the same image, so it is made once. */
const generatedImages = new Map<string, Promise<Buffer>>();
/** Generated images kept (the oldest goes first). */
const GENERATED_IMAGES_KEPT = 64;

/** An image "generated" from `prompt` (the same bytes for the same prompt, size and format). */
export function makeGeneratedImage(prompt: string, size: Resolution, format: OutputFormat): Promise<Buffer> {
  const key = `${size.width}x${size.height}.${format}:${prompt}`;
  let image = generatedImages.get(key);
  if (image === undefined) {
    image = drawGeneratedImage(prompt, size, format);
    image.catch(() => generatedImages.delete(key));
    generatedImages.set(key, image);
    while (generatedImages.size > GENERATED_IMAGES_KEPT)
      generatedImages.delete(generatedImages.keys().next().value!);
  }
  return image;
}

/**
 * A prompt with this marker gets random noise instead of a gradient: an image that does not compress, as large as
 * a detailed photograph of its size (what the large-output benchmark needs).
 */
export const NOISE_MARKER = /\[simulate:noise\]/i;

async function drawGeneratedImage(prompt: string, size: Resolution, format: OutputFormat): Promise<Buffer> {
  if (NOISE_MARKER.test(prompt)) {
    const noise = sharp({
      create: {
        width: size.width,
        height: size.height,
        channels: 3,
        background: '#808080',
        noise: { type: 'gaussian', mean: 128, sigma: 60 },
      },
    });
    return encode(noise, format);
  }
  const [from, to] = colorsFor(prompt);
  const background = Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${size.width}" height="${size.height}">` +
      `<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="${from}"/>` +
      `<stop offset="1" stop-color="${to}"/></linearGradient></defs>` +
      `<rect width="100%" height="100%" fill="url(#g)"/>` +
      `<circle cx="${size.width / 2}" cy="${size.height / 2.5}" r="${Math.min(size.width, size.height) / 5}" fill="${to}" fill-opacity="0.6"/></svg>`,
  );
  const image = sharp(background).composite([
    { input: captionSvg(prompt, size, 'simulated gpt-image-2 · generate') },
  ]);
  return encode(image, format);
}

/** An image "edited" from `inputs` (encoded images, at least one) by `prompt`, inside `mask` when given. */
export async function makeEditedImage(
  prompt: string,
  inputs: Buffer[],
  mask: Buffer | undefined,
  size: Resolution,
  format: OutputFormat,
): Promise<Buffer> {
  const [tint] = colorsFor(prompt);
  const base = await sharp(inputs[0])
    .resize(size.width, size.height, { fit: 'cover' })
    .removeAlpha()
    .png()
    .toBuffer();
  let tintLayer: Buffer;
  const solid = sharp({ create: { width: size.width, height: size.height, channels: 3, background: tint } });
  if (mask !== undefined) {
    const alpha = await sharp(mask)
      .resize(size.width, size.height, { fit: 'fill' })
      .greyscale()
      .linear(0.6, 0)
      .toColourspace('b-w')
      .raw()
      .toBuffer();
    tintLayer = await solid
      .joinChannel(alpha, { raw: { width: size.width, height: size.height, channels: 1 } })
      .png()
      .toBuffer();
  } else {
    tintLayer = await solid.ensureAlpha(0.45).png().toBuffer();
  }
  const thumbnailWidth = Math.max(16, Math.round(size.width / 6));
  const thumbnails = await Promise.all(
    inputs.slice(1, 5).map(async (input, index) => ({
      input: await sharp(input)
        .resize(thumbnailWidth, Math.round((thumbnailWidth * 2) / 3), { fit: 'cover' })
        .png()
        .toBuffer(),
      top: Math.round(size.height / 40),
      left: Math.round(size.width / 40) + index * (thumbnailWidth + Math.round(size.width / 60)),
    })),
  );
  const image = sharp(base).composite([
    { input: tintLayer, blend: 'over' },
    ...thumbnails,
    { input: captionSvg(prompt, size, `simulated gpt-image-2 · edit of ${inputs.length} image(s)`) },
  ]);
  return encode(image, format);
}

/** A PNG that is only a header claiming `width`x`height` pixels (a decompression-bomb stand-in). */
export function pngHeaderClaiming(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.writeUInt8(8, 8); // bit depth
  header.writeUInt8(2, 9); // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', Buffer.from([0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01])),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

function crc32(bytes: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit += 1) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** The last generated images, by size, format and prompt (see {@link sharedGeneratedImage}). */
const recentImages = new Map<string, Promise<Buffer>>();

/**
 * {@link makeGeneratedImage}, shared: the same prompt, size and format always give the same image, so the last few are
 * kept (a scale run of ten thousand identical rows then costs one encode); noise prompts are made anew.
 */
export function sharedGeneratedImage(
  prompt: string,
  size: Resolution,
  format: OutputFormat,
): Promise<Buffer> {
  if (/\[simulate:noise\]/i.test(prompt)) return makeGeneratedImage(prompt, size, format);
  const key = `${size.width}x${size.height}.${format}:${prompt}`;
  let image = recentImages.get(key);
  if (image === undefined) {
    image = makeGeneratedImage(prompt, size, format);
    recentImages.set(key, image);
    image.catch(() => recentImages.delete(key));
    if (recentImages.size > 32) recentImages.delete(recentImages.keys().next().value!);
  }
  return image;
}
