/**
 * Simulated OpenAI Images API: `POST /v1/images/generations` (JSON) and `POST /v1/images/edits` (multipart with
 * repeated `image[]` parts and `mask`), synchronous, base64 output with `usage`; `GET /v1/models[/{id}]` for
 * `providers --check`. Every rule is written from openai/openai-openapi `CreateImageRequest`, `CreateImageEditRequest`
 * and `ImagesResponse` (@f85dbe2) unless it names another source; messages OpenAI does not document are ours.
 */
import { randomUUID } from 'node:crypto';
import { authorized, REFUSAL_MARKER, type ProviderRoutes, type RouteContext } from '../core.js';
import { answeredByFault } from '../faults.js';
import { openaiBatchRoutes } from './openai-batch.js';
import { parseJson, parseMultipart, readBody, sendJson } from '../http-helpers.js';
import { checkEditFiles, MODELS, openaiError, validate, type Failure } from './openai-rules.js';
import { imagesResponseBody } from './openai-usage.js';

const FAULT_DEFAULTS: Record<number, { message: string; type: string; code: string | null }> = {
  401: { message: 'Incorrect API key provided.', type: 'invalid_request_error', code: 'invalid_api_key' },
  429: {
    message: 'Rate limit reached for gpt-image-2 in organization org-sim on images per min (IPM).',
    type: 'requests',
    code: 'rate_limit_exceeded',
  },
  500: {
    message: 'The server had an error while processing your request.',
    type: 'server_error',
    code: null,
  },
};

/** Read a multipart edit: text fields, `image`/`image[]` files and `mask`. */
async function readForm(
  context: RouteContext,
  raw: Buffer,
): Promise<{ fields: Record<string, unknown>; images: Buffer[]; mask?: Buffer } | undefined> {
  const form = await parseMultipart(context.request, raw);
  if (form === undefined) return undefined;
  try {
    const fields: Record<string, unknown> = {};
    const images: Buffer[] = [];
    let mask: Buffer | undefined;
    for (const [name, value] of form.entries()) {
      if (typeof value === 'string') fields[name] = value;
      else if (name === 'image[]' || name === 'image') images.push(Buffer.from(await value.arrayBuffer()));
      else if (name === 'mask') mask = Buffer.from(await value.arrayBuffer());
      else fields[name] = '(file)';
    }
    return mask === undefined ? { fields, images } : { fields, images, mask };
  } catch {
    return undefined;
  }
}

/** The body of a request: JSON fields (generate) or multipart fields and files (edit), or why it is unreadable. */
async function readRequest(
  context: RouteContext,
  operation: 'generate' | 'edit',
): Promise<{ fields: Record<string, unknown>; images: Buffer[]; mask?: Buffer; problem?: string }> {
  const raw = await readBody(context.request);
  if (operation === 'edit') {
    const form = await readForm(context, raw);
    return form ?? { fields: {}, images: [], problem: 'The edits endpoint takes multipart/form-data.' };
  }
  const parsed = parseJson(raw.toString('utf8'));
  if (parsed === undefined || typeof parsed !== 'object' || parsed === null)
    return { fields: {}, images: [], problem: 'We could not parse the JSON body of your request.' };
  return { fields: parsed as Record<string, unknown>, images: [] };
}

/** The moderation refusal of gpt-image-2 (ucx0204/CarrotMangaTranslator#122, openai/codex#38582). */
const MODERATION_BLOCKED = {
  error: {
    message: 'Your request was rejected by the safety system. safety_violations=[sexual].',
    type: 'image_generation_user_error',
    param: null,
    code: 'moderation_blocked',
  },
  moderation_details: { moderation_stage: 'input', categories: ['sexual'] },
};

