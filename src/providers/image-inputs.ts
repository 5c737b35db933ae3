/**
 * Input images for provider requests: local files become data URIs; URLs pass through.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';

/** Largest local input image we send inline, in bytes (OpenAI's per-image limit is 50 MB; data URIs grow by 4/3). */
export const MAX_INLINE_IMAGE_BYTES = 20 * 1024 * 1024;

/** The MIME type of an image from its first bytes; undefined when it is not PNG, JPEG, WebP or GIF. */
export function sniffImageType(bytes: Uint8Array): string | undefined {
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) {
    return 'image/png';
  }
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'image/jpeg';
  if (bytes.length >= 12 && Buffer.from(bytes.subarray(0, 4)).toString('latin1') === 'RIFF') {
    if (Buffer.from(bytes.subarray(8, 12)).toString('latin1') === 'WEBP') return 'image/webp';
  }
  if (bytes.length >= 6 && Buffer.from(bytes.subarray(0, 3)).toString('latin1') === 'GIF') return 'image/gif';
  return undefined;
}

/**
 * A reference as a provider can fetch it: URLs unchanged, an absolute local path read into a base64 data URI.
 * @throws Error naming the file when it cannot be read, is too large, or is not an image.
 */
export async function toFetchableImage(reference: string): Promise<string> {
  if (!path.isAbsolute(reference)) return reference;
  let bytes: Buffer;
  try {
    bytes = await readFile(reference);
  } catch (error) {
    throw new Error(
      `cannot read input image ${reference} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  if (bytes.length > MAX_INLINE_IMAGE_BYTES) {
    throw new Error(`input image ${reference} is larger than ${MAX_INLINE_IMAGE_BYTES} bytes`);
  }
  const type = sniffImageType(bytes);
  if (type === undefined) throw new Error(`input image ${reference} is not a PNG, JPEG, WebP or GIF file`);
  return `data:${type};base64,${bytes.toString('base64')}`;
}
