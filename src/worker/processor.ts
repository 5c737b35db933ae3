/**
 * The job processor: one manifest row per job, as named steps (in the manner of graphile-worker's `runJob` and bullmq's
 * `processJob` → `handleCompleted`/`handleFailed`), each in its own module:
 *
 * 1. start the run: the job's provider, output root, price quote, scoped logger (./job-run.ts);
 * 2. admit: already finished? a Retry-After running? the batch paused, or holding the row for its canary? the
 *    estimate within the budget cap? — one Lua
 *    script, which reserves the estimate (./admission.ts);
 * 3. submit once, or resume the saved request (./provider-call.ts); an accepted asynchronous request is handed to a
 *    collection job, which waits for it parked, without a worker slot, and goes on from here (./collection.ts);
 * 4. store the outputs and record the row completed (./settlement.ts) — or carry out the error policy's decision
 *    (./error-policy.ts, ./settlement.ts).
 */
import { storageProblem } from '../batch/storage-pause.js';
import { completeFromEarlierOutput } from './reuse.js';
import { DelayedError, RateLimitError, Worker, type Job } from 'bullmq';
import { hostOfJob } from '../shared/hosts.js';
import { inSpan, rowContext, SpanKind } from '../shared/tracing.js';
import { holdUntilApproved } from '../batch/canary.js';
import { flushPendingResultLines } from '../batch/row-outcome.js';
import type { ImageJobData } from '../shared/job-definitions.js';
import { batchKeys } from '../shared/keys.js';
import { admit } from './admission.js';
import {
  BatchFacts,
  startRun,
  type ImageJobResult,
  type JobRun,
  type ProcessorDependencies,
} from './job-run.js';
import { obtainResponse } from './provider-call.js';
import { completeRow, settleError } from './settlement.js';
import { sendBackToRoute } from './router.js';

export type { ImageJobResult, ProcessorDependencies } from './job-run.js';
import type { AttemptHandles } from './job-run.js';

/** Build the BullMQ processor function. */
export function createProcessor(dependencies: ProcessorDependencies) {
  const facts = new BatchFacts(dependencies.store);
  return async function processImageJob(
    job: Job<ImageJobData>,
    token?: string,
    signal?: AbortSignal,
  ): Promise<ImageJobResult> {
    // One span per attempt, in the row's trace (src/shared/tracing.ts).
    return inSpan(
      'image_batch.attempt',
      {
        parent: rowContext(job.data.traceparent),
        kind: SpanKind.CONSUMER,
        attributes: {
          'image_batch.batch_id': job.data.batchId,
          'image_batch.row_key': job.data.rowKey,
          'image_batch.host': hostOfJob(job.data),
          'image_batch.attempt': job.attemptsMade + 1,
          'image_batch.job': job.data.providerRequest === undefined ? 'submission' : 'collection',
          'messaging.system': 'bullmq',
          'messaging.destination.name': job.queueName,
        },
        expected: (error) => error instanceof DelayedError || error instanceof RateLimitError,
      },
      async (span, trace) => {
        const result = await runAttempt(dependencies, facts, job, { token, signal, trace });
        span.setAttributes({ 'image_batch.outcome': result.status, 'image_batch.cost_usd': result.costUsd });
        return result;
      },
    );
  };
}

