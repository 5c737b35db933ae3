/**
 * Room left under an output root, looked at before a paid call (issue 26): a row is not paid for when its images may
 * not fit. Local roots only (an S3 bucket has no such figure).
 */
import { statfs } from 'node:fs/promises';
import type { ImageRequest } from '../shared/job-definitions.js';
import { parseResolution } from '../shared/resolution.js';
import { isS3Root, normalizeOutputRoot } from './output-store.js';

/** Bytes kept free beside a row's images (its results line, staging files), bytes. */
const HEADROOM_BYTES = 1024 * 1024;
/** The size assumed for `auto`: the largest of GPT Image's fixed sizes, pixels. */
const AUTO_PIXELS = 1536 * 1024;

/**
 * The most bytes a row's images may take: 4 bytes a pixel (an uncompressed RGBA image; PNG, JPEG and WebP are
 * smaller) for each image, plus {@link HEADROOM_BYTES}.
 */
export function worstCaseBytes(request: Pick<ImageRequest, 'resolution' | 'numImages' | 'sizePlan'>): number {
  const size = parseResolution(request.sizePlan?.expectedSize ?? request.resolution);
  const pixels = size === undefined ? AUTO_PIXELS : size.width * size.height;
  return request.numImages * pixels * 4 + HEADROOM_BYTES;
}

/** How often one root's free space is read again, ms. */
const READ_AGAIN_MS = 1000;
const recent = new Map<string, { at: number; bytes: Promise<number | undefined> }>();

/**
 * Bytes available to this process under `root` (a directory), or undefined for an S3 root or when it cannot be read
 * (not made yet). Read at most once a second per root (`maxAgeMs`: how old a reading may be, ms).
 */
export async function freeBytes(root: string, maxAgeMs = READ_AGAIN_MS): Promise<number | undefined> {
  if (isS3Root(normalizeOutputRoot(root))) return undefined;
  const cached = recent.get(root);
  if (cached !== undefined && Date.now() - cached.at < maxAgeMs) return cached.bytes;
  const bytes = statfs(root)
    .then((stats) => stats.bavail * stats.bsize)
    .catch(() => undefined);
  if (recent.size > 1000) recent.clear();
  recent.set(root, { at: Date.now(), bytes });
  return bytes;
}
