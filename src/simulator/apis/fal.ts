/**
 * Simulated fal.ai queue API for `openai/gpt-image-2` and `openai/gpt-image-2/edit`, fal storage uploads, and the
 * platform pricing endpoint. Inputs as fal-ai/fal-js `types/endpoints.ts` (@381105e) types them (`GptImage2Input`,
 * `GptImage2EditInput`); queue URLs and statuses as `queue.ts` and fal.ai/docs/api-reference/inference-api describe
 * them (status and result URLs drop `/edit`); errors as fal.ai/docs/model-apis/errors (422 `{detail: [{loc, msg,
 * type}]}`); pricing as fal.ai/docs/platform-apis/v1/models/pricing.
 */
import { randomUUID } from 'node:crypto';
import type { OutputFormat } from '../../shared/job-definitions.js';
import type { Resolution } from '../../shared/resolution.js';
import {
  authorized,
  REFUSAL_MARKER,
  type ProviderRoutes,
  type RouteContext,
  type SimulatedTask,
} from '../core.js';
import { answeredByFault } from '../faults.js';
import { asText, replierFor, fetchInputImage, parseJson, readBody, sendJson } from '../http-helpers.js';
import { gptImage2SizeProblem } from '../sizes.js';
import { webhookSenderOf } from '../webhooks.js';

const GENERATE_APP = 'openai/gpt-image-2';
const EDIT_APP = 'openai/gpt-image-2/edit';
/** Preset sizes of `image_size`. */
const PRESETS: Record<string, Resolution> = {
  square_hd: { width: 1024, height: 1024 },
  square: { width: 512, height: 512 },
  portrait_4_3: { width: 768, height: 1024 },
  portrait_16_9: { width: 576, height: 1024 },
  landscape_4_3: { width: 1024, height: 768 },
  landscape_16_9: { width: 1024, height: 576 },
};
const GENERATE_FIELDS = ['prompt', 'image_size', 'num_images', 'output_format', 'quality', 'sync_mode'];
const EDIT_FIELDS = [...GENERATE_FIELDS, 'image_urls', 'mask_url'];
/** The simulator's picture of fal's GPT Image 2 prices (fal.ai/models/openai/gpt-image-2: 1024x1024 high). */
const PRICE_PER_IMAGE = 0.22;

const uploads = new Map<string, string>();

function validationError(field: string, message: string, type = 'value_error'): unknown {
  return { detail: [{ loc: ['body', field], msg: message, type }] };
}

interface FalAsk {
  size: Resolution;
  format: OutputFormat;
  count: number;
  imageUrls: string[];
  maskUrl: string | undefined;
}

