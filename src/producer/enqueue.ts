/**
 * The producer: read manifests as streams, validate every row, and enqueue the valid ones as one batch with chunked
 * `addBulk`. Job ids derive from batch id and row key, so enqueuing the same manifest into the same batch again adds
 * nothing. Bad rows go to the batch's rejects.jsonl with file, line, field and message; none is dropped silently.
 *
 * Speed: reading never waits for Redis while fewer than {@link CHUNKS_IN_FLIGHT} chunks are on their way. Each chunk
 * is classified and registered in the batch's records (in manifest order, so a row key repeated across chunks is
 * still caught), then added with `addBulk`, while the next chunks are read: several `addBulk` in flight is the
 * fastest way to feed BullMQ on a 2-core machine (baselines.md).
 * Registering before adding is safe: a row registered but never added (a crash in between) is found unfinished by the
 * next run of the same manifest, which adds its job then.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { TierSizeRecords } from '../batch/tier-size-book.js';
import { OPENAI_BATCH_EDIT_SIZES } from '../providers/openai/batch-api.js';
import type { BatchStore } from '../batch/batch-store.js';
import type { PriceCatalogue } from '../cost/price-catalogue.js';
import type { ImageProvider } from '../providers/provider.js';
import { providerOf, type HostName } from '../shared/hosts.js';
import type { ProviderName } from '../shared/config.js';
import { UsageError, type FieldError } from '../shared/errors.js';
import type { RoutePolicy, Delivery } from '../shared/job-definitions.js';
import type { Logger } from '../shared/logger.js';
import { outputStoreFor } from '../storage/stores.js';
import { CanaryPicker } from './canary-picker.js';
import { ChunkWriter } from './chunk-writer.js';
import {
  addToEstimate,
  emptyEstimate,
  roundEstimate,
  type CostEstimate,
  type PendingRow,
} from './estimate.js';
import { readManifest } from './manifest-reader.js';
import { RejectsWriter, type RejectLine } from './rejects-writer.js';
import { RowChecker } from './row-check.js';

export type { CostEstimate } from './estimate.js';

/** Options of {@link enqueueManifests}. */
export interface EnqueueOptions {
  /** Manifest paths as the user gave them (relative to the working directory, or absolute). */
  manifests: string[];
  batchId: string;
  /** Send every row to this provider, whatever its `provider` field says. Default: the row's, else `defaultProvider`. */
  provider?: ProviderName;
  /** Candidate hosts of rows that name none (`--providers`): a list, or `auto` (src/worker/router.ts). */
  providers?: ProviderName[] | 'auto';
  /** How rows with several candidate hosts pick one; default cheapest. */
  route?: RoutePolicy;
  /** `--max-premium`: the most a host may cost over a row's cheapest candidate, percent. */
  maxPremiumPercent?: number;
  /** The hosts `auto` means: those work can be done on (a key, or the simulator in `run`). Default: every host. */
  autoHosts?: readonly ProviderName[];
  /**
   * The hosts (accounts) of each provider, src/shared/hosts.ts: a row whose candidates have several is routed over
   * them. Default: one account each.
   */
  accounts?: (provider: ProviderName) => readonly HostName[];
  defaultProvider: ProviderName;
  /** Output root (`--out`); the batch's files go to `<out>/<batch>/`. */
  outputRoot: string;
  /** Validate and report only: no Redis, no files. */
  dryRun: boolean;
  /** Attempts per job, base backoff delay in ms and completed jobs kept per queue (from the configuration). */
  attempts: number;
  backoffDelayMs: number;
  keepCompletedJobs?: number;
  /** Rows per `addBulk`. Default 1000. */
  chunkSize?: number;
  /** The batch has a budget cap: rows no published figure can price are rejected (they cannot be held to it). */
  budgetCapped?: boolean;
  /**
   * Run this many rows first, stratified across provider × size × quality × mode, and hold the rest until the canary is
   * approved (src/batch/canary.ts). Applies to a batch that has no canary yet.
   */
  canary?: number;
  /** Delivery of rows that name none (`--delivery`); default realtime. */
  delivery?: Delivery;
  /** Progress callback: bytes read so far out of the manifests' total size. */
  onProgress?: (progress: { bytesRead: number; totalBytes: number; rowsRead: number }) => void;
  log: Logger;
}

/** Redis, batch records and adapters the producer uses. Redis and store are not needed for a dry run. */
export interface EnqueueDependencies {
  redis?: Redis;
  store?: BatchStore;
  queuePrefix: string;
  /** Adapters, to check each row against what its provider serves. */
  providerFor(name: ProviderName): ImageProvider;
  /** Prices rows for the estimate. */
  catalogue: PriceCatalogue;
}

