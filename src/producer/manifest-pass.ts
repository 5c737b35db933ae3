/**
 * One read of manifests: each row is read as a stream, checked, priced and sent in chunks to the chunk writer, bad
 * rows to the rejects. With an ingest window (./ingest-window.ts) each chunk says whether its rows get jobs now or are
 * only registered; a refill starts at the cursor and stops where the room runs out.
 */
import { outputStoreFor } from '../storage/stores.js';
import path from 'node:path';
import { TierSizeRecords } from '../batch/tier-size-book.js';
import { OPENAI_BATCH_EDIT_SIZES } from '../providers/openai/batch-api.js';
import type { ProviderName } from '../shared/config.js';
import type { FieldError } from '../shared/errors.js';
import { providerOf } from '../shared/hosts.js';
import type { Logger } from '../shared/logger.js';
import type { ChunkMode, ChunkWriter } from './chunk-writer.js';
import type { EnqueueDependencies, EnqueueOptions, EnqueueReport } from './enqueue-options.js';
import { addToEstimate, type PendingRow } from './estimate.js';
import type { IngestWindow, ManifestToRead } from './ingest-window.js';
import { readManifest, type ManifestProblem } from './manifest-reader.js';
import { manifestInfo } from './manifest-source.js';
import type { RejectLine } from './rejects-writer.js';
import { RowChecker } from './row-check.js';

const DEFAULT_CHUNK_SIZE = 1000;

/** Where checked rows go while the manifests are read. */
export interface RowSinks {
  reject: (line: RejectLine) => Promise<void>;
  /** Absent in a dry run: rows are then only counted and priced. */
  writer: ChunkWriter | undefined;
  providers: Set<ProviderName>;
  /** Called once when a read's rows turn from `add` to `register`: the window is full. */
  windowFilled?: () => Promise<void>;
}

/** The row checker of an enqueue: rows planned with the sizes tiered hosts were seen to deliver (Redis, if any). */
export function rowCheckerFor(options: EnqueueOptions, dependencies: EnqueueDependencies): RowChecker {
  const { canary, ...rest } = options;
  const { redis } = dependencies;
  const tierSizes = redis === undefined ? undefined : new TierSizeRecords(redis, dependencies.queuePrefix);
  const { store } = dependencies;
  const outputStore = store === undefined ? undefined : outputStoreFor(options.outputRoot);
  return new RowChecker({
    ...rest,
    canary: canary !== undefined,
    providerFor: (name) => dependencies.providerFor(name),
    ...(tierSizes === undefined
      ? {}
      : { deliveredTierSizes: (name: ProviderName) => tierSizes.read(name).catch(() => ({})) }),
    catalogue: dependencies.catalogue,
    ...(store === undefined || outputStore === undefined
      ? {}
      : { reuseLookup: async (key: string) => (await store.reuse.lookup(outputStore, key)) !== undefined }),
  });
}

/**
 * Read `manifests` in order, check each row, and send the good ones in chunks (with `window`, in the mode it gives
 * them). A refill's window ends the read at the first row it has no room for.
 * @throws Error when Redis fails (rows already sent stay; the next read goes on from there).
 */
