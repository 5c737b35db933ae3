/**
 * Storing output images: download (or decode) into a staging file, check it is an image of the expected format, then
 * hand it to the batch's output store (a rename into place, or an upload), so a half-written file is never taken for
 * a finished one.
 */
import { createHash } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import sharp, { type Metadata } from 'sharp';
import { downloadToFile } from '../providers/http.js';
import type { ProviderImage } from '../providers/provider.js';
import { InvalidResponseError } from '../shared/errors.js';
import type { OutputFormat, StoredOutput } from '../shared/job-definitions.js';
import { bufferOf, type OutputStore } from './output-store.js';
import { readProvenance } from './provenance.js';
import type { TraceContext } from '../shared/tracing.js';

/** Options of {@link storeOutputImage}. */
export interface StoreOptions {
  provider: string;
  /** Download deadline (connect, headers, between body chunks), ms. */
  timeoutMs: number;
  /** Largest output file accepted, bytes. */
  maxBytes: number;
  signal?: AbortSignal;
  /** The span a download's span is a child of (src/shared/tracing.ts). */
  trace?: TraceContext;
  /**
   * Set when the row is recovered (its job ran before and was cut off): staged files a killed worker left for this
   * image, older than this many ms, are removed first.
   */
  removeStagingOlderThanMs?: number;
  /**
   * The host takes no output format (WaveSpeedAI's current API pages list none): an image that arrives in another
   * format is converted to the expected one (sharp) instead of being refused.
   */
  convertFormat?: boolean;
  /** A PEM file of C2PA trust anchors (IMAGE_BATCH_C2PA_TRUST_ANCHORS): signers chaining to one are `trusted`. */
  c2paTrustAnchorsPath?: string | undefined;
}

/** Largest decoded output accepted, in pixels (GPT Image 2 makes at most 3840x2160). */
const MAX_OUTPUT_PIXELS = 4096 * 4096;

/**
 * Store `image` as `relativePath` of batch `batchId` in `store`, atomically, and describe it.
 * @param relativePath the path recorded in results (relative to the batch).
 * @throws InvalidResponseError when the bytes are not a decodable image (retryable: the provider may answer better).
 * @throws NetworkError / ServerError / TimeoutError / NotFoundError from the download.
 */
export async function storeOutputImage(
  image: ProviderImage,
  store: OutputStore,
  batchId: string,
  relativePath: string,
  expectedFormat: OutputFormat,
  options: StoreOptions,
): Promise<StoredOutput> {
  if (options.removeStagingOlderThanMs !== undefined)
    await store.removeStaleStaging?.(batchId, relativePath, options.removeStagingOlderThanMs);
  const temporary = await store.stagingPath(batchId, relativePath);
  try {
    // Inline (base64) images are checked and hashed in memory, where they already are; downloads as they stream.
    let inline: Buffer | undefined;
    let downloaded: { bytes: number; sha256: string } | undefined;
    if (image.kind === 'url') {
      downloaded = await downloadToFile(image.url, temporary, {
        provider: options.provider,
        timeoutMs: options.timeoutMs,
        maxBytes: options.maxBytes,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
        ...(options.trace === undefined ? {} : { trace: options.trace }),
      });
    } else {
      if ((image.data.length * 3) / 4 > options.maxBytes) {
        throw new InvalidResponseError(`output image is larger than the ${options.maxBytes} bytes allowed`, {
          provider: options.provider,
        });
      }
      inline = Buffer.from(image.data, 'base64');
      await writeFile(temporary, inline);
    }
    let metadata: Metadata;
    try {
      metadata = await sharp(inline ?? temporary, { limitInputPixels: MAX_OUTPUT_PIXELS }).metadata();
    } catch (error) {
      throw new InvalidResponseError(
        `the provider's output is not a readable image (${(error as Error).message})`,
        {
          provider: options.provider,
          cause: error,
        },
      );
    }
    if (metadata.width === undefined || metadata.height === undefined) {
      throw new InvalidResponseError('the provider returned an image without dimensions', {
        provider: options.provider,
      });
    }
    if (metadata.format !== expectedFormat && options.convertFormat === true) {
      inline = await sharp(inline ?? temporary, { limitInputPixels: MAX_OUTPUT_PIXELS })
        .toFormat(expectedFormat)
        .toBuffer();
      await writeFile(temporary, inline);
      downloaded = undefined;
      metadata = { ...metadata, format: expectedFormat };
    }
    if (metadata.format !== expectedFormat) {
      throw new InvalidResponseError(
        `the provider returned ${metadata.format ?? 'an unknown format'} instead of ${expectedFormat}`,
        { provider: options.provider },
      );
    }
    const { sha256, bytes } = downloaded ?? {
      sha256: createHash('sha256')
        .update(inline ?? Buffer.alloc(0))
        .digest('hex'),
      bytes: inline?.length ?? 0,
    };
    // Provenance is read from the very bytes stored (the staged file, which putFile moves or uploads unchanged).
    const c2pa = await readProvenance(inline ?? temporary, expectedFormat, options.c2paTrustAnchorsPath);
    await store.putFile(batchId, relativePath, temporary);
    return { path: relativePath, width: metadata.width, height: metadata.height, bytes, sha256, c2pa };
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

/**
 * Describe image `relativePath` already stored for batch `batchId` (a copy of an earlier output): size, digest and
 * provenance read from its stored bytes — streamed from a file where the store has one, so a large image is not held
 * whole. @returns undefined when it is not there or not a readable image.
 */
export async function describeStoredImage(
  store: OutputStore,
  batchId: string,
  relativePath: string,
  format: OutputFormat,
  c2paTrustAnchorsPath?: string,
): Promise<StoredOutput | undefined> {
  const stream = await store.read(batchId, relativePath);
  if (stream === undefined) return undefined;
  const file = store.localPath(batchId, relativePath);
  // A file (its stream hashed as it is read) or, from object storage, the bytes.
  const image = file ?? (await bufferOf(stream));
  let bytes = 0;
  const hash = createHash('sha256');
  if (file === undefined) {
    bytes = (image as Buffer).length;
    hash.update(image);
  } else {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      hash.update(chunk);
    }
  }
  const metadata = await sharp(image, { limitInputPixels: MAX_OUTPUT_PIXELS })
    .metadata()
    .catch(() => undefined);
  if (metadata?.width === undefined || metadata.height === undefined) return undefined;
  return {
    path: relativePath,
    width: metadata.width,
    height: metadata.height,
    bytes,
    sha256: hash.digest('hex'),
    c2pa: await readProvenance(image, format, c2paTrustAnchorsPath),
  };
}