/** What an enqueue did. */
export interface EnqueueReport {
  batchId: string;
  /** `<out>/<batch>` */
  batchDirectory: string;
  rowsRead: number;
  /** Rows added to the queues by this call. */
  enqueued: number;
  /** Valid rows that were already in the batch (an earlier run of the same manifest). */
  alreadyEnqueued: number;
  /** Rows rejected by this call (including ones already reported by an earlier run). */
  rejected: number;
  /** The first rejects, for printing. */
  rejectSamples: RejectLine[];
  /** Providers of the valid rows. */
  providers: ProviderName[];
  /** Estimate of the rows enqueued by this call (of every valid row, in a dry run). */
  estimate: CostEstimate;
  /** Problems worth a warning that reject nothing (unknown columns). */
  warnings: string[];
  /** The batch's canary, when it has one: its rows and the rows held until it is approved (after this call). */
  canary?: { size: number; rows: number; held: number; state: 'awaiting' | 'approved' };
}

const DEFAULT_CHUNK_SIZE = 1000;
const MAX_REJECT_SAMPLES = 10;

/**
 * Enqueue `options.manifests` as batch `options.batchId`.
 * @throws Error when Redis fails mid-way (rows already added stay; re-running continues where it stopped).
 */
export async function enqueueManifests(
  options: EnqueueOptions,
  dependencies: EnqueueDependencies,
): Promise<EnqueueReport> {
  const outputStore = outputStoreFor(options.outputRoot);
  const report: EnqueueReport = {
    batchId: options.batchId,
    batchDirectory: outputStore.batchLocation(options.batchId),
    rowsRead: 0,
    enqueued: 0,
    alreadyEnqueued: 0,
    rejected: 0,
    rejectSamples: [],
    providers: [],
    estimate: emptyEstimate(),
    warnings: [],
  };
  const { store, redis } = dependencies;
  if (!options.dryRun && (store === undefined || redis === undefined))
    throw new Error('enqueueManifests needs Redis unless dryRun is set');
  // Estimates follow what hosts' usage has shown of their billing (src/batch/billing-facts.ts).
  if (store !== undefined) dependencies.catalogue.learnInputBilling(await store.billing.read());
  const rejects = options.dryRun ? undefined : new RejectsWriter(outputStore, options.batchId);
  // One key per reject: the printed count and the lines of rejects.jsonl are the same rejects (issue 18.5).
  const rejectedThisRun = new Set<string>();
  const reject = async (line: RejectLine): Promise<void> => {
    const key = `${line.manifest}:${line.line}:${line.code}`;
    if (rejectedThisRun.has(key)) return;
    rejectedThisRun.add(key);
    report.rejected += 1;
    if (report.rejectSamples.length < MAX_REJECT_SAMPLES) report.rejectSamples.push(line);
    if (rejects === undefined || store === undefined) return;
    if (await store.recordReject(options.batchId, key)) await rejects.write(line);
  };
  const canary = options.dryRun || store === undefined ? undefined : await canaryOf(options, store);
  const writer =
    options.dryRun || store === undefined || redis === undefined
      ? undefined
      : new ChunkWriter(
          {
            redis,
            store,
            queuePrefix: dependencies.queuePrefix,
            batchId: options.batchId,
            ...(canary === undefined ? {} : { canary }),
          },
          options,
          report,
          reject,
        );
  const providers = new Set<ProviderName>();
  try {
    await readEveryManifest(options, dependencies, report, { reject, writer, providers });
    await writer?.settled();
    const figures =
      store === undefined || canary === undefined ? undefined : await finishCanary(store, options, canary);
    if (figures !== undefined) report.canary = figures;
  } finally {
    await writer?.close();
    await rejects?.close();
  }
  report.providers = [...providers];
  roundEstimate(report.estimate);
  return report;
}

/**
 * The canary this enqueue holds rows for: when the batch's canary awaits approval (configured now by `--canary`, or
 * earlier), with a picker when `--canary` is given. Undefined when rows are not held.
 */
async function canaryOf(
  options: EnqueueOptions,
  store: BatchStore,
): Promise<{ picker: CanaryPicker | undefined } | undefined> {
  let settings = await store.canary.settings(options.batchId);
  if (options.canary !== undefined && settings === undefined) {
    const status = await store.status(options.batchId);
    if (status !== undefined && status.rows > 0)
      throw new UsageError(
        `batch ${options.batchId} already has ${status.rows} rows running without a canary; --canary applies to a new batch (give another --batch)`,
      );
    settings = await store.canary.configure(options.batchId, options.canary);
  }
  if (settings?.state !== 'awaiting') return undefined;
  return {
    picker: options.canary === undefined ? undefined : new CanaryPicker(options.batchId, settings.size),
  };
}