export async function readManifests(
  manifests: readonly ManifestToRead[],
  context: { options: EnqueueOptions; dependencies: EnqueueDependencies; report: EnqueueReport },
  sinks: RowSinks,
  window?: IngestWindow,
): Promise<void> {
  const { options, report } = context;
  const checker = rowCheckerFor(options, context.dependencies);
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const totalBytes = await totalSize(manifests.map((manifest) => manifest.path));
  let bytesRead = 0;
  let pending: PendingRow[] = [];
  let pendingMode: ChunkMode = 'add';
  const flush = async (): Promise<void> => {
    const rows = pending;
    pending = [];
    if (rows.length === 0) return;
    if (sinks.writer !== undefined) return sinks.writer.write(rows, pendingMode);
    for (const row of rows) addToEstimate(report.estimate, row);
    report.enqueued += rows.length;
  };
  for (const manifest of manifests) {
    if (window?.stopWhenFull === true && !window.canAddIn(manifest.index)) break;
    const origin = {
      manifest: manifest.name,
      directory: path.dirname(manifest.path),
      stem: path.basename(manifest.path, path.extname(manifest.path)),
    };
    const unknownFields = new Set<string>();
    const realtimeInstead: number[] = [];
    const onBytesRead = (bytes: number) => {
      bytesRead += bytes;
      options.onProgress?.({ bytesRead, totalBytes, rowsRead: report.rowsRead });
    };
    let stopped = false;
    const reading = readManifest(manifest.path, {
      onBytesRead,
      ...(manifest.onData === undefined ? {} : { onData: manifest.onData }),
      ...(manifest.resumeAt === undefined ? {} : { resumeAt: manifest.resumeAt }),
    });
    for await (const entry of reading) {
      if (entry.kind === 'problem') {
        // An unreadable row was read all the same: "read 34 rows; enqueued 30; 4 rejected" adds up.
        if (entry.isRow) report.rowsRead += 1;
        await rejectProblem(sinks.reject, manifest.name, entry);
        continue;
      }
      report.rowsRead += 1;
      const checked = await checker.check(entry.fields, { ...origin, line: entry.line });
      for (const field of checked.unknownFields) unknownFields.add(field);
      if (!checked.ok) {
        await rejectInvalid(sinks.reject, manifest.name, entry.line, checked.rowKey, checked.errors);
        continue;
      }
      const mode = window?.modeOf({
        manifest: manifest.index,
        byteOffset: entry.byteOffset,
        line: entry.line,
      });
      if (mode === 'stop') {
        stopped = true;
        break;
      }
      if (checked.realtimeInstead !== undefined) realtimeInstead.push(entry.line);
      // A routed row may go to any of its candidate hosts: each needs a worker.
      for (const name of checked.row.data.routing?.candidates ?? [checked.row.data.provider])
        sinks.providers.add(providerOf(name));
      if (mode !== undefined && mode !== pendingMode) {
        await flush();
        if (pendingMode === 'add' && mode === 'register') await sinks.windowFilled?.();
        pendingMode = mode;
      }
      pending.push(checked.row);
      if (pending.length >= chunkSize) await flush();
    }
    await flush();
    if (stopped) break;
    window?.manifestEnded(manifest.index);
    warnAfterManifest(manifest.name, { unknownFields, realtimeInstead }, report, options.log);
  }
}

/** The warnings of one manifest read: unknown columns ignored, Batch API edit rows sent realtime. */
function warnAfterManifest(
  manifest: string,
  found: { unknownFields: Set<string>; realtimeInstead: number[] },
  report: EnqueueReport,
  log: Logger,
): void {
  const warnings: string[] = [];
  const { unknownFields, realtimeInstead } = found;
  if (realtimeInstead.length > 0) {
    const lines = realtimeInstead.slice(0, 10).join(', ') + (realtimeInstead.length > 10 ? ', …' : '');
    warnings.push(
      `${manifest}: ${realtimeInstead.length} edit row(s) asking for the Batch API go realtime, at the realtime ` +
        `price (lines ${lines}): Batch API edits take only the sizes ${OPENAI_BATCH_EDIT_SIZES.join(', ')}`,
    );
  }
  if (unknownFields.size > 0)
    warnings.push(
      `${manifest}: ignored unknown field(s) ${[...unknownFields].map((name) => `"${name}"`).join(', ')}`,
    );
  for (const warning of warnings) {
    report.warnings.push(warning);
    log.warn(warning);
  }
}

async function rejectProblem(
  reject: (line: RejectLine) => Promise<void>,
  manifest: string,
  problem: ManifestProblem,
): Promise<void> {
  await reject({
    manifest,
    line: problem.line,
    row_key: null,
    field: problem.field ?? null,
    code: problem.code,
    message: problem.message,
    errors: [],
  });
}

async function rejectInvalid(
  reject: (line: RejectLine) => Promise<void>,
  manifest: string,
  line: number,
  rowKey: string,
  errors: FieldError[],
): Promise<void> {
  const first = errors[0] ?? { field: 'row', message: 'invalid row' };
  await reject({
    manifest,
    line,
    row_key: rowKey,
    field: first.field,
    code: 'invalid_field',
    message: errors.map((error) => `${error.field}: ${error.message}`).join('; '),
    errors,
  });
}

export async function totalSize(manifests: readonly string[]): Promise<number> {
  let total = 0;
  for (const manifest of manifests)
    total += await manifestInfo(manifest).then(
      (info) => info?.size ?? 0,
      () => 0,
    );
  return total;
}
