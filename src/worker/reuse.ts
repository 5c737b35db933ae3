/**
 * Reuse (issue 31): a row asking for it (`--reuse`, manifest `reuse: true`) whose request was completed before under the
 * same output root gets copies of those images — hard links where the store allows — and a results line saying
 * `reused_from`, at cost 0, without calling any host. A row not found goes on to its host as usual.
 */
import { DIGEST_LENGTH } from '../batch/reuse-index.js';
import { inputDigestsOf, reuseKey } from '../batch/reuse-key.js';
import { completedLine } from '../batch/results-line.js';
import { recordRowOutcome } from '../batch/row-outcome.js';
import type { StoredOutput } from '../shared/job-definitions.js';
import { safeFileStem } from '../shared/keys.js';
import { outputImagePath } from '../storage/output-layout.js';
import { describeStoredImage } from '../storage/store-image.js';
import { outputStoreFor } from '../storage/stores.js';
import type { ImageJobResult, JobRun } from './job-run.js';

/** Largest input fetched to learn its content digest, bytes (the size providers take at most). */
const MAX_INPUT_BYTES = 50 * 1024 * 1024;

/**
 * The row's reuse key (src/batch/reuse-key.ts). Inputs at URLs are fetched for it only when the row asks for reuse.
 * @returns undefined when it cannot be known (an input unreadable, or at a URL in a row not asking for reuse).
 */
export async function reuseKeyOfRun(run: JobRun): Promise<string | undefined> {
  const { data, deps, timing } = run;
  try {
    const fetch =
      data.reuse === true
        ? { maxBytes: MAX_INPUT_BYTES, timeoutMs: timing.timeoutMs, allowedHosts: deps.allowedPrivateHosts }
        : undefined;
    const digests = await inputDigestsOf(data, fetch);
    return digests === undefined ? undefined : reuseKey(data, digests);
  } catch (error) {
    run.log.warn({ reason: (error as Error).message }, 'reuse key not known: an input could not be read');
    return undefined;
  }
}

/**
 * Complete the row with copies of an earlier output of the same request, when there is one under its output root.
 * Called before admission: nothing is reserved or sent for a reused row. @returns undefined when there is none (or
 * its images are gone: the index forgets it), and the row goes to its host.
 */
export async function completeFromEarlierOutput(run: JobRun): Promise<ImageJobResult | undefined> {
  const { data, deps, log } = run;
  if (data.reuse !== true || data.providerRequest !== undefined || data.submissionStartedAt !== undefined)
    return undefined;
  // A paused batch does nothing, copies included: admission holds the row back.
  if (await deps.store.isPaused(data.batchId)) return undefined;
  const key = await reuseKeyOfRun(run);
  if (key === undefined) return undefined;
  const store = outputStoreFor(run.outputRoot);
  const source = await deps.store.reuse.lookup(store, key);
  if (source === undefined) return undefined;
  if (source.batch === safeFileStem(data.batchId) && source.rowKey === data.rowKey) return undefined;
  // A job run again after its row was recorded (a crash before the job ended): its images stay as they are.
  if ((await deps.store.outcome(data.batchId, data.rowKey)) !== undefined) return undefined;
  const outputs: StoredOutput[] = [];
  for (const [index, sourcePath] of source.paths.entries()) {
    const relativePath = outputImagePath(data.rowKey, index, source.paths.length, data.outputFormat);
    const copied = await store.copyImage(source.batch, sourcePath, data.batchId, relativePath);
    const output = copied
      ? await describeStoredImage(
          store,
          data.batchId,
          relativePath,
          data.outputFormat,
          deps.c2paTrustAnchorsPath,
        )
      : undefined;
    if (output === undefined || output.sha256.slice(0, DIGEST_LENGTH) !== source.digests[index]) {
      log.warn({ from: source }, 'the earlier output to reuse is gone or changed; the row goes to its host');
      await deps.store.reuse.forget(store.root, key);
      return undefined;
    }
    outputs.push(output);
  }
  const line = completedLine(run.base, {
    model: run.base.model,
    outputs,
    requestId: null,
    costUsd: 0,
    actualUsd: undefined,
    usage: undefined,
    reuseKey: key,
    reusedFrom: { batch: source.batch, row_key: source.rowKey },
  });
  await recordRowOutcome(deps.store, data, line, run.outputRoot, { spentUsd: 0 });
  deps.metrics.rows.inc({ provider: run.host, status: 'completed' });
  log.info({ from: source }, 'row completed with copies of an earlier output (nothing paid)');
  return { status: 'completed', outputs, costUsd: 0 };
}