/**
 * After the last row: top the canary up to its size from the held rows, and — when it was approved while rows were
 * still being added — release what this enqueue held. @returns the canary's figures for the report.
 */
async function finishCanary(
  store: BatchStore,
  options: EnqueueOptions,
  canary: { picker: CanaryPicker | undefined },
): Promise<EnqueueReport['canary']> {
  const topUp = canary.picker?.topUp() ?? [];
  await store.canary.moveIntoCanary(options.batchId, topUp);
  if ((await store.canary.settings(options.batchId))?.state === 'approved')
    await store.canary.approve(options.batchId);
  const progress = await store.canary.progress(options.batchId);
  if (progress === undefined) return undefined;
  return { size: progress.size, rows: progress.rowKeys.length, held: progress.held, state: progress.state };
}

/** Where checked rows go while the manifests are read. */
interface RowSinks {
  reject: (line: RejectLine) => Promise<void>;
  /** Absent in a dry run: rows are then only counted and priced. */
  writer: ChunkWriter | undefined;
  providers: Set<ProviderName>;
}

/** The row checker of an enqueue: rows planned with the sizes tiered hosts were seen to deliver (Redis, if any). */
function rowCheckerFor(options: EnqueueOptions, dependencies: EnqueueDependencies): RowChecker {
  const { canary, ...rest } = options;
  const { redis } = dependencies;
  const tierSizes = redis === undefined ? undefined : new TierSizeRecords(redis, dependencies.queuePrefix);
  return new RowChecker({
    ...rest,
    canary: canary !== undefined,
    providerFor: (name) => dependencies.providerFor(name),
    ...(tierSizes === undefined
      ? {}
      : { deliveredTierSizes: (name: ProviderName) => tierSizes.read(name).catch(() => ({})) }),
    catalogue: dependencies.catalogue,
  });
}

/** Read every manifest as a stream, check each row, and send the good ones in chunks. */
async function readEveryManifest(
  options: EnqueueOptions,
  dependencies: EnqueueDependencies,
  report: EnqueueReport,
  sinks: RowSinks,
): Promise<void> {
  const checker = rowCheckerFor(options, dependencies);
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const totalBytes = await totalSize(options.manifests);
  let bytesRead = 0;
  let pending: PendingRow[] = [];
  const flush = async (): Promise<void> => {
    const rows = pending;
    pending = [];
    if (rows.length === 0) return;
    if (sinks.writer !== undefined) return sinks.writer.write(rows);
    for (const row of rows) addToEstimate(report.estimate, row);
    report.enqueued += rows.length;
  };
  const seenManifests = new Set<string>();
  for (const manifest of options.manifests) {
    const absolute = path.resolve(manifest);
    if (seenManifests.has(absolute)) {
      const warning = `${manifest} is given more than once: read once`;
      report.warnings.push(warning);
      options.log.warn(warning);
      continue;
    }
    seenManifests.add(absolute);
    const origin = {
      manifest,
      directory: path.dirname(absolute),
      stem: path.basename(absolute, path.extname(absolute)),
    };
    const unknownFields = new Set<string>();
    const realtimeInstead: number[] = [];
    const onBytesRead = (bytes: number) => {
      bytesRead += bytes;
      options.onProgress?.({ bytesRead, totalBytes, rowsRead: report.rowsRead });
    };
    for await (const entry of readManifest(absolute, { onBytesRead })) {
      if (entry.kind === 'problem') {
        const { line, code, message } = entry;
        // An unreadable row was read all the same: "read 34 rows; enqueued 30; 4 rejected" adds up.
        if (entry.isRow) report.rowsRead += 1;
        await sinks.reject({
          manifest,
          line,
          row_key: null,
          field: entry.field ?? null,
          code,
          message,
          errors: [],
        });
        continue;
      }
      report.rowsRead += 1;
      const checked = await checker.check(entry.fields, { ...origin, line: entry.line });
      for (const field of checked.unknownFields) unknownFields.add(field);
      if (!checked.ok) {
        await rejectInvalid(sinks.reject, manifest, entry.line, checked.rowKey, checked.errors);
        continue;
      }
      if (checked.realtimeInstead !== undefined) realtimeInstead.push(entry.line);
      // A routed row may go to any of its candidate hosts: each needs a worker.
      for (const name of checked.row.data.routing?.candidates ?? [checked.row.data.provider])
        sinks.providers.add(providerOf(name));
      pending.push(checked.row);
      if (pending.length >= chunkSize) await flush();
    }
    await flush();
    warnAfterManifest(manifest, { unknownFields, realtimeInstead }, report, options.log);
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

async function totalSize(manifests: readonly string[]): Promise<number> {
  let total = 0;
  for (const manifest of manifests)
    total += await stat(manifest).then(
      (info) => info.size,
      () => 0,
    );
  return total;
}
