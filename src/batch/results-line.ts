/**
 * The one builder of results lines (results.jsonl): every completed or failed row's line is made here, from the job's
 * data and what happened to it, so the fields cannot drift between the places that finish a row.
 */
import { scrubSecrets } from '../shared/secrets.js';
import { resolutionTier } from '../cost/resolution-tier.js';
import { roundUsd } from '../cost/usd.js';
import type { ImageJobData, ResultLine, StoredOutput } from '../shared/job-definitions.js';
import { parseResolution } from '../shared/resolution.js';

/** What every line of a row says, whatever its outcome. */
export type LineBase = Pick<
  ResultLine,
  | 'row_key'
  | 'prompt'
  | 'manifest'
  | 'line'
  | 'operation'
  | 'provider'
  | 'model'
  | 'attempts'
  | 'resolution'
  | 'resolution_tier'
  | 'size_requested'
  | 'hosts_tried'
  | 'account'
>;

/**
 * The common part of a row's line.
 * @param model the model the request went (or would go) to.
 * @param attempts attempts made, this one included.
 * @param sizeRequested the size parameters sent where the provider takes no `WIDTHxHEIGHT` (else undefined).
 */
export function lineBase(
  data: ImageJobData,
  model: string,
  attempts: number,
  sizeRequested: Record<string, string> | undefined,
): LineBase {
  return {
    row_key: data.rowKey,
    prompt: data.prompt,
    manifest: data.source.manifest,
    line: data.source.line,
    operation: data.operation,
    provider: data.provider,
    account: data.account ?? 1,
    model,
    attempts,
    resolution: data.resolution,
    // Billed at the size its tier delivers where the row went as a ratio and tier (`sizePlan`).
    resolution_tier: resolutionTier(
      parseResolution(data.sizePlan?.expectedSize ?? data.resolution) ?? { width: 1024, height: 1024 },
    ),
    size_requested: sizeRequested ?? null,
    hosts_tried: data.routing === undefined ? null : [...data.routing.tried],
  };
}

/** The line of a completed row. USD amounts are the estimate and the actual cost (null when not reported). */
export function completedLine(
  base: LineBase,
  outcome: {
    model: string;
    outputs: StoredOutput[];
    requestId: string | null;
    costUsd: number;
    actualUsd: number | undefined;
    usage: Record<string, unknown> | undefined;
    /** The row's reuse key, when known (./reuse-key.ts). */
    reuseKey?: string | undefined;
    /** The earlier row whose images were copied instead of calling a host. */
    reusedFrom?: { batch: string; row_key: string } | undefined;
  },
): ResultLine {
  return {
    ...base,
    model: outcome.model,
    status: 'completed',
    outputs: outcome.outputs,
    request_id: outcome.requestId,
    cost_usd: outcome.costUsd,
    cost_usd_actual: outcome.actualUsd ?? null,
    cost_usd_difference:
      outcome.actualUsd === undefined ? null : roundUsd(outcome.actualUsd - outcome.costUsd),
    usage: outcome.usage === undefined ? null : { ...outcome.usage },
    error: null,
    finished_at: new Date().toISOString(),
    ...(outcome.reuseKey === undefined ? {} : { reuse_key: outcome.reuseKey }),
    ...(outcome.reusedFrom === undefined ? {} : { reused_from: outcome.reusedFrom }),
  };
}

/** The line of a failed row: its reason as a stable code and a message for people. */
export function failedLine(
  base: LineBase,
  failure: { code: string; message: string; requestId: string | null },
): ResultLine {
  return {
    ...base,
    status: 'failed',
    outputs: [],
    request_id: failure.requestId,
    cost_usd: 0,
    cost_usd_actual: null,
    cost_usd_difference: null,
    usage: null,
    // Scrubbed again here: the line goes to disk, the CSV report and the dashboard (src/shared/secrets.ts).
    error: { code: failure.code, message: scrubSecrets(failure.message) },
    finished_at: new Date().toISOString(),
  };
}
