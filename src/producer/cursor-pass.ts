/**
 * A producer's whole pass through its manifests with a window (issue 27, windowed ingest): under the batch's refill
 * lock, every row is read, checked, priced and registered, rows get jobs while the window has room from the batch's
 * manifest cursor on, and the cursor is saved when the window fills and at the end. A producer run again on the same
 * manifests (after a kill, say) resumes: rows behind the cursor are only checked (a job a crash lost comes back), the
 * cursor moves on from where it was. A manifest edited since the batch first read it is refused: the cursor's byte
 * offsets would point into other rows.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { BatchStore } from '../batch/batch-store.js';
import type { CursorManifest, ManifestCursorState } from '../batch/manifest-cursor.js';
import { UsageError } from '../shared/errors.js';
import type { ChunkCounts } from './chunk-writer.js';
import type { EnqueueOptions } from './enqueue-options.js';
import { IngestWindow, type ManifestToRead, type ReadPlan } from './ingest-window.js';
import { manifestInfo, openManifest } from './manifest-source.js';

/** How long the refill lock lasts without renewal, ms: a killed producer's lock frees the cursor for others then. */
export const CURSOR_LOCK_MS = 10_000;
/** How long a producer waits for another process's refill to end before its pass, ms. */
const LOCK_WAIT_MS = 2 * CURSOR_LOCK_MS;

/**
 * The enqueue settings a refilling process checks rows with: those of `options` that decide what a row becomes (no
 * secret among them; the hosts' accounts come from the refilling process's own configuration).
 */
export function savedSettings(options: EnqueueOptions): string {
  const { provider, providers, route, maxPremiumPercent, autoHosts, defaultProvider, outputRoot } = options;
  const { attempts, backoffDelayMs, keepCompletedJobs, chunkSize, budgetCapped, delivery, preferBatchApi } =
    options;
  return JSON.stringify({
    provider,
    providers,
    route,
    maxPremiumPercent,
    autoHosts,
    defaultProvider,
    outputRoot,
    attempts,
    backoffDelayMs,
    keepCompletedJobs,
    chunkSize,
    budgetCapped,
    delivery,
    preferBatchApi,
    reuse: options.reuse,
    sidecar: options.sidecar,
    canary: options.canary !== undefined,
  });
}

/**
 * Start a producer's pass with a window: take the refill lock (waiting for a refill under way), check the manifests
 * the cursor knows are unchanged, add the new ones to its list, and plan the read.
 * @throws UsageError when a manifest changed since the batch first read it, or the lock stays taken.
 */
export async function startCursorPass(
  options: EnqueueOptions,
  store: BatchStore,
  manifests: ManifestToRead[],
): Promise<ReadPlan> {
  const { batchId } = options;
  const owner = randomUUID();
  await takeLock(store, batchId, owner);
  const renewal = setInterval(
    () => void store.cursors.lock(batchId, owner, CURSOR_LOCK_MS),
    CURSOR_LOCK_MS / 3,
  );
  const release = async (): Promise<void> => {
    clearInterval(renewal);
    await store.cursors.unlock(batchId, owner);
  };
  try {
    const saved = await store.cursors.read(batchId);
    const known = saved?.manifests ?? [];
    const { list, hashes } = await cursorManifests(known, manifests, batchId);
    const position =
      saved === undefined
        ? { manifest: 0, byteOffset: 0, line: 1 }
        : (saved.position ?? { manifest: known.length, byteOffset: 0, line: 1 });
    const state: ManifestCursorState = {
      window: options.window!,
      manifests: list,
      position: position.manifest >= list.length ? undefined : position,
      added: saved?.added ?? 0,
      settings: savedSettings(options),
      validated: false,
    };
    await store.cursors.save(batchId, state);
    await store.cursors.setOpen(batchId, true);
    const inFlight = state.added - (await store.finishedRows(batchId));
    const window = new IngestWindow(state.position, Math.max(0, state.window - inFlight), list.length, false);
    if (saved?.position !== undefined && saved.added > 0)
      options.log.info({ batchId, position: saved.position }, 'resuming from the manifest cursor');
    const advance = async (counts: ChunkCounts): Promise<void> => {
      await store.cursors.advance(batchId, window.position, counts.passed ?? 0);
      counts.passed = 0;
    };
    return {
      manifests,
      window,
      windowFilled: advance,
      async finish(counts, report) {
        await advance(counts);
        await store.cursors.markValidated(batchId, withHashes(list, hashes));
        await store.cursors.setOpen(batchId, window.position !== undefined);
        const after = await store.cursors.read(batchId);
        const rows = (await store.status(batchId))?.rows ?? 0;
        report.waitingInManifests = { rows: Math.max(0, rows - (after?.added ?? 0)), window: state.window };
      },
      release,
    };
  } catch (error) {
    await release();
    throw error;
  }
}

