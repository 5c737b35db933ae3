/**
 * The options, dependencies and report of an enqueue (./enqueue.ts), apart so that the manifest pass
 * (./manifest-pass.ts) and the refill from a manifest cursor (./refill.ts) share them.
 */
import type { RedisConnection } from '../shared/redis.js';
import type { BatchStore } from '../batch/batch-store.js';
import type { PriceCatalogue } from '../cost/price-catalogue.js';
import type { ImageProvider } from '../providers/provider.js';
import type { ProviderName } from '../shared/config.js';
import type { Logger } from '../shared/logger.js';
import type { CostEstimate } from './estimate.js';
import type { RejectLine } from './rejects-writer.js';
import type { RowCheckOptions } from './row-check.js';

/**
 * Options of {@link enqueueManifests}. The routing ones (`provider`, `providers`, `route`, `maxPremiumPercent`,
 * `autoHosts`, `accounts`, `defaultProvider`, `delivery`, `budgetCapped`) mean what they mean to the row checker
 * (./row-check.ts), which gets them as they are.
 */
export interface EnqueueOptions extends Pick<
  RowCheckOptions,
  | 'batchId'
  | 'provider'
  | 'providers'
  | 'route'
  | 'maxPremiumPercent'
  | 'autoHosts'
  | 'accounts'
  | 'defaultProvider'
  | 'delivery'
  | 'preferBatchApi'
  | 'reuse'
  | 'sidecar'
  | 'budgetCapped'
> {
  /** Manifest paths as the user gave them (relative to the working directory, or absolute; or `s3://` URLs). */
  manifests: string[];
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
  /**
   * Run this many rows first, stratified across provider × size × quality × mode, and hold the rest until the canary is
   * approved (src/batch/canary.ts). Applies to a batch that has no canary yet.
   */
  canary?: number;
  /**
   * Windowed ingest (src/batch/manifest-cursor.ts): the most rows whose jobs are in Redis at once; every row is still
   * read, checked, priced and registered, the rest are added from the manifest cursor as rows finish. Undefined: every
   * row's job is added now (no cursor).
   */
  window?: number;
  /** Progress callback: bytes read so far out of the manifests' total size. */
  onProgress?: (progress: { bytesRead: number; totalBytes: number; rowsRead: number }) => void;
  log: Logger;
}

/** Redis, batch records and adapters the producer uses. Redis and store are not needed for a dry run. */
export interface EnqueueDependencies {
  redis?: RedisConnection;
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
  /**
   * With a window: rows of the batch whose jobs wait in the manifests (added from the cursor as rows finish), and the
   * window.
   */
  waitingInManifests?: { rows: number; window: number };
  /** The batch's canary, when it has one: its rows and the rows held until it is approved (after this call). */
  canary?: { size: number; rows: number; held: number; state: 'awaiting' | 'approved' };
}
