/**
 * Where a manifest's bytes come from: a local file, or an object in S3-compatible storage (`s3://bucket/key.csv`,
 * src/storage/manifest-objects.ts). Both are read as streams from any byte offset, so a manifest cursor resumes in
 * either the same way.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { isObjectLocation, objectInfo, readObject } from '../storage/manifest-objects.js';

/** A manifest's location for any process: an absolute path, or the `s3://` URL as given. */
export function manifestLocation(name: string): string {
  return isObjectLocation(name) ? name : path.resolve(name);
}

/** The stem of a manifest's name (`catalogue` for `…/catalogue.csv`): default row keys and batch ids use it. */
export function manifestStem(location: string): string {
  return path.posix.basename(location.replaceAll('\\', '/'), path.extname(location));
}

/**
 * Size (bytes) and modification time (ms) of a manifest, or undefined when there is none there (or, for a local
 * path, it is not a regular file). @throws Error when object storage cannot be reached.
 */
export async function manifestInfo(
  location: string,
): Promise<{ size: number; modifiedMs: number } | undefined> {
  if (isObjectLocation(location)) return objectInfo(location);
  const info = await stat(location).catch(() => undefined);
  return info?.isFile() === true ? { size: info.size, modifiedMs: info.mtimeMs } : undefined;
}

/**
 * The manifest's bytes from `start` (default 0) to `end` (inclusive, default its end).
 * @throws Error when it cannot be opened.
 */
export async function openManifest(
  location: string,
  range: { start?: number; end?: number } = {},
): Promise<Readable> {
  if (isObjectLocation(location)) return readObject(location, range);
  return createReadStream(location, {
    ...(range.start === undefined ? {} : { start: range.start }),
    ...(range.end === undefined ? {} : { end: range.end }),
  });
}
