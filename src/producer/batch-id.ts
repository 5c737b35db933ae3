/**
 * Default batch ids: derived from the manifest file names and a hash of their content, so the same manifest always
 * lands in the same batch (and re-running it enqueues nothing twice) while an edited manifest gets a new batch.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { UsageError } from '../shared/errors.js';
import { openManifest } from './manifest-source.js';

/** Longest batch id accepted, in characters. */
const MAX_BATCH_ID_LENGTH = 80;

/** `<stem>[+<stem>...]-<first 8 hex of sha256 over the files' bytes>`, e.g. `example-edits-3f2a9c1b`. */
export async function defaultBatchId(manifestPaths: readonly string[]): Promise<string> {
  const hash = createHash('sha256');
  for (const manifestPath of manifestPaths) {
    hash.update(`${path.basename(manifestPath)}\0`);
    for await (const chunk of await openManifest(manifestPath)) hash.update(chunk as Buffer);
    hash.update('\0');
  }
  const stems = manifestPaths.map((manifestPath) =>
    path.basename(manifestPath, path.extname(manifestPath)).replace(/[^A-Za-z0-9_-]/g, '_'),
  );
  const stem = stems.join('+').slice(0, MAX_BATCH_ID_LENGTH - 9);
  return `${stem}-${hash.digest('hex').slice(0, 8)}`;
}

/**
 * Check a batch id given by the user: letters, digits, `_ - . +`, at most 80 characters, not starting with a dot.
 * @throws UsageError saying what is allowed.
 */
export function checkBatchId(batchId: string): string {
  if (!/^[A-Za-z0-9_+-][A-Za-z0-9_.+-]{0,79}$/.test(batchId)) {
    throw new UsageError(
      `invalid batch id "${batchId}": use letters, digits, _ - . + (at most ${MAX_BATCH_ID_LENGTH} characters, not starting with a dot)`,
    );
  }
  return batchId;
}

/**
 * Batch ids the dashboard's own paths take — `/batches/new` (the New batch page) and `/api/batches/rows` (the batches
 * page's live list) — so a batch of that id could never be opened there. Default ids never take them (they end in
 * `-<hash>`).
 */
export const RESERVED_BATCH_IDS: ReadonlySet<string> = new Set(['new', 'rows']);

/**
 * Check the id of a batch about to be made: {@link checkBatchId}, and not one of {@link RESERVED_BATCH_IDS}.
 * @throws UsageError saying what is allowed, or that the id is reserved.
 */
export function checkNewBatchId(batchId: string): string {
  checkBatchId(batchId);
  if (RESERVED_BATCH_IDS.has(batchId))
    throw new UsageError(
      `batch id "${batchId}" is reserved (the dashboard's /batches/new and /api/batches/rows take it): choose another`,
    );
  return batchId;
}
