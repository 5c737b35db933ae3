/**
 * The events image-batch sends about a batch (docs/notifications.md): their types, and the body of each. A body has
 * Standard Webhooks' payload shape (standardwebhooks.com, "Payload structure": `type`, `timestamp`, `data`) plus a
 * `text` line, which is what a Slack incoming webhook posts (api.slack.com/messaging/webhooks: "text" is the message;
 * Mattermost, Rocket.Chat and Discord's `/slack` endpoints take the same field), so one body suits both kinds of
 * receiver. No body carries a secret: ids, counts, USD amounts and where the outputs are.
 */
import { formatUsd, roundUsd } from '../../cost/usd.js';
import { fileLocation } from '../../storage/output-store.js';
import { outputStoreFor } from '../../storage/stores.js';
import type { BatchStatus } from '../batch-store.js';
import type { CanaryReport } from '../canary-report.js';

/** The events of one batch, each sent at most once per batch. */
export type BatchEventType =
  | 'batch.started'
  | 'batch.finished'
  | 'batch.budget_reached'
  | 'batch.canary_ready'
  | 'batch.stalled'
  | 'batch.late';

/** Every event type: the batch's own and `provider.paused` (once per pause of a host). */
export type EventType = BatchEventType | 'provider.paused';

/** What is posted: JSON of this shape. */
export interface EventBody {
  type: EventType;
  /** ISO time the event happened. */
  timestamp: string;
  data: Record<string, unknown>;
  /** One line for people (a Slack-compatible incoming webhook shows it). */
  text: string;
}

/** Where the batch's outputs are: its folder or S3 prefix, and its results and summary files. */
function outputsOf(status: BatchStatus): Record<string, string> {
  const folder = outputStoreFor(status.outputDirectory).batchLocation(status.batchId);
  return {
    folder,
    results: fileLocation(folder, 'results.jsonl'),
    summary: fileLocation(folder, 'summary.json'),
  };
}

/** Counts every batch event carries. */
function countsOf(status: BatchStatus): Record<string, number> {
  return {
    rows: status.rows,
    completed: status.completed,
    failed: status.failed,
    rejected: status.rejected,
    pending: status.pending,
  };
}

function body(type: EventType, data: Record<string, unknown>, text: string): EventBody {
  return { type, timestamp: new Date().toISOString(), data, text: `image-batch: ${text}` };
}

/** `batch.started`: the batch's rows are enqueued; `estimateUsd`, the estimate of its rows (USD). */
export function startedEvent(status: BatchStatus, estimateUsd: number): EventBody {
  return body(
    'batch.started',
    {
      batch_id: status.batchId,
      counts: countsOf(status),
      estimate_usd: roundUsd(estimateUsd),
      budget_usd: status.budgetUsd ?? null,
      manifests: status.manifests,
      outputs: outputsOf(status),
    },
    `batch ${status.batchId} started: ${status.rows} rows (${status.rejected} rejected), estimate ${formatUsd(estimateUsd)}` +
      (status.budgetUsd === undefined ? '' : `, budget ${formatUsd(status.budgetUsd)}`),
  );
}

/**
 * `batch.finished`: no row is pending. `estimateUsd`: the estimate at enqueue (undefined when unknown); the
 * estimated and actual cost of the rows whose host reported usage (OpenAI's tokens) compare the two where both exist.
 */
export function finishedEvent(status: BatchStatus, estimateUsd: number | undefined): EventBody {
  const counters = status.counters;
  const withActual = sumCounters(counters, /^estimated_usd_with_actual:(standard|high-resolution)$/);
  const actual = sumCounters(counters, /^actual_usd:(standard|high-resolution)$/);
  const failedByReason = Object.fromEntries(
    Object.entries(counters)
      .filter(([name]) => name.startsWith('failed_reason:'))
      .map(([name, count]) => [name.slice('failed_reason:'.length), count]),
  );
  return body(
    'batch.finished',
    {
      batch_id: status.batchId,
      counts: countsOf(status),
      failed_by_reason: failedByReason,
      cost_usd: roundUsd(status.costUsdTotal),
      spent_usd: roundUsd(status.spentUsd),
      estimate_usd: estimateUsd === undefined ? null : roundUsd(estimateUsd),
      rows_with_usage:
        actual === undefined
          ? null
          : { estimated_usd: roundUsd(withActual ?? 0), actual_usd: roundUsd(actual) },
      outputs: outputsOf(status),
    },
    `batch ${status.batchId} finished: ${status.completed} completed, ${status.failed} failed, ` +
      `${status.rejected} rejected; cost ${formatUsd(status.costUsdTotal)}` +
      (estimateUsd === undefined ? '' : ` (estimate ${formatUsd(estimateUsd)})`) +
      `. Outputs: ${outputsOf(status).folder}`,
  );
}

