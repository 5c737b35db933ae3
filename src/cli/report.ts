/**
 * Human-readable reports of the CLI: what an enqueue did, a batch's counts and its cost by resolution tier.
 */
import type { FinishByStatus } from '../batch/finish-by.js';
import type { FinishByPlan } from '../library/finish-plan.js';
import { levelName } from '../batch/priority.js';
import type { AutoscalingSignal } from '../batch/autoscaling.js';
import type { EnqueueReport } from '../producer/enqueue.js';
import type { BatchStatus } from '../batch/batch-store.js';
import type { BatchRunOutcome } from '../batch/batch-runner.js';
import { fileLocation } from '../storage/output-store.js';
import { outputStoreFor } from '../storage/stores.js';
import { RESOLUTION_TIERS } from '../cost/resolution-tier.js';
import { reconciliationLines, reportFigures } from '../batch/batch-report.js';
import { formatUsd } from '../cost/usd.js';
import type { BatchHost } from '../batch/batch-hosts.js';
import type { PriceCatalogue } from '../cost/price-catalogue.js';
import { cheaperEquivalent } from '../cost/price-list.js';

/** Lines describing an enqueue. */
export function describeEnqueue(report: EnqueueReport, dryRun: boolean): string[] {
  const lines: string[] = [];
  const verb = dryRun ? 'would enqueue' : 'enqueued';
  lines.push(
    `Batch ${report.batchId}: read ${report.rowsRead} rows; ${verb} ${report.enqueued}` +
      (report.alreadyEnqueued > 0
        ? `; ${report.alreadyEnqueued} already enqueued (nothing added for them)`
        : '') +
      `; ${report.rejected} rejected.`,
  );
  const estimateTiers = RESOLUTION_TIERS.filter((tier) => report.estimate.byTier[tier].images > 0)
    .map(
      (tier) =>
        `${tier} ${report.estimate.byTier[tier].images} images ${formatUsd(report.estimate.byTier[tier].cost_usd)}`,
    )
    .join(', ');
  if (report.enqueued > 0) {
    lines.push(
      `Estimated cost of the rows ${verb}: ${formatUsd(report.estimate.costUsd)} (${estimateTiers}).`,
    );
    if (report.estimate.reusedRows > 0)
      lines.push(
        `${report.estimate.reusedRows} rows reuse an earlier output of the same request under the output root: free.`,
      );
  }
  const unpriced = unpricedLine(report.estimate);
  if (unpriced !== undefined) lines.push(unpriced);
  const batchLine = batchDeliveryLine(report.estimate);
  if (batchLine !== undefined) lines.push(batchLine);
  const waiting = report.waitingInManifests;
  if (waiting !== undefined && waiting.rows > 0)
    lines.push(
      `${waiting.rows} of them wait in the manifest (window ${waiting.window} rows in Redis at once); ` +
        'workers add them from the manifest cursor as rows finish.',
    );
  if (report.canary?.state === 'awaiting')
    lines.push(
      `Canary: ${report.canary.rows} rows run first (stratified across provider × size × quality × mode); ` +
        `${report.canary.held} rows held until \`image-batch approve ${report.batchId}\`.`,
    );
  if (report.rejected > 0) {
    for (const reject of report.rejectSamples) {
      const where = reject.line > 0 ? `${reject.manifest}:${reject.line}` : reject.manifest;
      lines.push(
        `  rejected ${where}${reject.field === null ? '' : ` [${reject.field}]`}: ${reject.message}`,
      );
    }
    if (report.rejected > report.rejectSamples.length) {
      lines.push(`  … and ${report.rejected - report.rejectSamples.length} more`);
    }
    if (!dryRun)
      lines.push(`  Every rejected row is in ${fileLocation(report.batchDirectory, 'rejects.jsonl')}`);
  }
  for (const warning of report.warnings) lines.push(`Warning: ${warning}`);
  return lines;
}

/**
 * Lines of a cost estimate: a table by provider and resolution tier, the rows it could not price, and — given the
 * catalogue — hints where a size with at least as many pixels costs less at the same quality.
 */
