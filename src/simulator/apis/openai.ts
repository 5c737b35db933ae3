/**
 * Simulated OpenAI Images API: `POST /v1/images/generations` (JSON) and `POST /v1/images/edits` (multipart with
 * repeated `image[]` parts and `mask`), synchronous, base64 output with `usage`; `GET /v1/models[/{id}]` for
 * `providers --check`. Every rule is written from openai/openai-openapi `CreateImageRequest`, `CreateImageEditRequest`
 * and `ImagesResponse` (@f85dbe2) unless it names another source; messages OpenAI does not document are ours.
 */
import { randomUUID } from 'node:crypto';
import sharp from 'sharp';
import type { OutputFormat } from '../../shared/job-definitions.js';
import { authorized, REFUSAL_MARKER, type ProviderRoutes, type RouteContext } from '../core.js';
import { answeredByFault } from '../faults.js';
import { asText, parseJson, readBody, sendJson } from '../http-helpers.js';
import { gptImage2SizeProblem, parseSize } from '../sizes.js';
import { openaiUsage } from './openai-usage.js';

type Failure = { status: number; body: unknown };

function openaiError(status: number, message: string, param: string | null, code: string | null): Failure {
  return { status, body: { error: { message, type: 'invalid_request_error', param, code } } };
}

/** Models served, and the qualities each takes (GPT Image 2.5 adds xhigh and max: vercel/ai#20483, Portkey#935). */
const MODELS: Record<string, readonly string[]> = {
  'gpt-image-2': ['low', 'medium', 'high', 'auto'],
  'gpt-image-2-2026-04-21': ['low', 'medium', 'high', 'auto'],
  ...Object.fromEntries(
    ['gpt-image-2.5-flare', 'gpt-image-2.5-sunburst'].flatMap((model) => [
      [model, ['low', 'medium', 'high', 'xhigh', 'max', 'auto']],
      [`${model}-2026-09-08`, ['low', 'medium', 'high', 'xhigh', 'max', 'auto']],
    ]),
  ),
};

/** Body fields of `CreateImageRequest` (JSON). */
const GENERATE_FIELDS = [
  'model',
  'prompt',
  'n',
  'quality',
  'size',
  'output_format',
  'output_compression',
  'background',
  'moderation',
  'stream',
  'partial_images',
  'user',
  'response_format',
  'style',
  'input_fidelity',
];
/** Text fields of `CreateImageEditRequest` (multipart; no `moderation` in this schema). */
const EDIT_FIELDS = [
  'model',
  'prompt',
  'n',
  'quality',
  'size',
  'output_format',
  'output_compression',
  'background',
  'user',
  'input_fidelity',
  'stream',
  'partial_images',
  'response_format',
];

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

/** What a request asks for, once valid. */
interface ImageAsk {
  model: string;
  size: { width: number; height: number };
  format: OutputFormat;
  count: number;
  quality: string;
}

