/**
 * A full disk under `--out` (issue 26). Before a paid call, a row whose images may not fit in the room left under its
 * output root is not sent: its batch is paused with the reason (admission, ./admission.ts). A row already paid whose
 * images cannot be written (ENOSPC, EDQUOT, EFBIG) keeps the host's answer in its job — the images' URLs while the
 * host keeps them, or their bytes — and its batch is paused; once the batch is resumed (`image-batch resume --batch`,
 * the dashboard's Resume) the row is stored from it, without calling the host again.
 */
import { DelayedError } from 'bullmq';
import type { ProviderResponse } from '../providers/provider.js';
import type { HeldResponse, ImageJobData, StoredOutput } from '../shared/job-definitions.js';
import { freeBytes, worstCaseBytes } from '../storage/free-space.js';
import type { JobRun } from './job-run.js';

const MIB = 1024 * 1024;

/**
 * Why the run's row must not be paid for now — its output root has less room than the row may need — or undefined.
 * `minFreeBytes`: the room required (undefined: the row's worst case; 0: not checked).
 */
export async function roomProblem(
  run: JobRun,
  minFreeBytes: number | undefined,
): Promise<string | undefined> {
  if (minFreeBytes === 0) return undefined;
  const free = await freeBytes(run.outputRoot);
  const needed = minFreeBytes ?? worstCaseBytes(run.data);
  if (free === undefined || free >= needed) return undefined;
  return (
    `the output storage is full: ${(free / MIB).toFixed(1)} MiB free under ${run.outputRoot}, and a row may need ` +
    `${(needed / MIB).toFixed(1)} MiB (IMAGE_BATCH_MIN_FREE_BYTES); free space, then resume the batch`
  );
}

/**
 * Keep `response` (paid, not stored: `problem` says why, ../batch/storage-pause.ts) in the run's job, pause its batch
 * with the reason and hold the job until the batch is resumed. @throws DelayedError (the job waits; no attempt used).
 */
export async function holdForStorage(
  run: JobRun,
  response: ProviderResponse,
  stored: readonly StoredOutput[],
  problem: string,
): Promise<never> {
  const { data, deps, job, log } = run;
  const held: HeldResponse = {
    images: response.images,
    model: response.model,
    stored: [...stored],
    ...(response.requestId === undefined ? {} : { requestId: response.requestId }),
    ...(response.usage === undefined ? {} : { usage: response.usage }),
  };
  await job.updateData({ ...data, heldResponse: held });
  const reason =
    `${problem} writing under ${run.outputRoot}: paid rows are held with their images' sources; make room (or ` +
    'wait for the storage), then resume the batch';
  await deps.store.setPaused(data.batchId, true, reason);
  log.error(
    { problem, outputRoot: run.outputRoot },
    'output storage: the paid row is held and its batch paused',
  );
  await job.moveToDelayed(Date.now() + deps.budgetRecheckMs, run.token);
  throw new DelayedError('held until the output storage has room');
}

/** The held answer of `data` as a provider response, to be stored now. */
export function heldResponseOf(held: HeldResponse): ProviderResponse {
  return {
    images: held.images,
    model: held.model,
    ...(held.requestId === undefined ? {} : { requestId: held.requestId }),
    ...(held.usage === undefined ? {} : { usage: held.usage }),
  };
}

/** `data` without its held answer (stored now: the bytes need not stay in Redis). */
export function withoutHeldResponse(data: ImageJobData): ImageJobData {
  const { heldResponse: _held, ...rest } = data;
  return rest;
}