export function describeEstimate(report: EnqueueReport, catalogue?: PriceCatalogue): string[] {
  const { estimate } = report;
  const lines = [
    `Estimate for ${report.rowsRead} rows read (${report.enqueued} priced, ${report.rejected} could not be priced):`,
  ];
  const header = `  ${'provider'.padEnd(10)} ${'tier'.padEnd(16)} ${'images'.padStart(7)} ${'USD'.padStart(10)}`;
  lines.push(header, `  ${'-'.repeat(header.length - 2)}`);
  for (const [provider, byTier] of Object.entries(estimate.byProvider)) {
    for (const tier of RESOLUTION_TIERS) {
      const entry = byTier[tier];
      if (entry.images === 0) continue;
      lines.push(
        `  ${provider.padEnd(10)} ${tier.padEnd(16)} ${String(entry.images).padStart(7)} ${formatUsd(entry.cost_usd).padStart(10)}`,
      );
    }
  }
  for (const tier of RESOLUTION_TIERS) {
    const entry = estimate.byTier[tier];
    lines.push(
      `  ${'all'.padEnd(10)} ${tier.padEnd(16)} ${String(entry.images).padStart(7)} ${formatUsd(entry.cost_usd).padStart(10)}`,
    );
  }
  lines.push(
    `  ${'total'.padEnd(27)} ${String(RESOLUTION_TIERS.reduce((sum, tier) => sum + estimate.byTier[tier].images, 0)).padStart(7)} ${formatUsd(estimate.costUsd).padStart(10)}`,
  );
  if (estimate.estimatedRows > 0) {
    lines.push(
      `  ${estimate.estimatedRows} rows are estimates: their provider publishes no price, or their input images' tokens are counted at the most an input can cost (docs/cost.md).`,
    );
  }
  if (estimate.overriddenRows > 0)
    lines.push(`  ${estimate.overriddenRows} rows are priced from your pricing file.`);
  const unpriced = unpricedLine(estimate);
  if (unpriced !== undefined) lines.push(unpriced);
  for (const reject of report.rejectSamples) {
    const where = reject.line > 0 ? `${reject.manifest}:${reject.line}` : reject.manifest;
    lines.push(
      `  not priced ${where}${reject.field === null ? '' : ` [${reject.field}]`}: ${reject.message}`,
    );
  }
  if (report.rejected > report.rejectSamples.length)
    lines.push(`  … and ${report.rejected - report.rejectSamples.length} more not priced`);
  if (catalogue !== undefined) lines.push(...cheaperHintLines(report, catalogue));
  const batchLine = batchDeliveryLine(report.estimate);
  if (batchLine !== undefined) lines.push(batchLine);
  const routedLine = routedRowsLine(report.estimate);
  if (routedLine !== undefined) lines.push(routedLine);
  return lines;
}

/**
 * What the plan of the rows with several candidate hosts saves (each on its cheapest host, as `--route cheapest`
 * sends it when that host can start it): against the most expensive single host that could take them all (else each
 * row's most expensive candidate), and against pinning every row to the first host it names. Undefined when no row
 * has several.
 */
function routedRowsLine(estimate: EnqueueReport['estimate']): string | undefined {
  const { rows, costUsd, mostExpensiveUsd, firstNamedUsd, fastestRows, byHost } = estimate.routed;
  if (rows === 0) return undefined;
  const single = Object.entries(byHost)
    .filter(([, host]) => host.rows === rows && Number.isFinite(host.usd))
    .sort(([, a], [, b]) => b.usd - a.usd)[0];
  const saving = (otherUsd: number, what: string) =>
    otherUsd >= costUsd
      ? `saves ${formatUsd(otherUsd - costUsd)} against ${what}`
      : `costs ${formatUsd(costUsd - otherUsd)} more than ${what}`;
  const against =
    single === undefined
      ? saving(mostExpensiveUsd, "each row's most expensive host")
      : saving(single[1].usd, `all on ${single[0]} (the most expensive single host)`);
  const planned =
    fastestRows === 0
      ? 'on the cheapest of each'
      : `as planned (${fastestRows} routed fastest, at most their dearest host)`;
  return (
    `  ${rows} rows have several candidate hosts: ${formatUsd(costUsd)} ${planned} — ${against}; ` +
    `${saving(firstNamedUsd, 'the first host each names')}.`
  );
}

