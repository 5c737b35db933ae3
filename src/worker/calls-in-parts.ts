/**
 * A synchronous row made in parts: a host whose blocking endpoint makes fewer images per call than the row asks for
 * (Oxen.ai's `images/generate` and `images/edit` without `num_images`) gets one call per part, one after another.
 * Each part's images are stored the moment its call returns and saved in the job (`partialOutputs`,
 * `partialRequestIds`) with the part's "sent" mark cleared, so a job restarted after a crash goes on from the next
 * part and never pays for a stored one again. A part sent without its answer recorded ends the row as an uncertain
 * outcome (it may have been billed), as a single call would.
 */
import type { ProviderResponse } from '../providers/provider.js';
import { ProviderError } from '../shared/errors.js';
import type { StoredOutput } from '../shared/job-definitions.js';
import { UncertainOutcomeError } from './error-policy.js';
import { withoutSubmissionMarker, type JobRun } from './job-run.js';
import { storeRowImage } from './settlement.js';

/** Whether the run's row is made in several synchronous calls. */
export function madeInParts(run: JobRun): boolean {
  const perCall = run.provider.imagesPerCall?.(run.data);
  return !run.provider.asynchronous && perCall !== undefined && perCall < run.data.numImages;
}

/**
 * Make the row's images part by part, from the first one not stored yet.
 * @returns a response without images (they are stored) and the stored images, in order.
 * @throws UncertainOutcomeError when a part was sent and its answer not recorded; the provider's errors otherwise
 *   (the parts stored so far stay saved for the next attempt).
 */
export async function obtainInParts(
  run: JobRun,
): Promise<{ response: ProviderResponse; stored: StoredOutput[] }> {
  const { job, log } = run;
  const perCall = Math.max(1, run.provider.imagesPerCall!(run.data));
  const stored = [...(job.data.partialOutputs ?? [])];
  const requestIds = [...(job.data.partialRequestIds ?? [])];
  let model = run.provider.modelFor(run.data);
  while (stored.length < run.data.numImages) {
    if (job.data.submissionStartedAt !== undefined) {
      throw new UncertainOutcomeError(
        `an earlier attempt sent image ${stored.length + 1} of ${run.data.numImages} of this row to ` +
          `${run.host} at ${job.data.submissionStartedAt} and stopped before the answer was recorded; it ` +
          `may have been billed, so it is not sent again (${stored.length} image(s) stored before it are kept)`,
      );
    }
    const images = Math.min(perCall, run.data.numImages - stored.length);
    await job.updateData({ ...job.data, submissionStartedAt: new Date().toISOString() });
    let response: ProviderResponse;
    try {
      const submitted = await run.provider.submit({ ...run.data, numImages: images }, run.context);
      if (submitted.kind !== 'completed')
        throw new Error('a part of a synchronous row was not answered at once');
      response = submitted.response;
    } catch (error) {
      if (error instanceof ProviderError && error.withoutAnswer)
        throw new UncertainOutcomeError(
          `${error.message}; image ${stored.length + 1} of this row may have been made and billed, so it is not sent again`,
        );
      await job.updateData(withoutSubmissionMarker(job.data));
      throw error;
    }
    model = response.model;
    for (const image of response.images)
      stored.push(await storeRowImage(run, image, stored.length, run.data.numImages));
    if (response.requestId !== undefined) requestIds.push(response.requestId);
    await job.updateData({
      ...withoutSubmissionMarker(job.data),
      partialOutputs: stored,
      partialRequestIds: requestIds,
    });
    log.info({ stored: stored.length, of: run.data.numImages }, 'stored one part of the row');
  }
  return {
    response: { images: [], model, ...(requestIds.length === 0 ? {} : { requestId: requestIds.join(',') }) },
    stored,
  };
}
