/** What `status` says of a batch (./batch-store.ts `BatchStore.status`). */
import type { ResolutionTier } from '../cost/resolution-tier.js';
import type { CanaryProgress } from './canary.js';
import type { FinishByStatus } from './finish-by.js';
import type { BatchPriority } from './priority.js';

/** Counts and cost of a batch so far. */
export interface BatchStatus {
  batchId: string;
  outputDirectory: string;
  createdAt: string;
  manifests: string[];
  /** Valid rows enqueued (all manifests, all enqueue runs). */
  rows: number;
  rejected: number;
  completed: number;
  failed: number;
  /** Rows not yet completed or failed (those still waiting in the manifests too). */
  pending: number;
  /**
   * A windowed batch (./manifest-cursor.ts): of the pending rows, those whose jobs are not in Redis yet (they wait in
   * the manifests), and the window of rows in Redis at once.
   */
  inManifests?: { rows: number; window: number };
  costUsdTotal: number;
  costByTier: Record<ResolutionTier, { images: number; cost_usd: number }>;
  /** Budget cap in USD, when set. */
  budgetUsd: number | undefined;
  /** USD counted as spent against the cap, and reserved for calls in flight. */
  spentUsd: number;
  reservedUsd: number;
  /**
   * `budget_reached` when a call was held back by the cap; `canary` while the canary rows run and the rest is held;
   * `awaiting_approval` when they have all finished and the rest waits for approval; else `running` or `finished`.
   */
  state: 'running' | 'paused' | 'budget_reached' | 'canary' | 'awaiting_approval' | 'finished';
  /** The batch's canary, when it has one. */
  canary?: CanaryProgress;
  /** ISO time of the latest row outcome (when a finished batch finished), or undefined before the first. */
  lastOutcomeAt: string | undefined;
  /** Every counter of the stats hash (by provider, failure reason, actual cost), for reports. */
  counters: Record<string, number>;
  /** Its priority level (1 first … 9 last) and weight among the batches of its level (./priority.ts). */
  priority: BatchPriority;
  /** Its finish-by time, when it has one: planned and expected ends, whether it is late (./finish-by.ts). */
  finishBy?: FinishByStatus;
}
