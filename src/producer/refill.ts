/**
 * Refilling windowed batches from their manifest cursors (issue 27): when fewer than half a batch's window of rows
 * added from its manifests are unfinished, the process that holds the batch's refill lock reads on from the cursor
 * and adds rows until the window is full again, then moves the cursor. Workers call this on a timer (any worker that
 * can read the manifests refills; one that cannot leaves it to others), and so does `run`'s own worker pool. Rows are
 * checked as the producer checked them, with the settings it saved in the cursor.
 */
import { randomUUID } from 'node:crypto';
import type { BatchStore } from '../batch/batch-store.js';
import type { ManifestCursorState } from '../batch/manifest-cursor.js';
import type { HostName } from '../shared/hosts.js';
import type { ProviderName } from '../shared/config.js';
import type { Logger } from '../shared/logger.js';
import { CURSOR_LOCK_MS, refuseIfChanged } from './cursor-pass.js';
import { runEnqueue } from './enqueue.js';
import type { EnqueueDependencies, EnqueueOptions } from './enqueue-options.js';
import { IngestWindow, type ManifestToRead } from './ingest-window.js';

/** What a refill needs besides Redis: the adapters and prices of this process, its hosts' accounts, a logger. */
export interface RefillDependencies extends EnqueueDependencies {
  store: BatchStore;
  accounts: (provider: ProviderName) => readonly HostName[];
  log: Logger;
}

/** Batches whose refill was refused (a manifest changed or is gone), with why: said once per process. */
const refusedOnce = new Set<string>();

/**
 * Refill every open batch that needs it. Never throws (a failed refill is logged; the cursor stays, the next tries).
 * @returns rows added.
 */
export async function refillOpenBatches(dependencies: RefillDependencies): Promise<number> {
  let added = 0;
  for (const batchId of await dependencies.store.cursors.open().catch(() => [])) {
    added += await refillBatch(batchId, dependencies).catch((error: unknown) => {
      dependencies.log.warn({ batchId, err: error }, 'refill from the manifest cursor failed; retried later');
      return 0;
    });
  }
  return added;
}

/**
 * Add rows of batch `batchId` from its cursor while fewer than half its window are unfinished.
 * @returns rows added (0: no need, another process refills, the canary awaits approval, or a manifest changed).
 * @throws Error when Redis fails.
 */
export async function refillBatch(batchId: string, dependencies: RefillDependencies): Promise<number> {
  const { store } = dependencies;
  const before = await store.cursors.read(batchId);
  if (before === undefined || before.position === undefined) {
    await store.cursors.setOpen(batchId, false);
    return 0;
  }
  if ((await store.canary.settings(batchId))?.state === 'awaiting') return 0;
  if (before.added - (await store.finishedRows(batchId)) > before.window / 2) return 0;
  const owner = randomUUID();
  if (!(await store.cursors.lock(batchId, owner, CURSOR_LOCK_MS))) return 0;
  try {
    const state = await store.cursors.read(batchId);
    if (state?.position === undefined) return 0;
    const inFlight = state.added - (await store.finishedRows(batchId));
    if (inFlight > state.window / 2) return 0;
    if (!(await manifestsUnchanged(batchId, state, dependencies.log))) return 0;
    const manifests: ManifestToRead[] = state.manifests
      .map((entry, index) => ({ name: entry.name, path: entry.path, index }))
      .slice(state.position.manifest);
    manifests[0]!.resumeAt = { byteOffset: state.position.byteOffset, line: state.position.line };
    const window = new IngestWindow(state.position, state.window - inFlight, state.manifests.length, true);
    let passed = 0;
    await runEnqueue(refillOptions(batchId, state, dependencies), dependencies, {
      manifests,
      window,
      async finish(counts) {
        passed = counts.passed ?? 0;
        await store.cursors.advance(batchId, window.position, passed);
        if (window.position === undefined) await store.cursors.setOpen(batchId, false);
      },
    });
    dependencies.log.debug(
      { batchId, rows: passed, position: window.position },
      'refilled from the manifest cursor',
    );
    return passed;
  } finally {
    await store.cursors.unlock(batchId, owner);
  }
}

/** The options the producer enqueued the batch with, from the cursor, for this process. */
function refillOptions(
  batchId: string,
  state: ManifestCursorState,
  dependencies: RefillDependencies,
): EnqueueOptions {
  const saved = JSON.parse(state.settings) as Partial<EnqueueOptions> & { canary?: boolean };
  const { canary: _canary, ...settings } = saved;
  return {
    ...settings,
    defaultProvider: saved.defaultProvider ?? 'openai',
    outputRoot: saved.outputRoot ?? 'out',
    attempts: saved.attempts ?? 1,
    backoffDelayMs: saved.backoffDelayMs ?? 1000,
    manifests: state.manifests.map((entry) => entry.name),
    batchId,
    dryRun: false,
    accounts: dependencies.accounts,
    log: dependencies.log,
  };
}

/** Whether the cursor's manifests are the files the producer read (said once per batch when not). */
async function manifestsUnchanged(
  batchId: string,
  state: ManifestCursorState,
  log: Logger,
): Promise<boolean> {
  try {
    // Size and time only: a SHA-256 of a large file on every refill would cost more than the rows.
    for (const { sha256: _whole, ...entry } of state.manifests.slice(state.position?.manifest ?? 0))
      await refuseIfChanged(entry, batchId);
    return true;
  } catch (error) {
    if (!refusedOnce.has(batchId)) log.error({ batchId }, (error as Error).message);
    refusedOnce.add(batchId);
    return false;
  }
}