/** One attempt of a row's job: admission, the paid call (or its saved request), then the outcome. */
async function runAttempt(
  dependencies: ProcessorDependencies,
  facts: BatchFacts,
  job: Job<ImageJobData>,
  attempt: AttemptHandles,
): Promise<ImageJobResult> {
  const run = await startRun(dependencies, facts, job, attempt);
  // A paid row held for a full disk waits for its batch to be resumed (./storage-hold.ts).
  if (run.data.heldResponse !== undefined && (await dependencies.store.isPaused(run.data.batchId)))
    return holdBack(run, 'batch paused: its output storage was full');
  let reused: ImageJobResult | undefined;
  try {
    reused = await completeFromEarlierOutput(run);
  } catch (error) {
    // S3 unavailable while copying: wait without using an attempt rather than pay a host for what can be copied.
    if (storageProblem(error) !== undefined) return holdBack(run, 'output storage unavailable: reuse waits');
    throw error;
  }
  if (reused !== undefined) return reused;
  const admission = await admit(run);
  switch (admission.kind) {
    case 'finished':
      return alreadyFinished(run);
    case 'wait':
      // A job taken just before another worker's 429 paused the queue must not send while the Retry-After runs.
      await dependencies.queueFor(run.host).rateLimit(admission.ms);
      throw Worker.RateLimitError();
    case 'paused':
      return holdBack(run, 'batch paused');
    case 'canary':
      return holdUntilApproved(run.deps.store.canary, run.job, run.token);
    case 'budget':
      run.log.info({ estimateUsd: run.quote.usd }, 'budget cap reached; holding the row back');
      return holdBack(run, 'budget reached');
    case 'moved':
      return leftBehind(run);
    case 'collecting':
      run.log.info("a collection job follows this row's accepted request; nothing is sent again");
      return { status: 'submitted', outputs: [], costUsd: 0 };
    case 'share':
      return leaveForShare(run, admission.reason);
    case 'go':
      break;
  }
  try {
    const outcome = await obtainResponse(run);
    if (outcome.kind === 'handed-off') return outcome.result;
    return await completeRow(run, outcome.response, outcome.stored);
  } catch (error) {
    return settleError(run, error);
  }
}

/** The row's outcome is recorded: a worker that died after recording it may not have written the line; write it. */
async function alreadyFinished(run: JobRun): Promise<ImageJobResult> {
  const { deps, data, log } = run;
  // A collection job woken after its row was settled elsewhere leaves nothing parked (or marked collecting) behind.
  if (data.providerRequest !== undefined) {
    await deps.parked.unpark(run.host, run.job.id!, data.providerRequest.requestIds);
    await deps.redis.hdel(batchKeys(deps.queuePrefix, data.batchId).collecting, data.rowKey);
  }
  const written = await flushPendingResultLines(
    deps.store,
    data.batchId,
    run.outputRoot,
    deps.lockDurationMs,
  );
  if (written > 0) log.warn({ written }, 'wrote results lines a stopped worker had recorded');
  log.info('row already finished; nothing to do');
  return { status: 'already-finished', outputs: [], costUsd: 0 };
}

/**
 * A job left on a host that no longer holds its routed row (moved to another host, or given up before a crash): it
 * sends nothing; the row's routing job is made sure of (added once, ./router.ts) in case a crash came in between.
 */
async function leftBehind(run: JobRun): Promise<ImageJobResult> {
  const { data, deps, log } = run;
  if (deps.routeBack !== undefined)
    await sendBackToRoute(deps.routeBack, data, { provider: run.host, reason: 'moved to another host' });
  log.info('this host no longer holds the row; nothing sent');
  return { status: 'moved', outputs: [], costUsd: 0 };
}

/**
 * A routed row on an account past its share of the batch's budget cap, not sent: it goes to another candidate, or —
 * none left — waits like a row held by the cap (a higher cap lets the account take it).
 */
async function leaveForShare(run: JobRun, reason: string): Promise<ImageJobResult> {
  const { data, deps, log } = run;
  if (
    deps.routeBack !== undefined &&
    (await sendBackToRoute(deps.routeBack, data, { provider: run.host, reason }))
  ) {
    log.info({ reason }, 'account past its budget share; the row goes to another candidate');
    return { status: 'moved', outputs: [], costUsd: 0 };
  }
  return holdBack(run, reason);
}

/** Put the job back for a while without using an attempt (batch paused, budget cap reached). */
async function holdBack(run: JobRun, reason: string): Promise<never> {
  await run.job.moveToDelayed(Date.now() + run.deps.budgetRecheckMs, run.token);
  throw new DelayedError(reason);
}
