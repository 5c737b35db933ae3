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
import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import { Queue, type JobsOptions } from 'bullmq';
import type { ModelCapabilities } from '../providers/capabilities.js';
import { sniffImageType } from '../providers/image-inputs.js';
import type { ImageProvider } from '../providers/provider.js';
import { sourceText, type BatchStore } from '../batch/batch-store.js';
import type { ProviderName } from '../shared/config.js';
import type { FieldError } from '../shared/errors.js';
import { PROVIDER_BACKOFF_TYPE, type ImageJobData } from '../shared/job-definitions.js';
import { jobIdFor, queueNameFor } from '../shared/keys.js';
import type { Logger } from '../shared/logger.js';
import { InFlight } from './in-flight.js';
import { outputStoreFor } from '../storage/stores.js';
import { type PriceCatalogue } from '../cost/price-catalogue.js';
import { roundUsd } from '../cost/usd.js';
import { parseResolution } from '../shared/resolution.js';
import { RESOLUTION_TIERS, resolutionTier, type ResolutionTier } from '../cost/resolution-tier.js';
import type { Redis } from 'ioredis';
import { isLocalImage, validateRow, type ManifestRow } from './manifest-row.js';
import { readManifest } from './manifest-reader.js';
import { RejectsWriter, type RejectLine } from './rejects-writer.js';

