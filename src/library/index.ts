/**
 * The package's public API (`import { ImageBatch } from 'image-batch'`, package.json `exports`; docs/library.md):
 * the library class, the types its methods take and give, and the configuration loader.
 */
export {
  checkNotifyTarget,
  ImageBatch,
  type EnqueuedBatch,
  type ImageBatchOptions,
  type ReadProgress,
} from './image-batch.js';
export type { RunOptions, WorkerOptions } from './worker-options.js';
export type { BatchOptions, BatchSource, RoutingOptions } from './batch-source.js';
export type { ManifestRecord } from './manifest-spool.js';
export { loadConfig, type Config } from '../providers/configuration.js';
export type { BatchStatus } from '../batch/batch-store.js';
export type { BatchRunOutcome } from '../batch/batch-runner.js';
export type { EnqueueReport } from '../producer/enqueue.js';
export type { ResultLine } from '../shared/job-definitions.js';
export type { WorkerPool } from '../worker/worker-pool.js';
export { PROVIDER_NAMES, type ProviderName } from '../shared/config.js';
