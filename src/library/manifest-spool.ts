/**
 * Manifests that arrive as rows or bytes rather than as files — an array or stream of rows given to the library, a
 * manifest uploaded to the HTTP API — are written once to a manifest file (a spool), streamed with constant memory,
 * and from then on are manifests like any other: the batch id comes from their content (the same rows are the same
 * batch), windowed ingest reads them again from their cursor, and a re-run finds them where they were.
 *
 * Layout: `<spool root>/<first 16 hex of the content's sha256>/<name>.<csv|jsonl>`, so two spools of the same bytes
 * are one file. The spool root is `<output root>/.manifests` for a local output root, `.image-batch/manifests` under
 * the working directory for an S3 one.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { UsageError } from '../shared/errors.js';
import { isS3Root } from '../storage/output-store.js';

/** The formats a manifest is read in (src/producer/manifest-reader.ts). */
export type ManifestFormat = 'csv' | 'jsonl';

/** One manifest row given as an object: the fields of a JSONL manifest line (docs/manifests.md). */
export type ManifestRecord = Record<string, unknown>;

/** A spooled manifest. */
export interface SpooledManifest {
  /** Absolute path of the manifest file. */
  path: string;
  /** Bytes written. */
  bytes: number;
  /** Hex sha256 of those bytes. */
  sha256: string;
}

/** Where manifests given as rows or uploads are kept for batches under `outputRoot`. */
export function spoolRootFor(outputRoot: string): string {
  return isS3Root(outputRoot)
    ? path.resolve('.image-batch', 'manifests')
    : path.join(path.resolve(outputRoot), '.manifests');
}

/**
 * A name a spooled manifest's file may take (the batch id's stem): letters, digits, `_ -`, at most 60 characters.
 * @throws UsageError for anything else.
 */
export function checkManifestName(name: string): string {
  if (!/^[A-Za-z0-9_-]{1,60}$/.test(name))
    throw new UsageError(
      `invalid manifest name "${name}": use letters, digits, _ and - (at most 60 characters)`,
    );
  return name;
}

/**
 * Write `content` (bytes of a manifest in `format`) to the spool under `root` as `<name>.<format>`.
 * @param maxBytes the most bytes accepted; more ends in a UsageError and nothing kept.
 * @throws UsageError for an empty or too large manifest; the file system's errors (a full disk: ENOSPC) as they are,
 *   with nothing kept.
 */
export async function spoolManifest(
  content: AsyncIterable<Uint8Array | string> | Readable,
  options: { root: string; name: string; format: ManifestFormat; maxBytes?: number },
): Promise<SpooledManifest> {
  const name = checkManifestName(options.name);
  await mkdir(options.root, { recursive: true });
  const temporary = path.join(options.root, `.${randomBytes(8).toString('hex')}.part`);
  const hash = createHash('sha256');
  let bytes = 0;
  const counter = new Transform({
    transform(chunk: Buffer | string, _encoding, done) {
      const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      bytes += buffer.length;
      if (options.maxBytes !== undefined && bytes > options.maxBytes)
        return done(new UsageError(`the manifest is larger than the ${options.maxBytes} bytes allowed`));
      hash.update(buffer);
      done(null, buffer);
    },
  });
  try {
    const source = content instanceof Readable ? content : Readable.from(content);
    await pipeline(source, counter, createWriteStream(temporary, { flags: 'wx' }));
    if (bytes === 0) throw new UsageError('the manifest is empty');
    const sha256 = hash.digest('hex');
    const folder = path.join(options.root, sha256.slice(0, 16));
    await mkdir(folder, { recursive: true });
    const target = path.join(folder, `${name}.${options.format}`);
    const existing = await stat(target).catch(() => undefined);
    if (existing?.size === bytes) await rm(temporary, { force: true });
    else await rename(temporary, target);
    return { path: target, bytes, sha256 };
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

/** `rows` as the lines of a JSONL manifest, one object a line. @throws UsageError for a row that is not an object. */
export async function* jsonLinesOf(
  rows: Iterable<ManifestRecord> | AsyncIterable<ManifestRecord>,
): AsyncGenerator<string> {
  let index = 0;
  for await (const row of rows) {
    index += 1;
    if (row === null || typeof row !== 'object' || Array.isArray(row))
      throw new UsageError(`row ${index}: a row must be an object of manifest fields`);
    yield `${JSON.stringify(row)}\n`;
  }
}
