/**
 * The local input files of manifest rows, looked at once per run: whether each exists, its image type by its first
 * bytes, and its pixel size (which prices its input image tokens).
 */
import { open } from 'node:fs/promises';
import sharp from 'sharp';
import type { ModelCapabilities } from '../providers/capabilities.js';
import { sniffImageType } from '../providers/image-inputs.js';
import type { FieldError } from '../shared/errors.js';
import { isLocalImage, type ManifestRow } from './manifest-row.js';
/**
 * What the producer knows of a local input file: whether it exists, its image type by its first bytes, and its pixel
 * size `WIDTHxHEIGHT` from its header (prices its input image tokens), when readable.
 */
export interface LocalImage {
  exists: boolean;
  type: string | undefined;
  size?: string;
}

/**
 * Problems of a row's local input files: missing, or of a type its provider does not read (e.g. a GIF for OpenAI).
 * Files are looked at once per run (first 16 bytes), however many rows name them.
 */
export async function localImageProblems(
  row: ManifestRow,
  cache: Map<string, LocalImage>,
  capabilities: ModelCapabilities | undefined,
): Promise<FieldError[]> {
  const errors: FieldError[] = [];
  const references = [
    ...row.imageUrls.map((reference) => ({ field: 'image_urls', reference })),
    ...(row.maskUrl === undefined ? [] : [{ field: 'mask_url', reference: row.maskUrl }]),
  ];
  for (const { field, reference } of references) {
    if (!isLocalImage(reference)) continue;
    let file = cache.get(reference);
    if (file === undefined) {
      file = await lookAt(reference);
      if (cache.size > 10_000) cache.clear();
      cache.set(reference, file);
    }
    if (!file.exists) errors.push({ field, message: `file not found: ${reference}` });
    else if (file.type === undefined)
      errors.push({ field, message: `not a PNG, JPEG, WebP or GIF image: ${reference}` });
    else if (
      capabilities !== undefined &&
      !(capabilities.inputTypes as readonly string[]).includes(file.type)
    ) {
      errors.push({
        field,
        message: `${reference} is ${file.type}; ${capabilities.model} reads ${capabilities.inputTypes.join(', ')}`,
      });
    }
  }
  return errors;
}

async function lookAt(reference: string): Promise<LocalImage> {
  try {
    const handle = await open(reference, 'r');
    try {
      const info = await handle.stat();
      if (!info.isFile()) return { exists: false, type: undefined };
      const head = Buffer.alloc(16);
      const { bytesRead } = await handle.read(head, 0, 16, 0);
      const type = sniffImageType(head.subarray(0, bytesRead));
      if (type === undefined) return { exists: true, type };
      return { exists: true, type, ...(await pixelSize(reference)) };
    } finally {
      await handle.close();
    }
  } catch {
    return { exists: false, type: undefined };
  }
}

/** The pixel size of an image file from its header (sharp reads no pixels for it); nothing when unreadable. */
async function pixelSize(path: string): Promise<{ size?: string }> {
  const metadata = await sharp(path)
    .metadata()
    .catch(() => undefined);
  if (metadata?.width === undefined || metadata.height === undefined) return {};
  return { size: `${metadata.width}x${metadata.height}` };
}
