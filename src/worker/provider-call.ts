/**
 * The paid call: submit the row once, or follow the request an earlier attempt saved in the job (so a crashed or
 * retried job resumes instead of paying again); an accepted asynchronous request is handed to a collection job that
 * waits for it without a worker slot (./collection.ts).
 *
 * A submission is marked in the job (`submissionStartedAt`) before it is sent and unmarked once its answer is known;
 * a job that finds the mark set on start, or a submission that was sent and got no answer (a timeout, a dropped
 * connection), ends as an uncertain outcome: no provider offers an idempotency key, so it is never sent again on a
 * guess — synchronous or not.
 */
import type { ProviderResponse, SubmitResult } from '../providers/provider.js';
import { DelayedError } from 'bullmq';
import { inSpan, SpanKind } from '../shared/tracing.js';
import { ProviderError } from '../shared/errors.js';
import type { StoredOutput } from '../shared/job-definitions.js';
import { madeInParts, obtainInParts } from './calls-in-parts.js';
import { truncateForLog } from '../shared/logger.js';
import { collect, handOff, isCollection } from './collection.js';
import { withoutSubmissionMarker } from './job-run.js';
import { UncertainOutcomeError } from './error-policy.js';
import { withStartBy } from './start-deadline.js';
import { heldResponseOf } from './storage-hold.js';
import type { ImageJobResult, JobRun } from './job-run.js';

/** What the paid call gave: the provider's response, or a request handed off to its collection job (./collection.ts). */
export type CallOutcome =
  | { kind: 'response'; response: ProviderResponse; stored?: StoredOutput[] }
  | { kind: 'handed-off'; result: ImageJobResult };

/**
 * No Redis replica confirmed the row's "sent" mark in time (./durability.ts): the call is not sent — the mark is
 * taken back, the budget reservation given back, and the job waits, without using an attempt.
 * @throws DelayedError always.
 */
async function notSentForDurability(run: JobRun): Promise<never> {
  const { data, deps, job, log } = run;
  await job.updateData(withoutSubmissionMarker(data));
  await deps.store.budget.release(data.batchId, data.rowKey);
  log.warn('no Redis replica confirmed the row\'s "sent" mark in time; not sending it yet');
  await job.moveToDelayed(Date.now() + Math.min(deps.budgetRecheckMs, 1000), run.token);
  throw new DelayedError('waiting for a Redis replica before a paid call');
}

/**
 * The provider's answer for the run's row: from the saved request (a collection job, or a submission job run again
 * after a crash, which hands it off), or from a new submission — synchronous, or accepted and handed off.
 * @throws UncertainOutcomeError when a submission may have been made without its answer being recorded; the
 *   provider's errors otherwise; DelayedError when a collection job's request is still running (parked again).
 */
export async function obtainResponse(run: JobRun): Promise<CallOutcome> {
  const { data, job, log } = run;
  // Paid and held for a full disk (./storage-hold.ts): stored from what the host gave, not asked again.
  if (data.heldResponse !== undefined)
    return {
      kind: 'response',
      response: heldResponseOf(data.heldResponse),
      stored: data.heldResponse.stored,
    };
  if (data.providerRequest !== undefined) {
    if (!isCollection(run)) {
      log.info(
        { requestId: data.providerRequest.requestIds.join(',') },
        'the saved provider request is handed off again; not submitting again',
      );
      return { kind: 'handed-off', result: await handOff(run, data.providerRequest) };
    }
    return { kind: 'response', response: await collect(run, data.providerRequest) };
  }
  // Several synchronous calls, each stored as it returns (./calls-in-parts.ts).
  if (madeInParts(run)) return { kind: 'response', ...(await obtainInParts(run)) };
  if (data.submissionStartedAt !== undefined) {
    throw new UncertainOutcomeError(
      `an earlier attempt sent this row to ${run.host} at ${data.submissionStartedAt} and stopped before ` +
        'the answer was recorded; it may have been billed, so it is not sent again',
    );
  }
  await job.updateData({ ...data, submissionStartedAt: new Date().toISOString() });
  if (run.deps.durability !== undefined && !(await run.deps.durability.confirm()))
    return notSentForDurability(run);
  log.debug({ prompt: truncateForLog(data.prompt), operation: data.operation }, 'submitting');
  let submitted: SubmitResult;
  try {
    submitted = await tracedSubmit(run);
  } catch (error) {
    // Sent, then no answer: the provider may have made — and billed — it, synchronous or not.
    if (error instanceof ProviderError && error.withoutAnswer) {
      throw new UncertainOutcomeError(
        `${error.message}; the submission may have been accepted and billed, so it is not sent again`,
      );
    }
    await job.updateData(withoutSubmissionMarker(data));
    throw error;
  }
  if (submitted.kind === 'completed') return { kind: 'response', response: submitted.response };
  const sent = withStartBy(submitted.request, run.context);
  const withAccount = data.account === undefined ? sent : { ...sent, account: data.account };
  const request = run.context.webhookUrl === undefined ? withAccount : { ...withAccount, webhook: true };
  await job.updateData({ ...withoutSubmissionMarker(data), providerRequest: request });
  // The accepted request's id on a replica too, where there is one (./durability.ts): best effort, it is paid already.
  if (run.deps.durability !== undefined && !(await run.deps.durability.confirm()))
    log.warn('no Redis replica confirmed the saved request id in time');
  log.info(
    { requestId: request.requestIds.join(','), webhook: request.webhook === true },
    'provider accepted the request',
  );
  return { kind: 'handed-off', result: await handOff(run, request) };
}

/**
 * The submission in a GenAI client span (OpenTelemetry GenAI conventions: named `<operation> <model>`); its HTTP calls
 * are child spans (src/providers/http.ts).
 */
function tracedSubmit(run: JobRun): Promise<SubmitResult> {
  const { data } = run;
  const attributes = {
    'gen_ai.operation.name': 'generate_content',
    'gen_ai.provider.name': data.provider,
    'gen_ai.request.model': run.base.model,
    'image_batch.operation': data.operation,
    'image_batch.images_requested': data.numImages,
    'image_batch.resolution': data.resolution,
  };
  const options = { kind: SpanKind.CLIENT, attributes, parent: run.context.trace };
  return inSpan(`generate_content ${run.base.model}`, options, async (span, trace) => {
    const submitted = await run.provider.submit(data, { ...run.context, trace });
    if (submitted.kind === 'completed') span.setAttributes(responseAttributes(submitted.response));
    else span.setAttribute('gen_ai.response.id', submitted.request.requestIds.join(','));
    return submitted;
  });
}

/** A response's GenAI attributes: its id, model and token usage where the host reported it. */
export function responseAttributes(response: ProviderResponse): Record<string, string | number> {
  const usage = response.usage ?? {};
  const tokens = (name: string) =>
    typeof usage[name] === 'number' ? { [`gen_ai.usage.${name}`]: usage[name] } : {};
  return {
    'gen_ai.response.model': response.model,
    'image_batch.images': response.images.length,
    ...(response.requestId === undefined ? {} : { 'gen_ai.response.id': response.requestId }),
    ...tokens('input_tokens'),
    ...tokens('output_tokens'),
  };
}