/** Check the fields of a request. @returns the ask, or the 400/404 OpenAI would answer. */
function validate(fields: Record<string, unknown>, operation: 'generate' | 'edit'): ImageAsk | Failure {
  const allowed = operation === 'edit' ? EDIT_FIELDS : GENERATE_FIELDS;
  const unknown = Object.keys(fields).find((name) => !allowed.includes(name));
  if (unknown !== undefined)
    return openaiError(400, `Unknown parameter: '${unknown}'.`, unknown, 'unknown_parameter');
  const model = typeof fields.model === 'string' ? fields.model : undefined;
  // `model` defaults to dall-e-2 (generate) and gpt-image-1.5 (edit): not what this simulator serves.
  if (model === undefined || MODELS[model] === undefined)
    return openaiError(
      404,
      `The model \`${model ?? 'dall-e-2'}\` does not exist or you do not have access to it.`,
      null,
      'model_not_found',
    );
  if (typeof fields.prompt !== 'string' || fields.prompt === '' || fields.prompt.length > 32_000)
    return openaiError(
      400,
      "Invalid 'prompt': a string of 1 to 32000 characters is required.",
      'prompt',
      'invalid_value',
    );
  if ('input_fidelity' in fields)
    return {
      status: 400,
      body: {
        error: {
          message: `The model '${model}' does not support the 'input_fidelity' parameter.`,
          type: 'image_generation_user_error',
          param: 'input_fidelity',
          code: 'invalid_input_fidelity_model',
        },
      },
    };
  for (const name of ['response_format', 'style'])
    if (name in fields)
      return openaiError(
        400,
        `'${name}' is not supported for GPT image models.`,
        name,
        'unsupported_parameter',
      );
  const quality = fields.quality === undefined ? 'auto' : asText(fields.quality);
  if (!MODELS[model].includes(quality))
    return openaiError(
      400,
      `Invalid value for 'quality': '${quality}' is not supported by ${model}.`,
      'quality',
      'invalid_value',
    );
  const count = fields.n === undefined ? 1 : Number(fields.n);
  if (!Number.isInteger(count) || count < 1 || count > 10)
    return openaiError(400, "Invalid 'n': must be between 1 and 10.", 'n', 'invalid_value');
  const format = (fields.output_format ?? 'png') as OutputFormat;
  if (!['png', 'jpeg', 'webp'].includes(format))
    return openaiError(400, "Invalid value for 'output_format'.", 'output_format', 'invalid_value');
  if (fields.output_compression !== undefined) {
    const compression = Number(fields.output_compression);
    if (!Number.isInteger(compression) || compression < 0 || compression > 100)
      return openaiError(
        400,
        "Invalid 'output_compression': 0 to 100.",
        'output_compression',
        'invalid_value',
      );
    // "only supported for the GPT image models with the webp or jpeg output formats"
    if (format === 'png')
      return openaiError(
        400,
        "'output_compression' is only supported with output_format webp or jpeg.",
        'output_compression',
        'invalid_value',
      );
  }
  const background = fields.background;
  if (background !== undefined && !['transparent', 'opaque', 'auto'].includes(asText(background)))
    return openaiError(400, "Invalid value for 'background'.", 'background', 'invalid_value');
  // "When using `transparent`, set the output format to `png` or `webp`."
  if (background === 'transparent' && format === 'jpeg')
    return openaiError(
      400,
      'Transparent backgrounds need output_format png or webp.',
      'background',
      'invalid_value',
    );
  if (fields.moderation !== undefined && !['low', 'auto'].includes(asText(fields.moderation)))
    return openaiError(400, "Invalid value for 'moderation'.", 'moderation', 'invalid_value');
  const sizeText = fields.size === undefined ? 'auto' : asText(fields.size);
  const size = sizeText === 'auto' ? { width: 1024, height: 1024 } : parseSize(sizeText);
  const sizeProblem = size === undefined ? 'must be auto or WIDTHxHEIGHT' : gptImage2SizeProblem(size);
  if (size === undefined || sizeProblem !== undefined)
    return openaiError(400, `Invalid value for 'size': ${sizeProblem ?? ''}.`, 'size', 'invalid_value');
  return { model, size, format, count, quality };
}

/** PNG, JPEG or WebP by magic bytes ("each image should be a png, webp, or jpg file less than 50MB"). */
function imageKind(bytes: Buffer): string | undefined {
  if (bytes.subarray(0, 4).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47]))) return 'png';
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return 'jpeg';
  if (
    bytes.subarray(0, 4).toString('latin1') === 'RIFF' &&
    bytes.subarray(8, 12).toString('latin1') === 'WEBP'
  )
    return 'webp';
  return undefined;
}

/**
 * Check the edit's files: 1–16 images of png/webp/jpg under 50 MB; a mask that is a PNG with an alpha channel, under
 * 4 MB, the size of the first image ("fully transparent areas … indicate where `image` should be edited").
 * @returns the mask turned white-where-edited for the image maker, or the failure.
 */
async function checkEditFiles(
  images: Buffer[],
  mask: Buffer | undefined,
): Promise<Buffer | undefined | Failure> {
  if (images.length === 0)
    return openaiError(400, "Missing required parameter: 'image'.", 'image', 'missing_required_parameter');
  if (images.length > 16)
    return openaiError(400, 'You can provide up to 16 images.', 'image', 'invalid_value');
  for (const image of images) {
    if (imageKind(image) === undefined || image.length >= 50 * 1024 * 1024)
      return openaiError(
        400,
        'Invalid image file: each image must be a png, webp, or jpg file less than 50MB.',
        'image',
        'invalid_image_format',
      );
  }
  if (mask === undefined) return undefined;
  if (imageKind(mask) !== 'png' || mask.length >= 4 * 1024 * 1024)
    return openaiError(
      400,
      'Invalid mask: must be a valid PNG file less than 4MB.',
      'mask',
      'invalid_image_format',
    );
  const [maskMeta, imageMeta] = await Promise.all([sharp(mask).metadata(), sharp(images[0]).metadata()]);
  if (maskMeta.hasAlpha !== true)
    return openaiError(
      400,
      "Invalid input image - format must be in ['RGBA', 'LA', 'L'], got RGB.",
      'mask',
      'invalid_image_format',
    );
  if (maskMeta.width !== imageMeta.width || maskMeta.height !== imageMeta.height)
    return openaiError(
      400,
      'Invalid mask image: mask size does not match image size.',
      'mask',
      'invalid_value',
    );
  return sharp(mask).ensureAlpha().extractChannel(3).negate().png().toBuffer();
}

