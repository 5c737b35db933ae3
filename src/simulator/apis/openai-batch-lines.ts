/**
 * One request line of a simulated OpenAI batch (./openai-batch.ts): checked as the Images API checks a request
 * (./openai-rules.ts), edit files read by `file_id` or `image_url`, images made, and the line OpenAI would write —
 * `{id, custom_id, response: {status_code, request_id, body}, error: null}`, errors under `response.body.error`
 * (openai/openai-openapi#302).
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { REFUSAL_MARKER, type SimulatorCore } from '../core.js';
import { fetchInputImage, parseJson } from '../http-helpers.js';
import { asRecord, ENDPOINTS, type BatchWorld, type SimulatedBatch } from './openai-batch-world.js';
import { checkEditFiles, openaiError, validate, type Failure } from './openai-rules.js';
import { imagesResponseBody } from './openai-usage.js';

/** One request line: its output line (`ok`) or its error line. */
export async function processLine(
  core: SimulatorCore,
  world: BatchWorld,
  batch: SimulatedBatch,
  text: string,
): Promise<{ ok: boolean; line: Record<string, unknown> }> {
  const input = asRecord(parseJson(text));
  const requestId = `req_${randomUUID().replace(/-/g, '')}`;
  const line = (status: number, body: unknown) => ({
    id: `batch_req_${randomUUID().replace(/-/g, '')}`,
    custom_id: input.custom_id ?? null,
    response: { status_code: status, request_id: requestId, body },
    error: null,
  });
  const failed = (failure: Failure) => ({ ok: false, line: line(failure.status, failure.body) });
  if (input.method !== 'POST' || input.url !== batch.endpoint || typeof input.custom_id !== 'string')
    return failed(
      openaiError(400, `Each line must POST to ${batch.endpoint} with a custom_id.`, 'url', null),
    );
  const operation = ENDPOINTS[batch.endpoint];
  const fields = asRecord(input.body);
  const prompt = typeof fields.prompt === 'string' ? fields.prompt : '';
  core.submissionsByPrompt.set(prompt, (core.submissionsByPrompt.get(prompt) ?? 0) + 1);
  core.submissionsByProvider.set('openai', (core.submissionsByProvider.get('openai') ?? 0) + 1);
  // JSON edits name their files in `images` and `mask` (EditImageBodyJsonParam); the other fields are the usual ones.
  const { images: _images, mask: _mask, ...scalarFields } = fields;
  const ask = validate(scalarFields, operation);
  if ('status' in ask) return failed(ask);
  // A JSON edit's size is an enum (openai-openapi @f85dbe2 EditImageBodyJsonParam.size); whether the server enforces
  // it is not documented: the simulator's picture enforces the schema.
  const jsonEditSizes = ['auto', '1024x1024', '1536x1024', '1024x1536'];
  const size = fields.size === undefined ? undefined : JSON.stringify(fields.size).replace(/^"|"$/g, '');
  if (operation === 'edit' && size !== undefined && !jsonEditSizes.includes(size))
    return failed(
      openaiError(
        400,
        `Invalid value: '${size}'. Supported values are: ${jsonEditSizes.map((value) => `'${value}'`).join(', ')}.`,
        'size',
        'invalid_value',
      ),
    );
  let images: Buffer[] = [];
  let mask: Buffer | undefined;
  if (operation === 'edit') {
    const references = Array.isArray(fields.images) ? fields.images.map(asRecord) : [];
    const loaded = await Promise.all(references.map((reference) => loadReference(world, reference)));
    if (loaded.some((image) => image === undefined))
      return failed(
        openaiError(400, 'An image reference names no readable file or URL.', 'images', 'invalid_image'),
      );
    images = loaded as Buffer[];
    if (fields.mask !== undefined) {
      mask = await loadReference(world, asRecord(fields.mask));
      if (mask === undefined)
        return failed(openaiError(400, 'The mask names no readable file.', 'mask', 'invalid_image'));
    }
    const checked = await checkEditFiles(images, mask);
    if (checked !== undefined && 'status' in checked) return failed(checked);
    mask = checked;
  }
  if (REFUSAL_MARKER.test(prompt))
    return failed({
      status: 400,
      body: {
        error: {
          message: 'Your request was rejected by the safety system.',
          type: 'image_generation_user_error',
          param: null,
          code: 'moderation_blocked',
        },
      },
    });
  const made = await core.makeImages({ operation, prompt, inputs: images, mask, ...ask });
  const body = await imagesResponseBody({
    images: made.map((image) => image.bytes),
    inputs: images,
    prompt,
    ask,
  });
  return { ok: true, line: line(200, body) };
}

async function loadReference(
  world: BatchWorld,
  reference: Record<string, unknown>,
): Promise<Buffer | undefined> {
  if (typeof reference.file_id === 'string') {
    const file = world.files.get(reference.file_id);
    return file === undefined ? undefined : readFile(file.diskPath);
  }
  if (typeof reference.image_url === 'string')
    return fetchInputImage(reference.image_url).catch(() => undefined);
  return undefined;
}