/** Lines of a batch's counts, and its cost: estimate vs actual by provider × resolution tier. */
export function describeStatus(status: BatchStatus): string[] {
  const lines = [
    `Batch ${status.batchId}: ${status.rows} rows enqueued — ${status.completed} completed, ${status.failed} failed, ` +
      `${status.pending} pending; ${status.rejected} rejected.`,
    `Cost: ${formatUsd(status.costUsdTotal)} estimated; spent against the budget ${formatUsd(status.spentUsd)} (actual where reported).`,
    ...reconciliationLines(reportFigures(status)),
  ];
  if (status.inManifests !== undefined && status.inManifests.rows > 0)
    lines.push(
      `Of the pending rows, ${status.inManifests.rows} wait in the manifest (window ${status.inManifests.window} ` +
        'rows in Redis at once): workers add them as rows finish.',
    );
  if (status.canary?.state === 'awaiting')
    lines.push(
      `Canary: ${status.canary.completed + status.canary.failed} of ${status.canary.rowKeys.length} rows finished; ` +
        `${status.canary.held} rows held until \`image-batch approve ${status.batchId}\`.`,
    );
  if (status.finishBy !== undefined) lines.push(finishByLine(status.finishBy));
  const { level, weight } = status.priority;
  lines.push(`Priority: ${levelName(level)} (${level} of 1 first … 9 last), weight ${weight}.`);
  lines.push(`Output: ${outputStoreFor(status.outputDirectory).batchLocation(status.batchId)}`);
  return lines;
}

/** What the rows sent through OpenAI's Batch API save against realtime, or undefined when there are none. */
function batchDeliveryLine(estimate: EnqueueReport['estimate']): string | undefined {
  const { rows, costUsd, realtimeUsd } = estimate.batchDelivery;
  if (rows === 0) return undefined;
  return (
    `  ${rows} rows go through OpenAI's Batch API (results within 24 h): ${formatUsd(costUsd)} instead of ` +
    `${formatUsd(realtimeUsd)} realtime — saves ${formatUsd(realtimeUsd - costUsd)}.`
  );
}

/** "Hint: …" lines, one per row group that a cheaper size with at least as many pixels could serve. */
function cheaperHintLines(report: EnqueueReport, catalogue: PriceCatalogue): string[] {
  const lines: string[] = [];
  for (const group of Object.values(report.estimate.rowGroups)) {
    const cheaper = cheaperEquivalent(catalogue, group.provider, group);
    if (cheaper === undefined) continue;
    const saving = (cheaper.currentUsdPerImage - cheaper.usdPerImage) * group.images;
    lines.push(
      `  Hint: ${group.provider} ${group.resolution} ${group.quality} (${group.rows} rows, ${formatUsd(cheaper.currentUsdPerImage)} an image): ` +
        `${cheaper.resolution} ${group.quality} has at least as many pixels for ${formatUsd(cheaper.usdPerImage)} an image ` +
        `(saves ${formatUsd(saving)}; crop or resize to ${group.resolution} afterwards).`,
    );
  }
  return lines;
}

/** "N rows are unpriced …" with the reasons, or undefined when every row is priced. */
function unpricedLine(estimate: EnqueueReport['estimate']): string | undefined {
  if (estimate.unpricedRows === 0) return undefined;
  return `  ${estimate.unpricedRows} rows are unpriced (not in the sums above): ${estimate.unpricedReasons.join('; ')}.`;
}

