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
 *
 * With a window (`options.window`, issue 27) every row is still read, checked, priced and registered, but only a window
 * of them get their jobs now; the rest are added from the batch's manifest cursor as rows finish (./refill.ts,
 * ./cursor-pass.ts).
 */

import type { BatchStore } from '../batch/batch-store.js';
import { planRowBuckets } from '../batch/row-index.js';
import type { ProviderName } from '../shared/config.js';
import { UsageError } from '../shared/errors.js';
import { outputStoreFor } from '../storage/stores.js';
import { CanaryPicker } from './canary-picker.js';
import { ChunkWriter } from './chunk-writer.js';
import { startCursorPass } from './cursor-pass.js';
import type { EnqueueDependencies, EnqueueOptions, EnqueueReport } from './enqueue-options.js';
import { emptyEstimate, roundEstimate } from './estimate.js';
import type { ManifestToRead, ReadPlan } from './ingest-window.js';
import { readManifests, totalSize } from './manifest-pass.js';
import { manifestLocation } from './manifest-source.js';
import { RejectsWriter, type RejectLine } from './rejects-writer.js';

export type { CostEstimate } from './estimate.js';
export type { EnqueueDependencies, EnqueueOptions, EnqueueReport } from './enqueue-options.js';
export type { ReadPlan } from './ingest-window.js';

const MAX_REJECT_SAMPLES = 10;

/**
 * Enqueue `options.manifests` as batch `options.batchId`.
 * @throws Error when Redis fails mid-way (rows already added stay; re-running continues where it stopped).
 */
export async function enqueueManifests(
  options: EnqueueOptions,
  dependencies: EnqueueDependencies,
): Promise<EnqueueReport> {
  return runEnqueue(options, dependencies, undefined);
}

/** {@link enqueueManifests}, or with `refill` the rows a refill reads from a manifest cursor. */
export async function runEnqueue(
  options: EnqueueOptions,
  dependencies: EnqueueDependencies,
  refill: ReadPlan | undefined,
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
  const reject = rejectSink(report, rejects, store);
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
  let plan = refill;
  try {
    if (writer !== undefined && redis !== undefined && refill === undefined) {
      const bytes = await totalSize(manifestsOf(options, report).map((manifest) => manifest.path));
      await planRowBuckets(redis, dependencies.queuePrefix, options.batchId, bytes);
    }
    if (plan === undefined && options.window !== undefined && store !== undefined && writer !== undefined)
      plan = await startCursorPass(options, store, manifestsOf(options, report));
    const windowFilled = plan?.windowFilled;
    await readManifests(
      plan?.manifests ?? manifestsOf(options, report),
      { options, dependencies, report },
      {
        reject,
        writer,
        providers,
        ...(windowFilled === undefined || writer === undefined
          ? {}
          : { windowFilled: async () => windowFilled(await writer.settledCounts()) }),
      },
      plan?.window,
    );
    await writer?.settled();
    if (plan !== undefined && writer !== undefined) await plan.finish(writer.counts, report);
    const figures =
      store === undefined || canary === undefined ? undefined : await finishCanary(store, options, canary);
    if (figures !== undefined) report.canary = figures;
  } finally {
    await plan?.release?.();
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

/** The manifests of a producer's pass, each once (a path given twice is read once, with a warning). */
function manifestsOf(options: EnqueueOptions, report: EnqueueReport): ManifestToRead[] {
  const seen = new Set<string>();
  const manifests: ManifestToRead[] = [];
  for (const name of options.manifests) {
    const absolute = manifestLocation(name);
    if (seen.has(absolute)) {
      const warning = `${name} is given more than once: read once`;
      if (!report.warnings.includes(warning)) {
        report.warnings.push(warning);
        options.log.warn(warning);
      }
      continue;
    }
    seen.add(absolute);
    manifests.push({ name, path: absolute, index: manifests.length });
  }
  return manifests;
}

/**
 * Where an enqueue's rejects go: counted and sampled in `report`, and written to rejects.jsonl once per batch (the
 * batch's records say which were written already). One key per reject: the printed count and the lines of
 * rejects.jsonl are the same rejects (issue 18.5).
 */
function rejectSink(
  report: EnqueueReport,
  rejects: RejectsWriter | undefined,
  store: BatchStore | undefined,
): (line: RejectLine) => Promise<void> {
  const rejectedThisRun = new Set<string>();
  return async (line) => {
    const key = `${line.manifest}:${line.line}:${line.code}`;
    if (rejectedThisRun.has(key)) return;
    rejectedThisRun.add(key);
    report.rejected += 1;
    if (report.rejectSamples.length < MAX_REJECT_SAMPLES) report.rejectSamples.push(line);
    if (rejects === undefined || store === undefined) return;
    if (await store.recordReject(report.batchId, key)) await rejects.write(line);
  };
}
