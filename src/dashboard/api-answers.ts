/**
 * The HTTP API's answers (docs/api.md), built from the library's reports and the batch records in the shapes of
 * ./api-schemas.ts (snake_case, USD rounded, nulls where a figure is unknown).
 */
import { levelName } from '../batch/priority.js';
import type { z } from 'zod';
import type { BatchStatus } from '../batch/batch-store.js';
import type { PriceCatalogue } from '../cost/price-catalogue.js';
import { cheaperEquivalent } from '../cost/price-list.js';
import { roundUsd } from '../cost/usd.js';
import type { EnqueueReport } from '../producer/enqueue.js';
import { outputStoreFor } from '../storage/stores.js';
import type { batchStatusSchema, enqueuedSchema, estimateSchema } from './api-schemas.js';

/** The estimate part of an answer: by tier and host, and what could not be priced. */
function estimateOf(report: EnqueueReport) {
  return {
    cost_usd: roundUsd(report.estimate.costUsd),
    by_tier: report.estimate.byTier,
    by_provider: report.estimate.byProvider,
    unpriced_rows: report.estimate.unpricedRows,
    unpriced_reasons: report.estimate.unpricedReasons,
  };
}

/** The first rejects of a report, as the API shows them. */
function rejectsOf(report: EnqueueReport) {
  return report.rejectSamples.map(({ manifest, line, row_key, field, code, message }) => ({
    manifest,
    line,
    row_key,
    field,
    code,
    message,
  }));
}

/**
 * The answer of a `POST /api/estimates`: rows read and rejected (the first rejects with their lines), the estimate,
 * and hints where a size with at least as many pixels costs less at the same quality.
 */
export function estimateAnswer(
  report: EnqueueReport,
  catalogue: PriceCatalogue,
): z.input<typeof estimateSchema> {
  const hints = [];
  for (const group of Object.values(report.estimate.rowGroups)) {
    const cheaper = cheaperEquivalent(catalogue, group.provider, group);
    if (cheaper === undefined) continue;
    hints.push({
      provider: group.provider,
      resolution: group.resolution,
      quality: group.quality,
      rows: group.rows,
      usd_per_image: cheaper.currentUsdPerImage,
      cheaper_resolution: cheaper.resolution,
      cheaper_usd_per_image: cheaper.usdPerImage,
      saves_usd: roundUsd((cheaper.currentUsdPerImage - cheaper.usdPerImage) * group.images),
    });
  }
  return {
    rows_read: report.rowsRead,
    rows_priced: report.enqueued,
    rejected: report.rejected,
    reject_samples: rejectsOf(report),
    estimate: estimateOf(report),
    hints,
    warnings: report.warnings,
  };
}

/** The answer of a `POST /api/batches`. */
export function enqueuedAnswer(report: EnqueueReport, created: boolean): z.input<typeof enqueuedSchema> {
  const base = `/api/batches/${encodeURIComponent(report.batchId)}`;
  return {
    batch_id: report.batchId,
    created,
    rows_read: report.rowsRead,
    enqueued: report.enqueued,
    already_enqueued: report.alreadyEnqueued,
    rejected: report.rejected,
    reject_samples: rejectsOf(report),
    rejects_url: `${base}/rejects`,
    estimate: estimateOf(report),
    warnings: report.warnings,
    canary: report.canary ?? null,
    status_url: base,
    results_url: `${base}/results`,
  };
}

/** The answer of a `GET /api/batches/:id`. */
export function statusAnswer(status: BatchStatus): z.input<typeof batchStatusSchema> {
  const counters = status.counters;
  const sum = (pattern: RegExp) => {
    const names = Object.keys(counters).filter((name) => pattern.test(name));
    return names.length === 0
      ? undefined
      : roundUsd(names.reduce((total, name) => total + counters[name]!, 0));
  };
  const actual = sum(/^actual_usd:(standard|high-resolution)$/);
  const canary = status.canary;
  return {
    batch_id: status.batchId,
    state: status.state,
    created_at: status.createdAt,
    last_outcome_at: status.lastOutcomeAt ?? null,
    rows: status.rows,
    rejected: status.rejected,
    completed: status.completed,
    failed: status.failed,
    pending: status.pending,
    cost_usd: status.costUsdTotal,
    cost_by_tier: status.costByTier,
    estimate_usd: sum(/^enqueued_estimate_usd$/) ?? null,
    rows_with_usage:
      actual === undefined
        ? null
        : {
            estimated_usd: sum(/^estimated_usd_with_actual:(standard|high-resolution)$/) ?? 0,
            actual_usd: actual,
          },
    budget_usd: status.budgetUsd ?? null,
    spent_usd: status.spentUsd,
    reserved_usd: status.reservedUsd,
    canary:
      canary === undefined
        ? null
        : { size: canary.size, state: canary.state, rows: canary.rowKeys.length, held: canary.held },
    priority: { ...status.priority, name: levelName(status.priority.level) },
    finish_by:
      status.finishBy === undefined
        ? null
        : {
            at: status.finishBy.at,
            planned_at: status.finishBy.plannedAt ?? null,
            expected_at: status.finishBy.expectedAt ?? null,
            late: status.finishBy.late,
          },
    output: outputStoreFor(status.outputDirectory).batchLocation(status.batchId),
  };
}
