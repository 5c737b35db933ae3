import type { ReportFigures } from '../batch/batch-report.js';

/** One batch as the dashboard's batches page shows it (./pages.ts), made by `overviewOf` (./dashboard-context.ts). */
export interface BatchOverview {
  id: string;
  state: string;
  /** ISO time the batch was created ('' when unknown): the batches page lists the newest first. */
  createdAt: string;
  rows: number;
  done: number;
  completed: number;
  failed: number;
  rejected: number;
  pending: number;
  /** Rows finished per minute from the batch's creation to now, or to its last outcome once finished. */
  rowsPerMinute: number;
  /** Seconds until done at that rate; null when finished or unknown. */
  etaSeconds: number | null;
  /** ISO time a finished batch finished (its last outcome), else null. */
  finishedAt: string | null;
  costUsd: number;
  spentUsd: number;
  capUsd: number | null;
  costByTier: ReportFigures['cost_by_tier'];
  /** It will miss (or missed) its finish-by time (src/batch/finish-by.ts); absent otherwise. */
  late?: boolean;
  /** Rows finished per minute over the hour up to now (or to its last outcome), oldest first: the page's sparkline. */
  recent?: number[];
}
