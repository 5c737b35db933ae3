/**
 * A batch's files and their thumbnails, served only from inside the batch's own output (a directory or a bucket):
 * hidden and parent paths are refused. Thumbnails are made with sharp (at most 4096² pixels decoded) and cached outside
 * the batch's files (a hidden folder, or a temporary one for S3), so they are never listed or served as originals; each
 * says it is a derivative (EXIF ImageDescription, and the `X-Image-Batch-Derivative` header).
 */
import { mkdir, rename, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Express } from 'express';
import sharp from 'sharp';
import type { BatchStatus } from '../batch/batch-store.js';
import { bufferOf } from '../storage/output-store.js';
import { outputStoreFor } from '../storage/stores.js';
import { fileOf, statusOf, wrap, type DashboardContext } from './dashboard-context.js';

const THUMBNAIL_WIDTH = 256;

/** What a thumbnail says of itself (EXIF ImageDescription): a derivative of `file`, without its provenance. */
export function derivativeNote(file: string): string {
  return `Derivative: a ${THUMBNAIL_WIDTH}-pixel-wide thumbnail of ${file} made by the image-batch dashboard; not the original, and without its C2PA manifest`;
}

/** Add the file and thumbnail routes to `app`. */
export function addFileRoutes(app: Express, context: DashboardContext): void {
  app.get(
    '/batches/:id/files/*path',
    wrap(async (request, response) => {
      const status = await statusOf(context, request, response);
      const file = status === undefined ? undefined : fileOf(request, response);
      if (status === undefined || file === undefined) return;
      const stream = await outputStoreFor(status.outputDirectory).read(status.batchId, file);
      if (stream === undefined) return void response.status(404).type('text').send('not found');
      response.type(path.extname(file) || 'application/octet-stream');
      await pipeline(stream, response);
    }),
  );
  app.get(
    '/batches/:id/thumbnails/*path',
    wrap(async (request, response) => {
      const status = await statusOf(context, request, response);
      const file = status === undefined ? undefined : fileOf(request, response);
      if (status === undefined || file === undefined) return;
      const cached = await thumbnail(status, file);
      if (cached === undefined) return void response.status(404).type('text').send('not found');
      // Marked as what it is: a derivative, never the original (which alone carries the host's C2PA manifest).
      response.setHeader('X-Image-Batch-Derivative', `thumbnail of ${file}`);
      response.setHeader('Content-Disposition', `inline; filename="${path.basename(file)}.thumbnail.webp"`);
      response.type('image/webp').sendFile(cached, { dotfiles: 'allow' });
    }),
  );
}

/** The cached thumbnail of a batch's file, made on first request. @returns its path, or undefined (no such image). */
async function thumbnail(status: BatchStatus, file: string): Promise<string | undefined> {
  const outputStore = outputStoreFor(status.outputDirectory);
  const cached = path.join(outputStore.cacheDirectory(status.batchId), `${file.replace(/\//g, '__')}.webp`);
  try {
    await stat(cached);
    return cached;
  } catch {
    await mkdir(path.dirname(cached), { recursive: true });
  }
  const temporary = `${cached}.${process.pid}.tmp`;
  try {
    // Read through the store, which refuses links out of the batch, never from a path of our own making.
    const stream = await outputStore.read(status.batchId, file);
    if (stream === undefined) return undefined;
    const source = await bufferOf(stream);
    await sharp(source, { limitInputPixels: 4096 * 4096 })
      .resize({ width: THUMBNAIL_WIDTH })
      .withExif({ IFD0: { ImageDescription: derivativeNote(file) } })
      .webp({ quality: 70 })
      .toFile(temporary);
    await rename(temporary, cached);
    return cached;
  } catch {
    return undefined;
  }
}