/** `batch.budget_reached`: a row was held back because its cost would cross the batch's cap. */
export function budgetReachedEvent(status: BatchStatus): EventBody {
  return body(
    'batch.budget_reached',
    {
      batch_id: status.batchId,
      counts: countsOf(status),
      budget_usd: status.budgetUsd ?? null,
      spent_usd: roundUsd(status.spentUsd),
      reserved_usd: roundUsd(status.reservedUsd),
      raise_command: `image-batch budget ${status.batchId} <usd>`,
    },
    `batch ${status.batchId} reached its budget of ${formatUsd(status.budgetUsd ?? 0)} ` +
      `(${formatUsd(status.spentUsd)} spent); ${status.pending} rows wait. Raise it: image-batch budget ${status.batchId} <usd>`,
  );
}

/** `batch.canary_ready`: every canary row finished; the rest waits for approval. */
export function canaryReadyEvent(status: BatchStatus, canary: CanaryReport): EventBody {
  return body(
    'batch.canary_ready',
    {
      batch_id: status.batchId,
      canary: {
        rows: canary.rows,
        completed: canary.completed,
        failed: canary.failed,
        failed_by_reason: canary.failedByReason,
        held: canary.held,
        estimated_usd: roundUsd(canary.estimatedUsd),
        estimated_per_image_usd: canary.estimatedPerImageUsd,
        actual_per_image_usd: canary.actualPerImageUsd,
        difference_percent: canary.differencePercent,
        images: canary.imagePaths.slice(0, 50),
      },
      approve_command: `image-batch approve ${status.batchId}`,
    },
    `batch ${status.batchId}: its canary finished (${canary.completed} completed, ${canary.failed} failed); ` +
      `${canary.held} rows wait. Approve: image-batch approve ${status.batchId}`,
  );
}

/** `batch.stalled`: no row finished for `idleMs` while rows wait. */
export function stalledEvent(status: BatchStatus, idleMs: number): EventBody {
  const minutes = Math.round(idleMs / 60_000);
  return body(
    'batch.stalled',
    {
      batch_id: status.batchId,
      counts: countsOf(status),
      idle_ms: idleMs,
      last_outcome_at: status.lastOutcomeAt ?? null,
    },
    `batch ${status.batchId} stalled: no row finished for ${minutes} min; ${status.pending} rows wait`,
  );
}

/** `batch.late`: the batch will miss (or has missed) its finish-by time (src/batch/finish-by.ts). */
export function lateEvent(status: BatchStatus): EventBody {
  const finishBy = status.finishBy!;
  const forecast = finishBy.expectedAt ?? finishBy.plannedAt ?? null;
  return body(
    'batch.late',
    {
      batch_id: status.batchId,
      counts: countsOf(status),
      finish_by: finishBy.at,
      expected_at: forecast,
      priority: status.priority.level,
    },
    `batch ${status.batchId} will miss its finish-by time ${finishBy.at}` +
      `${forecast === null ? '' : ` (expected about ${forecast})`}; ${status.pending} rows wait. ` +
      `Raise its priority: image-batch priority ${status.batchId} urgent`,
  );
}

/** `provider.paused`: a host's queue was paused (credit out, authentication failed, circuit breaker open). */
export function providerPausedEvent(
  batchId: string,
  host: string,
  reason: string,
  pauseMs: number | undefined,
): EventBody {
  return body(
    'provider.paused',
    { host, reason, pause_ms: pauseMs ?? null, batch_id: batchId },
    `host ${host} paused: ${reason}` +
      (pauseMs === undefined ? ' (until resumed)' : ` for ${Math.ceil(pauseMs / 1000)} s`),
  );
}

function sumCounters(counters: Record<string, number>, pattern: RegExp): number | undefined {
  let total: number | undefined;
  for (const [name, value] of Object.entries(counters)) if (pattern.test(name)) total = (total ?? 0) + value;
  return total;
}