async function handle(context: RouteContext, operation: 'generate' | 'edit'): Promise<void> {
  const { core, request, response } = context;
  const { fields, images, mask, problem } = await readRequest(context, operation);
  const prompt = typeof fields.prompt === 'string' ? fields.prompt : '';
  const recorded =
    operation === 'edit' ? { ...fields, images: images.length, mask: mask !== undefined } : fields;
  const record = core.recordSubmission('openai', request, recorded, prompt);
  const requestId = `req_${randomUUID().replace(/-/g, '')}`;
  const reply = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
    record.status = status;
    sendJson(response, status, payload, {
      'x-request-id': requestId,
      ...core.rateLimitHeaders('openai'),
      ...headers,
    });
  };
  const fail = (failure: Failure) => reply(failure.status, failure.body);
  if (!authorized(context, 'Bearer'))
    return fail(openaiError(401, 'Incorrect API key provided.', null, 'invalid_api_key'));
  const fault = core.takeFault('openai', operation);
  await core.delay('openai');
  const faultBody = (status: number) => ({
    error: { ...(FAULT_DEFAULTS[status] ?? FAULT_DEFAULTS[500]!), param: null },
  });
  const resetHeader: Record<string, string> =
    fault?.retryAfterSeconds === undefined
      ? {}
      : { 'x-ratelimit-reset-requests': `${fault.retryAfterSeconds}s` };
  if (answeredByFault(fault, reply, faultBody, resetHeader)) return;
  if (problem !== undefined) return fail(openaiError(400, problem, null, null));
  const ask = validate(fields, operation);
  if ('status' in ask) return fail(ask);
  const editMask = operation === 'edit' ? await checkEditFiles(images, mask) : undefined;
  if (editMask !== undefined && 'status' in editMask) return fail(editMask);
  if (REFUSAL_MARKER.test(prompt)) return reply(400, MODERATION_BLOCKED);
  const made = await core.makeImages({ operation, prompt, inputs: images, mask: editMask, ...ask });
  const body = await imagesResponseBody({
    images: made.map((image) => image.bytes),
    inputs: images,
    prompt,
    ask,
  });
  const background = fields.background === 'transparent' ? 'transparent' : 'opaque';
  if (fields.stream === true || fields.stream === 'true')
    return streamImages(context, operation, { ...body, background }, record, { 'x-request-id': requestId });
  reply(200, { ...body, background });
}

/**
 * `stream: true`: the answer as server-sent events (openai-openapi `ImageGenStreamEvent` / `ImageEditStreamEvent`):
 * one `image_generation.completed` (edits: `image_edit.completed`) event per image, with its `b64_json`, size,
 * quality, background, output format and the request's `usage`. Partial images are not simulated.
 */
function streamImages(
  context: RouteContext,
  operation: 'generate' | 'edit',
  body: Record<string, unknown>,
  record: { status?: number },
  headers: Record<string, string>,
): void {
  const type = operation === 'edit' ? 'image_edit.completed' : 'image_generation.completed';
  record.status = 200;
  context.response.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    ...headers,
  });
  for (const image of body.data as Array<{ b64_json: string }>) {
    const event = {
      type,
      b64_json: image.b64_json,
      created_at: body.created,
      size: body.size,
      quality: body.quality,
      background: body.background,
      output_format: body.output_format,
      usage: body.usage,
    };
    context.response.write(`event: ${type}\ndata: ${JSON.stringify(event)}\n\n`);
  }
  context.response.end();
}

/** `GET /v1/models` and `GET /v1/models/{id}`: the model objects (free calls; `providers --check`). */
function models(context: RouteContext, id: string | undefined): void {
  const model = (name: string) => ({ id: name, object: 'model', created: 1776729600, owned_by: 'system' });
  if (!authorized(context, 'Bearer'))
    return sendJson(
      context.response,
      401,
      openaiError(401, 'Incorrect API key provided.', null, 'invalid_api_key').body,
    );
  if (id === undefined)
    return sendJson(context.response, 200, { object: 'list', data: Object.keys(MODELS).map(model) });
  if (MODELS[id] === undefined)
    return sendJson(
      context.response,
      404,
      openaiError(404, `The model '${id}' does not exist`, 'model', 'model_not_found').body,
    );
  sendJson(context.response, 200, model(id));
}

/** OpenAI's routes. */
export const openaiRoutes: ProviderRoutes = async (context) => {
  const { request, url } = context;
  if (request.method === 'POST' && url.pathname === '/v1/images/generations') {
    await handle(context, 'generate');
    return true;
  }
  if (request.method === 'POST' && url.pathname === '/v1/images/edits') {
    await handle(context, 'edit');
    return true;
  }
  if (await openaiBatchRoutes(context)) return true;
  const model = /^\/v1\/models(?:\/([^/]+))?$/.exec(url.pathname);
  if (request.method === 'GET' && model !== null) {
    models(context, model[1] === undefined ? undefined : decodeURIComponent(model[1]));
    return true;
  }
  return false;
};
