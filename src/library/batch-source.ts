/**
 * What a batch is made from and with: its rows (manifest files, or rows given in code), and the options `run` and
 * `enqueue` take on the command line (docs/cli.md), as the library takes them.
 */
import type { PriorityInput } from './batch-priority.js';
import { manifestFormat } from '../producer/manifest-reader.js';
import { manifestInfo, manifestLocation } from '../producer/manifest-source.js';
import type { ProviderName } from '../shared/config.js';
import { UsageError } from '../shared/errors.js';
import type { Delivery, RoutePolicy } from '../shared/job-definitions.js';
import {
  jsonLinesOf,
  spoolManifest,
  spoolRootFor,
  type ManifestRecord,
  type SpooledManifest,
} from './manifest-spool.js';

/**
 * The rows of a batch: manifest files (paths relative to the working directory or absolute, `.csv` or `.jsonl`, or
 * `s3://` URLs), or rows given in code — an array, or any (async) iterable, of objects with a JSONL manifest line's
 * fields (docs/manifests.md). Rows given in code are first written to a JSONL manifest under the output root
 * (./manifest-spool.ts), streamed: a stream of a million rows takes no more memory than ten.
 */
export type BatchSource =
  | { manifests: string[] }
  | {
      rows: Iterable<ManifestRecord> | AsyncIterable<ManifestRecord>;
      /** The manifest's name, the stem of the default batch id. Default `rows`. */
      name?: string;
    };

/** How rows are routed and priced (the options `estimate` takes too). */
export interface RoutingOptions {
  /** Host of rows that name none (`--provider`). */
  provider?: ProviderName;
  /** Candidate hosts of rows that name none (`--providers`): a list, or `auto` (the hosts with a key). */
  providers?: ProviderName[] | 'auto';
  /** How rows with several candidate hosts pick one (`--route`); default `cheapest`. */
  route?: RoutePolicy;
  /** The most a host may cost over a row's cheapest candidate, percent (`--max-premium`). */
  maxPremium?: number;
  /** Delivery of rows that name none: `realtime` (default) or `batch` (OpenAI's Batch API, half price, ≤ 24 h). */
  delivery?: Delivery;
  /** A pricing override file (JSON/YAML); default IMAGE_BATCH_PRICING_FILE. */
  pricing?: string;
  /**
   * Every row may copy an earlier completed output of the same request under the output root instead of calling a host
   * (src/worker/reuse.ts); rows may also ask with manifest `reuse: true`. Image models are not deterministic: without
   * it a re-run makes new images.
   */
  reuse?: boolean;
}

/** Options of a batch being enqueued (those of `image-batch enqueue`, docs/cli.md). */
export interface BatchOptions extends RoutingOptions {
  /** Output root: the batch's files go to `<out>/<batch id>/` (a directory, or `s3://bucket/prefix`). */
  out: string;
  /** The batch id; default `<manifest names>-<8 hex of their content's sha256>` (the same rows: the same batch). */
  batchId?: string;
  /** Budget cap in USD: no call is started that could take the batch's spend over it. */
  budgetUsd?: number;
  /** Run this many rows first, and hold the rest until the canary is approved. */
  canary?: number;
  /** Batch API rows of an expired or cancelled OpenAI batch: wait for the next file (default) or go realtime. */
  fallback?: 'wait' | 'realtime';
  /** Rows whose jobs are in Redis at once (0: all); default from the rate limits. */
  window?: number;
  /** Where the batch's signed events go (docs/notifications.md); default IMAGE_BATCH_NOTIFY_URL; null: nowhere. */
  notify?: string | null;
  /** `urgent`, `normal` (default), `background`, or a level 1 (first) … 9 (last) (src/batch/priority.ts). */
  priority?: PriorityInput;
  /** Share of each host among the batches of its priority, 1 … 100; default 1 (src/batch/fair-share.ts). */
  weight?: number;
  /**
   * When it must be done: a duration (`90m`, `2h`, `3d`), an ISO time, a Date, or ms since the epoch
   * (src/batch/finish-by.ts). At least 24 hours away, OpenAI rows go through its Batch API unless `delivery` is given.
   */
  finishBy?: string | number | Date;
  /** Write `<image>.json` beside each image: prompt, model, host, request id, time, cost, C2PA summary. */
  sidecar?: boolean;
}

/**
 * The manifest files of `source`: its own, checked, or the spool its rows were written to.
 * @throws UsageError naming the manifest that is missing, unreadable, of an unknown type, or a row that is not an
 *   object.
 */
export async function manifestsOf(source: BatchSource, outputRoot: string): Promise<string[]> {
  if ('manifests' in source) {
    await checkManifests(source.manifests);
    return source.manifests;
  }
  const spooled: SpooledManifest = await spoolManifest(jsonLinesOf(source.rows), {
    root: spoolRootFor(outputRoot),
    name: source.name ?? 'rows',
    format: 'jsonl',
  });
  return [spooled.path];
}

/** @throws UsageError unless every path is an existing .csv or .jsonl file (or S3 object). */
export async function checkManifests(manifests: readonly string[]): Promise<void> {
  if (manifests.length === 0) throw new UsageError('give at least one manifest file');
  for (const manifest of manifests) {
    if (manifestFormat(manifest) === undefined) {
      throw new UsageError(`${manifest}: unknown manifest type; use a .csv or .jsonl file`);
    }
    const info = await manifestInfo(manifestLocation(manifest)).catch((error: unknown) => {
      throw new UsageError(`${manifest}: cannot be read (${(error as Error).name})`);
    });
    if (info === undefined)
      throw new UsageError(`${manifest}: no such ${manifest.startsWith('s3://') ? 'object' : 'file'}`);
  }
}