/** Options of {@link enqueueManifests}. */
export interface EnqueueOptions {
  /** Manifest paths as the user gave them (relative to the working directory, or absolute). */
  manifests: string[];
  batchId: string;
  /** Send every row to this provider, whatever its `provider` field says. Default: the row's, else `defaultProvider`. */
  provider?: ProviderName;
  defaultProvider: ProviderName;
  /** Output root (`--out`); the batch's files go to `<out>/<batch>/`. */
  outputRoot: string;
  /** Validate and report only: no Redis, no files. */
  dryRun: boolean;
  /** Attempts per job and base backoff delay in ms (from the configuration). */
  attempts: number;
  backoffDelayMs: number;
  /** Rows per `addBulk`. Default 1000. */
  chunkSize?: number;
  /** The batch has a budget cap: rows no published figure can price are rejected (they cannot be held to it). */
  budgetCapped?: boolean;
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

/** Estimated cost of rows, by resolution tier and by provider × tier. */
export interface CostEstimate {
  costUsd: number;
  byTier: Record<ResolutionTier, { images: number; cost_usd: number }>;
  byProvider: Partial<Record<ProviderName, Record<ResolutionTier, { images: number; cost_usd: number }>>>;
  /** Rows priced from a derived figure (the provider publishes none for them). */
  estimatedRows: number;
  /** Rows priced from the user's pricing file. */
  overriddenRows: number;
  /** Rows no published figure prices (counted at $0 in the sums above; see `unpricedReasons`). */
  unpricedRows: number;
  /** Why rows are unpriced, each reason once. */
  unpricedReasons: string[];
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
}

interface PendingRow {
  rowKey: string;
  source: string;
  data: ImageJobData;
  tier: ResolutionTier;
  images: number;
  costUsd: number;
  estimated: boolean;
  overridden: boolean;
  /** Why no figure prices the row, when none does. */
  unpriced?: string;
}

const DEFAULT_CHUNK_SIZE = 1000;
/** Chunks being registered or added at once; more only hold more rows in memory. */
const CHUNKS_IN_FLIGHT = 4;
const MAX_REJECT_SAMPLES = 10;

/**
 * Enqueue `options.manifests` as batch `options.batchId`.
 * @throws Error when Redis fails mid-way (rows already added stay; re-running continues where it stopped).
 */
export async function enqueueManifests(
  options: EnqueueOptions,
  dependencies: EnqueueDependencies,
): Promise<EnqueueReport> {
  const { log } = options;
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
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
  if (!options.dryRun && (store === undefined || redis === undefined)) {
    throw new Error('enqueueManifests needs Redis unless dryRun is set');
  }
  const rejects = options.dryRun ? undefined : new RejectsWriter(outputStore, options.batchId);
  const queues = new Map<ProviderName, Queue>();
  const queueFor = (name: ProviderName): Queue => {
    let queue = queues.get(name);
    if (queue === undefined) {
      queue = new Queue(queueNameFor(name), { connection: redis!, prefix: dependencies.queuePrefix });
      queues.set(name, queue);
    }
    return queue;
  };
  const providersSeen = new Set<ProviderName>();
  const localFileChecks = new Map<string, LocalImage>();
  // Each adapter is prepared once before its first row is checked (Oxen.ai reads the schema the host serves, so rows
  // are checked against what the worker will send).
  const adapters = new Map<ProviderName, Promise<ImageProvider>>();
  const adapterFor = (name: ProviderName): Promise<ImageProvider> => {
    let adapter = adapters.get(name);
    if (adapter === undefined) {
      const created = dependencies.providerFor(name);
      adapter = (created.prepare?.({ signal: AbortSignal.timeout(30_000), log }) ?? Promise.resolve()).then(
        () => created,
      );
      adapters.set(name, adapter);
    }
    return adapter;
  };

  const reject = async (line: RejectLine): Promise<void> => {
    report.rejected += 1;
    if (report.rejectSamples.length < MAX_REJECT_SAMPLES) report.rejectSamples.push(line);
    if (options.dryRun || store === undefined || rejects === undefined) return;
    if (await store.recordReject(options.batchId, `${line.manifest}:${line.line}`)) await rejects.write(line);
  };

  const jobOptions: JobsOptions = {
    attempts: options.attempts,
    backoff: { type: PROVIDER_BACKOFF_TYPE, delay: options.backoffDelayMs },
    removeOnComplete: { age: 7 * 24 * 3600 },
    removeOnFail: { age: 30 * 24 * 3600 },
  };

  /**
   * Classify a chunk against the batch's records, reject its duplicate row keys and register its new rows.
   * @returns the rows whose jobs to add: new ones, and known ones not finished yet (a no-op while their job exists,
   * a rescue if it was removed).
   */
  const registerChunk = async (rows: PendingRow[]): Promise<PendingRow[]> => {
    const classifications = await store!.classifyRows(options.batchId, rows);
    const fresh: PendingRow[] = [];
    const unfinished: PendingRow[] = [];
    const seenInChunk = new Map<string, string>();
    for (const [index, row] of rows.entries()) {
      const classification = classifications[index]!;
      const earlier = seenInChunk.get(row.rowKey);
      if (classification.kind === 'conflict' || earlier !== undefined) {
        const [manifest, line] = splitSource(row.source);
        await reject({
          manifest,
          line,
          row_key: row.rowKey,
          field: 'id',
          code: 'duplicate_row_key',
          message: `row key "${row.rowKey}" is already used by ${classification.kind === 'conflict' ? classification.existingSource : earlier}`,
          errors: [],
        });
        continue;
      }
      seenInChunk.set(row.rowKey, row.source);
      if (classification.kind === 'new') fresh.push(row);
      else {
        report.alreadyEnqueued += 1;
        if (!classification.finished) unfinished.push(row);
      }
    }
    await store!.registerRows(options.batchId, fresh);
    for (const row of fresh) addToEstimate(report.estimate, row);
    report.enqueued += fresh.length;
    return [...fresh, ...unfinished];
  };

  /** Add the jobs of `rows`, one `addBulk` per provider. */
  const addJobs = async (rows: PendingRow[]): Promise<void> => {
    const byProvider = new Map<ProviderName, PendingRow[]>();
    for (const row of rows) {
      const list = byProvider.get(row.data.provider) ?? [];
      list.push(row);
      byProvider.set(row.data.provider, list);
    }
    await Promise.all(
      [...byProvider].map(([provider, providerRows]) =>
        queueFor(provider).addBulk(
          providerRows.map((row) => ({
            name: row.data.operation,
            data: row.data,
            opts: { ...jobOptions, jobId: jobIdFor(options.batchId, row.rowKey) },
          })),
        ),
      ),
    );
  };

  // Chunks in flight: registered one after another, in manifest order (`registered` chains them), added while the
  // next chunks are read and registered.
  const chunks = new InFlight();
  let registered: Promise<unknown> = Promise.resolve();
  let pending: PendingRow[] = [];
  const flush = async (): Promise<void> => {
    const rows = pending;
    pending = [];
    if (rows.length === 0) return;
    if (options.dryRun || store === undefined) {
      for (const row of rows) addToEstimate(report.estimate, row);
      report.enqueued += rows.length;
      return;
    }
    const toAdd = registered.then(() => (chunks.failed ? [] : registerChunk(rows)));
    registered = toAdd.catch(() => undefined);
    chunks.start(toAdd.then(addJobs));
    await chunks.belowLimit(CHUNKS_IN_FLIGHT);
  };

  const totalBytes = await totalSize(options.manifests);
  let bytesRead = 0;
  try {
    for (const manifest of options.manifests) {
      const absolute = path.resolve(manifest);
      const directory = path.dirname(absolute);
      const stem = path.basename(absolute, path.extname(absolute));
      const unknownFields = new Set<string>();
      for await (const entry of readManifest(absolute, {
        onBytesRead: (bytes) => {
          bytesRead += bytes;
          options.onProgress?.({ bytesRead, totalBytes, rowsRead: report.rowsRead });
        },
      })) {
        if (entry.kind === 'problem') {
          await reject({
            manifest,
            line: entry.line,
            row_key: null,
            field: entry.field ?? null,
            code: entry.code,
            message: entry.message,
            errors: [],
          });
          continue;
        }
        report.rowsRead += 1;
        const validation = validateRow(entry.fields, directory);
        for (const field of validation.unknownFields) unknownFields.add(field);
        const rowKeyOf = (id: string | undefined) => id ?? `${stem}-${entry.line}`;
        if (!validation.ok) {
          const id =
            typeof entry.fields.id === 'string' || typeof entry.fields.id === 'number'
              ? String(entry.fields.id)
              : undefined;
          await rejectInvalid(reject, manifest, entry.line, rowKeyOf(id), validation.errors);
          continue;
        }
        const row = validation.row;
        const rowKey = rowKeyOf(row.id);
        const provider = options.provider ?? row.provider ?? options.defaultProvider;
        const data = jobDataOf(row, {
          batchId: options.batchId,
          rowKey,
          manifest,
          line: entry.line,
          provider,
        });
        const adapter = await adapterFor(provider);
        const errors: FieldError[] = adapter.checkRequest(data);
        errors.push(...(await localImageProblems(row, localFileChecks, adapter.capabilitiesFor(data))));
        const resolution = parseResolution(row.resolution)!;
        const quote = dependencies.catalogue.quote(provider, {
          operation: row.mode,
          resolution,
          quality: row.quality ?? adapter.defaultQuality,
          numImages: row.numImages,
          inputImageCount: row.imageUrls.length,
        });
        if (quote.unpriced === true && options.budgetCapped === true) {
          errors.push({
            field: 'quality',
            message: `${quote.source.note ?? 'no published price'}: a batch with a budget cap cannot hold it`,
          });
        }
        if (errors.length > 0) {
          await rejectInvalid(reject, manifest, entry.line, rowKey, errors);
          continue;
        }
        providersSeen.add(provider);
        pending.push({
          rowKey,
          source: sourceText({ manifest, line: entry.line }),
          data,
          tier: resolutionTier(resolution),
          images: row.numImages,
          costUsd: quote.usd,
          estimated: quote.estimate,
          overridden: quote.override,
          ...(quote.unpriced === true ? { unpriced: quote.source.note ?? 'no published price' } : {}),
        });
        if (pending.length >= chunkSize) await flush();
      }
      await flush();
      if (unknownFields.size > 0) {
        const warning = `${manifest}: ignored unknown field(s) ${[...unknownFields].map((name) => `"${name}"`).join(', ')}`;
        report.warnings.push(warning);
        log.warn(warning);
      }
    }
    await chunks.settled();
  } finally {
    // On an error too, every chunk already sent ends before the connections close.
    await chunks.settled().catch(() => undefined);
    await rejects?.close();
    await Promise.all([...queues.values()].map((queue) => queue.close()));
  }
  report.providers = [...providersSeen];
  report.estimate.costUsd = roundUsd(report.estimate.costUsd);
  for (const tier of RESOLUTION_TIERS) {
    report.estimate.byTier[tier].cost_usd = roundUsd(report.estimate.byTier[tier].cost_usd);
    for (const byTier of Object.values(report.estimate.byProvider))
      byTier[tier].cost_usd = roundUsd(byTier[tier].cost_usd);
  }
  return report;
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

/** The job data of a validated row. */
export function jobDataOf(
  row: ManifestRow,
  context: { batchId: string; rowKey: string; manifest: string; line: number; provider: ProviderName },
): ImageJobData {
  const data: ImageJobData = {
    batchId: context.batchId,
    rowKey: context.rowKey,
    source: { manifest: context.manifest, line: context.line },
    provider: context.provider,
    operation: row.mode,
    prompt: row.prompt,
    inputImages: row.imageUrls,
    resolution: row.resolution,
    numImages: row.numImages,
    outputFormat: row.outputFormat,
  };
  if (row.maskUrl !== undefined) data.mask = row.maskUrl;
  if (row.quality !== undefined) data.quality = row.quality;
  if (row.model !== undefined) data.model = row.model;
  if (row.background !== undefined) data.background = row.background;
  if (row.moderation !== undefined) data.moderation = row.moderation;
  if (row.outputCompression !== undefined) data.outputCompression = row.outputCompression;
  if (row.modelParameters !== undefined) data.modelParameters = row.modelParameters;
  return data;
}

/** What the producer knows of a local input file: whether it exists, and its image type by its first bytes. */
interface LocalImage {
  exists: boolean;
  type: string | undefined;
}

/**
 * Problems of a row's local input files: missing, or of a type its provider does not read (e.g. a GIF for OpenAI).
 * Files are looked at once per run (first 16 bytes), however many rows name them.
 */
async function localImageProblems(
  row: ManifestRow,
  cache: Map<string, LocalImage>,
  capabilities: ModelCapabilities | undefined,
): Promise<FieldError[]> {
  const errors: FieldError[] = [];
  const references = [
    ...row.imageUrls.map((reference) => ({ field: 'image_urls', reference })),
    ...(row.maskUrl === undefined ? [] : [{ field: 'mask_url', reference: row.maskUrl }]),
  ];
  for (const { field, reference } of references) {
    if (!isLocalImage(reference)) continue;
    let file = cache.get(reference);
    if (file === undefined) {
      file = await lookAt(reference);
      if (cache.size > 10_000) cache.clear();
      cache.set(reference, file);
    }
    if (!file.exists) errors.push({ field, message: `file not found: ${reference}` });
    else if (file.type === undefined)
      errors.push({ field, message: `not a PNG, JPEG, WebP or GIF image: ${reference}` });
    else if (
      capabilities !== undefined &&
      !(capabilities.inputTypes as readonly string[]).includes(file.type)
    ) {
      errors.push({
        field,
        message: `${reference} is ${file.type}; ${capabilities.model} reads ${capabilities.inputTypes.join(', ')}`,
      });
    }
  }
  return errors;
}

async function lookAt(reference: string): Promise<LocalImage> {
  try {
    const handle = await open(reference, 'r');
    try {
      const info = await handle.stat();
      if (!info.isFile()) return { exists: false, type: undefined };
      const head = Buffer.alloc(16);
      const { bytesRead } = await handle.read(head, 0, 16, 0);
      return { exists: true, type: sniffImageType(head.subarray(0, bytesRead)) };
    } finally {
      await handle.close();
    }
  } catch {
    return { exists: false, type: undefined };
  }
}

function emptyTiers(): CostEstimate['byTier'] {
  const byTier = {} as CostEstimate['byTier'];
  for (const tier of RESOLUTION_TIERS) byTier[tier] = { images: 0, cost_usd: 0 };
  return byTier;
}

function emptyEstimate(): CostEstimate {
  return {
    costUsd: 0,
    byTier: emptyTiers(),
    byProvider: {},
    estimatedRows: 0,
    overriddenRows: 0,
    unpricedRows: 0,
    unpricedReasons: [],
  };
}

function addToEstimate(estimate: CostEstimate, row: PendingRow): void {
  estimate.costUsd += row.costUsd;
  estimate.byTier[row.tier].images += row.images;
  estimate.byTier[row.tier].cost_usd += row.costUsd;
  const byProvider = (estimate.byProvider[row.data.provider] ??= emptyTiers());
  byProvider[row.tier].images += row.images;
  byProvider[row.tier].cost_usd += row.costUsd;
  if (row.unpriced !== undefined) {
    estimate.unpricedRows += 1;
    if (!estimate.unpricedReasons.includes(row.unpriced)) estimate.unpricedReasons.push(row.unpriced);
  } else if (row.estimated) estimate.estimatedRows += 1;
  if (row.overridden) estimate.overriddenRows += 1;
}

function splitSource(source: string): [string, number] {
  const index = source.lastIndexOf(':');
  return [source.slice(0, index), Number(source.slice(index + 1))];
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