/** Read a multipart edit: text fields, `image`/`image[]` files and `mask`. */
async function readForm(
  context: RouteContext,
  raw: Buffer,
): Promise<{ fields: Record<string, unknown>; images: Buffer[]; mask?: Buffer } | undefined> {
  try {
    const form = await new Request('http://simulator/', {
      method: 'POST',
      headers: { 'content-type': context.request.headers['content-type'] ?? '' },
      body: raw,
    }).formData();
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

async function handle(context: RouteContext, operation: 'generate' | 'edit'): Promise<void> {
  const { core, request, response } = context;
  const raw = await readBody(request);
  let fields: Record<string, unknown> = {};
  let images: Buffer[] = [];
  let mask: Buffer | undefined;
  let parseProblem: string | undefined;
  if (operation === 'generate') {
    const parsed = parseJson(raw.toString('utf8'));
    if (parsed === undefined || typeof parsed !== 'object' || parsed === null)
      parseProblem = 'We could not parse the JSON body of your request.';
    else fields = parsed as Record<string, unknown>;
  } else {
    const form = await readForm(context, raw);
    if (form === undefined) parseProblem = 'The edits endpoint takes multipart/form-data.';
    else ({ fields, images, mask } = form);
  }
  const prompt = typeof fields.prompt === 'string' ? fields.prompt : '';
  const record = core.recordSubmission(
    'openai',
    request,
    operation === 'edit' ? { ...fields, images: images.length, mask: mask !== undefined } : fields,
    prompt,
  );
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
  await core.delay();
  const faultBody = (status: number) => ({
    error: { ...(FAULT_DEFAULTS[status] ?? FAULT_DEFAULTS[500]!), param: null },
  });
  const resetHeader: Record<string, string> =
    fault?.retryAfterSeconds === undefined
      ? {}
      : { 'x-ratelimit-reset-requests': `${fault.retryAfterSeconds}s` };
  if (answeredByFault(fault, reply, faultBody, resetHeader)) return;
  if (parseProblem !== undefined) return fail(openaiError(400, parseProblem, null, null));
  const ask = validate(fields, operation);
  if ('status' in ask) return fail(ask);
  let editMask: Buffer | undefined;
  if (operation === 'edit') {
    const checked = await checkEditFiles(images, mask);
    if (checked !== undefined && 'status' in checked) return fail(checked);
    editMask = checked;
  }
  if (REFUSAL_MARKER.test(prompt)) {
    return reply(400, {
      error: {
        message: 'Your request was rejected by the safety system. safety_violations=[sexual].',
        type: 'image_generation_user_error',
        param: null,
        code: 'moderation_blocked',
      },
      moderation_details: { moderation_stage: 'input', categories: ['sexual'] },
    });
  }
  const made = await core.makeImages({
    operation,
    prompt,
    inputs: images,
    mask: editMask,
    size: ask.size,
    format: ask.format,
    count: ask.count,
  });
  const quality = ask.quality === 'auto' ? 'high' : ask.quality;
  reply(200, {
    created: Math.floor(Date.now() / 1000),
    data: made.map((image) => ({ b64_json: image.bytes.toString('base64') })),
    background: fields.background === 'transparent' ? 'transparent' : 'opaque',
    output_format: ask.format,
    quality,
    size: `${ask.size.width}x${ask.size.height}`,
    usage: openaiUsage({ prompt, inputImages: images.length, size: ask.size, quality, count: made.length }),
  });
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
  const model = /^\/v1\/models(?:\/([^/]+))?$/.exec(url.pathname);
  if (request.method === 'GET' && model !== null) {
    models(context, model[1] === undefined ? undefined : decodeURIComponent(model[1]));
    return true;
  }
  return false;
};