/** Check an input. @returns what it asks for, or the 422 body fal would answer. */
function validate(
  body: Record<string, unknown> | undefined,
  operation: 'generate' | 'edit',
): FalAsk | { error: unknown } {
  if (body === undefined || typeof body !== 'object')
    return { error: validationError('body', 'Input should be an object') };
  const allowed = operation === 'edit' ? EDIT_FIELDS : GENERATE_FIELDS;
  const extra = Object.keys(body).find((name) => !allowed.includes(name));
  if (extra !== undefined)
    return { error: validationError(extra, 'Extra inputs are not permitted', 'extra_forbidden') };
  if (typeof body.prompt !== 'string' || body.prompt === '')
    return { error: validationError('prompt', 'Field required', 'missing') };
  if (body.quality !== undefined && !['auto', 'low', 'medium', 'high'].includes(asText(body.quality)))
    return {
      error: validationError('quality', "Input should be 'auto', 'low', 'medium' or 'high'", 'literal_error'),
    };
  const format = (body.output_format ?? 'png') as OutputFormat;
  if (!['jpeg', 'png', 'webp'].includes(format))
    return {
      error: validationError('output_format', "Input should be 'jpeg', 'png' or 'webp'", 'literal_error'),
    };
  const count = body.num_images === undefined ? 1 : Number(body.num_images);
  if (!Number.isInteger(count) || count < 1)
    return { error: validationError('num_images', 'Input should be a positive integer') };
  let size: Resolution;
  const imageSize = body.image_size ?? (operation === 'edit' ? 'auto' : 'landscape_4_3');
  if (typeof imageSize === 'object' && imageSize !== null) {
    const { width, height } = imageSize as { width?: unknown; height?: unknown };
    if (!Number.isInteger(width) || !Number.isInteger(height) || Object.keys(imageSize).length !== 2)
      return { error: validationError('image_size', 'Input should be {width, height} in pixels') };
    size = { width: width as number, height: height as number };
    const problem = gptImage2SizeProblem(size);
    if (problem !== undefined) return { error: validationError('image_size', problem) };
  } else if (imageSize === 'auto') size = { width: 1024, height: 1024 };
  else if (typeof imageSize === 'string' && PRESETS[imageSize] !== undefined) size = PRESETS[imageSize];
  else
    return { error: validationError('image_size', 'Input should be a preset name, auto or {width, height}') };
  const imageUrls = body.image_urls;
  if (operation === 'edit') {
    if (
      !Array.isArray(imageUrls) ||
      imageUrls.length === 0 ||
      imageUrls.some((url) => typeof url !== 'string')
    )
      return { error: validationError('image_urls', 'Field required', 'missing') };
    // "A maximum of 16 images are allowed."
    if (imageUrls.length > 16)
      return { error: validationError('image_urls', 'A maximum of 16 images are allowed.') };
  }
  if (body.mask_url !== undefined && typeof body.mask_url !== 'string')
    return { error: validationError('mask_url', 'Input should be a URL') };
  return {
    size,
    format,
    count,
    imageUrls: (imageUrls as string[] | undefined) ?? [],
    maskUrl: body.mask_url,
  };
}

async function submit(context: RouteContext, operation: 'generate' | 'edit'): Promise<void> {
  const { core, request, response } = context;
  const body = parseJson((await readBody(request)).toString('utf8')) as Record<string, unknown> | undefined;
  const prompt = typeof body?.prompt === 'string' ? body.prompt : '';
  const record = core.recordSubmission('fal', request, body, prompt);
  const reply = replierFor(record, response);
  if (!authorized(context, 'Key')) return reply(401, { detail: 'Invalid or missing API key' });
  const fault = core.takeFault('fal', operation);
  const faultBodies: Record<number, unknown> = {
    403: {
      detail: 'User is locked. Reason: Exhausted balance. Top up your balance at fal.ai/dashboard/billing.',
    },
    429: { detail: 'Too many requests', error_type: 'rate_limited' },
  };
  const internalError = { detail: 'Internal server error', error_type: 'internal_error' };
  if (answeredByFault(fault, reply, (status) => faultBodies[status] ?? internalError)) return;
  const ask = validate(body, operation);
  if ('error' in ask) return reply(422, ask.error);
  let failure: SimulatedTask['failure'];
  if (fault?.taskFailure !== undefined) failure = { kind: 'failed', message: fault.taskFailure };
  if (REFUSAL_MARKER.test(prompt))
    failure = { kind: 'refused', message: 'The content was flagged by the safety checker.' };
  let inputs: Buffer[] = [];
  let mask: Buffer | undefined;
  if (operation === 'edit' && failure === undefined) {
    try {
      inputs = await Promise.all(ask.imageUrls.map(fetchInputImage));
      mask = ask.maskUrl === undefined ? undefined : await fetchInputImage(ask.maskUrl);
    } catch (error) {
      return reply(422, validationError('image_urls', (error as Error).message, 'image_load_error'));
    }
  }
  const task = core.createTask(
    'fal',
    operation === 'edit' ? EDIT_APP : GENERATE_APP,
    body,
    failure === undefined
      ? { operation, prompt, inputs, mask, size: ask.size, format: ask.format, count: ask.count }
      : undefined,
    failure,
  );
  // `X-Fal-Request-Timeout`: seconds the request may wait before a runner starts it (docs.fal.ai common-parameters).
  const startTimeout = Number(request.headers['x-fal-request-timeout']);
  if (Number.isFinite(startTimeout) && startTimeout > 0.1)
    task.startDeadlineAt = task.createdAt + startTimeout * 1000;
  const webhook = context.url.searchParams.get('fal_webhook');
  if (webhook !== null)
    webhookSenderOf(core).deliverWhenDone(task, webhook, 'fal', (done) => webhookPayload(context, done));
  const base = `${core.origin}/${GENERATE_APP}/requests/${task.id}`;
  reply(
    200,
    {
      status: 'IN_QUEUE',
      request_id: task.id,
      response_url: base,
      status_url: `${base}/status`,
      cancel_url: `${base}/cancel`,
      queue_position: 0,
    },
    { 'x-fal-request-id': task.id },
  );
}

