/** Options of the workers and runs an {@link ImageBatch} starts (./image-batch.ts). */
import type { BatchRunOptions } from '../batch/batch-runner.js';
import type { ImageProvider } from '../providers/provider.js';
import type { ProviderName } from '../shared/config.js';
import type { HostName } from '../shared/hosts.js';

/** Options of `ImageBatch.startWorkers`. */
export interface WorkerOptions {
  /** Providers whose hosts get a worker; default every provider. */
  providers?: readonly ProviderName[];
  /** Jobs at once per host in this process; default: the host's configured concurrency. */
  concurrency?: number;
  /** Adapters to use instead of those built from the configuration, by host (tests). */
  providerOverrides?: ReadonlyMap<HostName, ImageProvider>;
  /** Serve Prometheus metrics on this port. */
  metricsPort?: number;
  /** A pricing file the rows refilled from manifests are priced with; default IMAGE_BATCH_PRICING_FILE. */
  pricing?: string;
}

/** Options of `ImageBatch.run`. */
export type RunOptions = WorkerOptions &
  Partial<Pick<BatchRunOptions, 'onProgress' | 'onProgressEnd' | 'onCanaryFinished' | 'pollIntervalMs'>> & {
    /** Aborting it stops the run (pending rows go on when the batch is run again). */
    signal?: AbortSignal;
  };