/**
 * The cursor's list of manifests with this pass's added at its end; each of `manifests` gets its index in it and a
 * SHA-256 of its bytes as they are read. @throws UsageError when a manifest the cursor knows changed.
 */
async function cursorManifests(
  known: readonly CursorManifest[],
  manifests: ManifestToRead[],
  batchId: string,
): Promise<{ list: CursorManifest[]; hashes: Map<number, ReturnType<typeof createHash>> }> {
  const list = [...known];
  const hashes = new Map<number, ReturnType<typeof createHash>>();
  for (const manifest of manifests) {
    let index = list.findIndex((entry) => entry.path === manifest.path);
    if (index >= 0) await refuseIfChanged(list[index]!, batchId);
    else {
      const info = await manifestInfo(manifest.path);
      list.push({
        name: manifest.name,
        path: manifest.path,
        size: info?.size ?? 0,
        modifiedMs: info?.modifiedMs ?? 0,
      });
      index = list.length - 1;
    }
    manifest.index = index;
    const hash = createHash('sha256');
    hashes.set(index, hash);
    manifest.onData = (chunk) => hash.update(chunk);
  }
  return { list, hashes };
}

/** Wait for the refill lock (a worker may be refilling). @throws UsageError when it stays taken. */
async function takeLock(store: BatchStore, batchId: string, owner: string): Promise<void> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  while (!(await store.cursors.lock(batchId, owner, CURSOR_LOCK_MS))) {
    if (Date.now() > deadline)
      throw new UsageError(`batch ${batchId}: another process holds its manifest cursor; try again later`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** The manifests with the SHA-256 of each read whole in this pass. */
function withHashes(
  list: CursorManifest[],
  hashes: Map<number, ReturnType<typeof createHash>>,
): CursorManifest[] {
  return list.map((entry, index) => {
    const hash = hashes.get(index);
    return hash === undefined ? entry : { ...entry, sha256: hash.digest('hex') };
  });
}

/**
 * Refuse a manifest that is not the file the batch read: another SHA-256 (when a pass read it whole), else another
 * size or modification time. @throws UsageError naming the file and what changed.
 */
export async function refuseIfChanged(entry: CursorManifest, batchId: string): Promise<void> {
  const info = await manifestInfo(entry.path);
  if (info === undefined)
    throw new UsageError(`${entry.name}: cannot be read any more; batch ${batchId} still has rows in it`);
  const changed =
    entry.sha256 !== undefined
      ? (await sha256Of(entry.path)) !== entry.sha256
        ? 'its SHA-256 differs'
        : undefined
      : info.size !== entry.size || info.modifiedMs !== entry.modifiedMs
        ? `its size or modification time differs (${entry.size} → ${info.size} bytes)`
        : undefined;
  if (changed !== undefined)
    throw new UsageError(
      `${entry.name} changed since batch ${batchId} first read it (${changed}): its rows would be read at the wrong ` +
        'places. Restore the file, or enqueue the edited one into a new batch (--batch).',
    );
  // The same bytes, touched: later checks compare the new time.
  entry.size = info.size;
  entry.modifiedMs = info.modifiedMs;
}

async function sha256Of(filePath: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of await openManifest(filePath)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