/**
 * What fal POSTs to `fal_webhook` once a request is done: `{request_id, gateway_request_id, status: "OK" | "ERROR",
 * payload, error}` (docs.fal.ai/model-endpoints/webhooks).
 */
function webhookPayload(context: RouteContext, task: SimulatedTask): unknown {
  const failed = ['failed', 'aborted'].includes(context.core.stateOf(task));
  return {
    request_id: task.id,
    gateway_request_id: task.id,
    status: failed ? 'ERROR' : 'OK',
    payload: failed ? { detail: failureText(task) } : { images: imagesOf(task) },
    ...(failed ? { error: failureText(task) } : {}),
  };
}

/** Why a task ended without images, as fal says it. */
function failureText(task: SimulatedTask): string | undefined {
  return task.abortedAt === undefined ? task.failure?.message : 'Request timed out';
}

/** Status and result answers name the request in `x-fal-request-id` (as the submission does; fal-js reads it). */
const requestHeader = (task: SimulatedTask) => ({ 'x-fal-request-id': task.id });

function status(context: RouteContext, task: SimulatedTask): void {
  const state = context.core.stateOf(task);
  const base = `${context.core.origin}/${GENERATE_APP}/requests/${task.id}`;
  const headers = requestHeader(task);
  if (state === 'queued')
    return sendJson(
      context.response,
      202,
      { status: 'IN_QUEUE', queue_position: 0, response_url: base },
      headers,
    );
  if (state === 'running')
    return sendJson(context.response, 202, { status: 'IN_PROGRESS', logs: [], response_url: base }, headers);
  sendJson(
    context.response,
    200,
    { status: 'COMPLETED', logs: [], metrics: { inference_time: 1.2 }, response_url: base },
    headers,
  );
}

/**
 * `PUT /{app}/requests/{id}/cancel` (fal.ai/docs/inference-api/queue/cancel, fal-js `queue.cancel`): a queued request
 * is removed (`OK`: it never runs); one in progress gets a cancellation signal (`CANCELLATION_REQUESTED`: the app
 * decides — the simulator's picture is that it finishes, billed); a finished one `ALREADY_COMPLETED`.
 */
function cancel(context: RouteContext, task: SimulatedTask): void {
  const outcome = context.core.cancel(task);
  const headers = requestHeader(task);
  if (outcome === 'cancelled') return sendJson(context.response, 202, { status: 'OK' }, headers);
  if (outcome === 'started')
    return sendJson(context.response, 202, { status: 'CANCELLATION_REQUESTED' }, headers);
  sendJson(context.response, 400, { status: 'ALREADY_COMPLETED' }, headers);
}

function result(context: RouteContext, task: SimulatedTask): void {
  const state = context.core.stateOf(task);
  if (state === 'queued' || state === 'running')
    return sendJson(context.response, 400, { detail: 'Request is still in progress' }, requestHeader(task));
  if (state === 'cancelled')
    return sendJson(context.response, 400, { detail: 'Request was cancelled' }, requestHeader(task));
  // Not started by its X-Fal-Request-Timeout: 504 with `X-Fal-Request-Timeout-Type: user` (docs.fal.ai
  // common-parameters), the body a request error's (docs.fal.ai/documentation/model-apis/request-errors).
  if (state === 'aborted')
    return sendJson(
      context.response,
      504,
      { detail: 'Request timed out', error_type: 'request_timeout' },
      { ...requestHeader(task), 'x-fal-request-timeout-type': 'user', 'x-fal-error-type': 'request_timeout' },
    );
  if (task.failure?.kind === 'refused')
    return sendJson(
      context.response,
      422,
      validationError('prompt', task.failure.message, 'content_policy_violation'),
    );
  if (task.failure !== undefined)
    return sendJson(context.response, 500, { detail: task.failure.message, error_type: 'internal_error' });
  sendJson(context.response, 200, { images: imagesOf(task) }, requestHeader(task));
}