/** Why a run ended before its batch finished, and what to do about it (nothing when it finished). */
export function endOfRunLines(outcome: BatchRunOutcome, batchId: string): string[] {
  const { status } = outcome;
  const lines: string[] = [];
  if (status.state === 'budget_reached' && status.pending > 0)
    lines.push(
      `Budget reached: ${formatUsd(status.spentUsd)} spent of the ${formatUsd(status.budgetUsd ?? 0)} cap; ` +
        `${status.pending} rows held back (not paid for).`,
      `  Raise the cap with \`image-batch budget ${batchId} <usd>\` and run the same command again.`,
    );
  for (const paused of outcome.pausedProviders) {
    const [name] = paused.split(':');
    lines.push(
      `Host stopped: ${paused}`,
      status.pending === 0
        ? `  Rows with other candidate hosts went to them. Fix the account, then \`image-batch resume ${name}\`.`
        : `  Its rows stay queued. Fix the account, then \`image-batch resume ${name}\` and run the same command again.`,
    );
  }
  if (outcome.pausedReason !== undefined)
    lines.push(
      `Batch paused: ${outcome.pausedReason}.`,
      `  ${status.pending} rows pending; rows already paid are kept and stored without calling the host again. Make ` +
        `room (or wait for the storage to answer), then \`image-batch resume --batch ${batchId}\` and run the same ` +
        'command again.',
    );
  if (outcome.awaitingApproval)
    lines.push(`Batch ${batchId} waits for its canary to be approved: \`image-batch approve ${batchId}\`.`);
  if (outcome.interrupted)
    lines.push(`Interrupted: ${status.pending} rows still pending. Run the same command again to continue.`);
  return lines;
}

/** Lines of the hosts of a batch for `status`: what each did, and why any is set aside. */
export function describeHosts(hosts: readonly BatchHost[]): string[] {
  if (hosts.length === 0) return [];
  return [
    'Hosts (routed rows handed to each, images made, their cost):',
    ...hosts.map(
      (host) =>
        `  ${host.provider.padEnd(10)} ${String(host.routedRows).padStart(5)} routed ${String(host.images).padStart(6)} images ` +
        `${formatUsd(host.costUsd).padStart(10)}${host.setAside === undefined ? '' : `  — set aside: ${host.setAside}`}`,
    ),
  ];
}

/** The line of `status` saying how many workers the queued work could use (src/batch/autoscaling.ts). */
export function describeAutoscaling(signal: AutoscalingSignal): string {
  const held = signal.hosts.filter((host) => host.heldBy !== undefined);
  const heldText =
    held.length === 0 ? '' : `; held back: ${held.map((host) => `${host.host} (${host.heldBy})`).join(', ')}`;
  return (
    `Workers: ${signal.workers} running, the queued work could use ${signal.wantedWorkers}` +
    `${signal.moreWorkers > 0 ? ` (${signal.moreWorkers} more)` : ''}${heldText}.`
  );
}

/** What `enqueue` and `run` say of a finish-by time: when the batch would finish, and whether that is in time. */
export function describeFinishPlan(plan: FinishByPlan | undefined): string[] {
  if (plan === undefined) return [];
  const at = new Date(plan.at).toISOString();
  const unlimited =
    plan.unlimited.length === 0
      ? ''
      : ` (${plan.unlimited.join(', ')} ${plan.unlimited.length === 1 ? 'has' : 'have'} no rate limit configured: counted as no bottleneck)`;
  if (plan.expectedAt === undefined) return [`Finish by ${at}: no rate limit to plan with${unlimited}.`];
  const expected = new Date(plan.expectedAt).toISOString();
  return plan.meets
    ? [
        `Finish by ${at}: can be met — at the configured rate limits it finishes about ${expected}${unlimited}.`,
      ]
    : [
        `Finish by ${at}: will be missed — at the configured rate limits it finishes about ${expected}${unlimited}. ` +
          'Raise its priority (`image-batch priority`), add hosts or accounts, or move the time.',
      ];
}

/** The status line of a batch's finish-by time. */
function finishByLine(finishBy: FinishByStatus): string {
  const forecast = finishBy.expectedAt ?? finishBy.plannedAt;
  const when = forecast === undefined ? '' : `; expected to finish about ${forecast}`;
  return `Finish by ${finishBy.at}: ${finishBy.late ? 'LATE' : 'on time'}${when}.`;
}
