/** A batch's status as the store reports it, for tests of what is made from it (dashboard rows, overviews). */
import type { BatchStatus } from '../../src/batch/batch-store.js';

/** A running batch `b` of 100 pending rows created 2026-11-30 10:00 UTC, with `overrides`. */
export function batchStatus(overrides: Partial<BatchStatus>): BatchStatus {
  return {
    batchId: 'b',
    outputDirectory: '/tmp/out',
    createdAt: '2026-11-30T10:00:00.000Z',
    lastOutcomeAt: undefined,
    manifests: [],
    rows: 100,
    rejected: 0,
    completed: 0,
    failed: 0,
    pending: 100,
    costUsdTotal: 0,
    costByTier: { standard: { images: 0, cost_usd: 0 }, 'high-resolution': { images: 0, cost_usd: 0 } },
    budgetUsd: undefined,
    spentUsd: 0,
    reservedUsd: 0,
    state: 'running',
    counters: {},
    priority: { level: 5, weight: 1 },
    ...overrides,
  };
}