/** A finished request's images as fal's result lists them. */
function imagesOf(task: SimulatedTask): unknown[] {
  return (task.images ?? []).map((image) => ({
    url: image.url,
    content_type: image.contentType,
    file_name: image.url.split('/').pop(),
    file_size: image.bytes.length,
    width: image.width,
    height: image.height,
  }));
}

/** Storage: `POST /storage/upload/initiate` gives an upload URL and a file URL; `PUT` the bytes (fal-js storage.ts). */
async function storage(context: RouteContext): Promise<boolean> {
  const { request, url, core } = context;
  if (request.method === 'POST' && url.pathname === '/storage/upload/initiate') {
    if (!authorized(context, 'Key')) {
      sendJson(context.response, 401, { detail: 'Invalid or missing API key' });
      return true;
    }
    const body = parseJson((await readBody(request)).toString('utf8')) as
      { content_type?: string } | undefined;
    const name = randomUUID();
    uploads.set(name, body?.content_type ?? 'application/octet-stream');
    sendJson(context.response, 200, {
      upload_url: `${core.origin}/storage/put/${name}`,
      file_url: `${core.origin}/files/upload-${name}`,
    });
    return true;
  }
  const put = /^\/storage\/put\/([^/]+)$/.exec(url.pathname);
  if (request.method === 'PUT' && put !== null) {
    const contentType = uploads.get(put[1]!);
    if (contentType === undefined) sendJson(context.response, 404, { detail: 'unknown upload' });
    else {
      core.putFile(`upload-${put[1]!}`, await readBody(request), contentType);
      context.response.writeHead(200).end();
    }
    return true;
  }
  return false;
}

/** `GET /fal-platform/v1/models/pricing?endpoint_id=…`: unit prices (free; `providers --check`). */
function pricing(context: RouteContext): void {
  if (!authorized(context, 'Key'))
    return sendJson(context.response, 401, { detail: 'Invalid or missing API key' });
  const ids = context.url.searchParams.getAll('endpoint_id').flatMap((value) => value.split(','));
  const known = ids.filter((id) => id === GENERATE_APP || id === EDIT_APP);
  if (known.length === 0)
    return sendJson(context.response, 404, { detail: 'No pricing found for the requested endpoints' });
  sendJson(context.response, 200, {
    prices: known.map((id) => ({
      endpoint_id: id,
      unit_price: PRICE_PER_IMAGE,
      unit: 'image',
      currency: 'USD',
    })),
    next_cursor: null,
    has_more: false,
  });
}

/** fal.ai's routes. */
export const falRoutes: ProviderRoutes = async (context) => {
  const { request, url, core } = context;
  if (request.method === 'POST' && (url.pathname === `/${GENERATE_APP}` || url.pathname === `/${EDIT_APP}`)) {
    await submit(context, url.pathname === `/${EDIT_APP}` ? 'edit' : 'generate');
    return true;
  }
  const match = new RegExp(`^/${GENERATE_APP}/requests/([^/]+)(/status|/cancel)?$`).exec(url.pathname);
  const method = match?.[2] === '/cancel' ? 'PUT' : 'GET';
  if (request.method === method && match !== null) {
    if (!authorized(context, 'Key'))
      sendJson(context.response, 401, { detail: 'Invalid or missing API key' });
    else {
      const task = core.task(decodeURIComponent(match[1]!));
      if (task === undefined || task.provider !== 'fal')
        sendJson(context.response, 404, { detail: 'Request not found' });
      else if (match[2] === '/status') status(context, task);
      else if (match[2] === '/cancel') cancel(context, task);
      else result(context, task);
    }
    return true;
  }
  if (request.method === 'GET' && url.pathname === '/fal-platform/v1/models/pricing') {
    pricing(context);
    return true;
  }
  if (request.method === 'GET' && url.pathname === '/.well-known/jwks.json') {
    // The public keys of fal's webhook signatures (served by fal's REST host; no authentication).
    sendJson(context.response, 200, webhookSenderOf(core).falJwks());
    return true;
  }
  return storage(context);
};
