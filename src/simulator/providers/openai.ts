/**
 * Simulated OpenAI Images API: `POST /v1/images/generations` (JSON) and `POST /v1/images/edits` (multipart with
 * repeated `image[]` parts and `mask`), synchronous, base64 output with `usage`.
 */
import { randomUUID } from 'node:crypto';
import { OPENAI_EDIT_TEXT_FIELDS, openaiGenerateBodySchema } from '../../providers/openai/wire-schema.js';
import { customSizeProblem } from '../../providers/size-rules.js';
import type { OutputFormat } from '../../shared/job-definitions.js';
import { parseResolution, type Resolution } from '../../shared/resolution-tier.js';
import {
  answeredByFault,
  authorized,
  parseJson,
  readBody,
  REFUSAL_MARKER,
  sendJson,
  type ProviderRoutes,
  type RouteContext,
} from '../core.js';

function openaiError(
  status: number,
  message: string,
  type: string,
  param: string | null,
  code: string | null,
) {
  return { status, body: { error: { message, type, param, code } } };
}

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

/** Output tokens as OpenAI bills them, roughly proportional to pixels (our model, for usage figures only). */
function outputTokens(size: Resolution): number {
  return Math.round((size.width * size.height) / 750);
}

async function handle(context: RouteContext, operation: 'generate' | 'edit'): Promise<void> {
  const { core, request, response } = context;
  const raw = await readBody(request);
  let fields: Record<string, unknown> = {};
  const images: Buffer[] = [];
  let mask: Buffer | undefined;
  let parseProblem: string | undefined;
  if (operation === 'generate') {
    const parsed = parseJson(raw.toString('utf8'));
    if (parsed === undefined || typeof parsed !== 'object')
      parseProblem = 'We could not parse the JSON body of your request.';
    else fields = parsed as Record<string, unknown>;
  } else {
    try {
      const form = await new Request('http://simulator/', {
        method: 'POST',
        headers: { 'content-type': request.headers['content-type'] ?? '' },
        body: raw,
      }).formData();
      for (const [name, value] of form.entries()) {
        if (typeof value === 'string') fields[name] = value;
        else if (name === 'image[]' || name === 'image') images.push(Buffer.from(await value.arrayBuffer()));
        else if (name === 'mask') mask = Buffer.from(await value.arrayBuffer());
        else fields[name] = '(file)';
      }
    } catch {
      parseProblem = 'The edits endpoint takes multipart/form-data.';
    }
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
  const fail = (error: { status: number; body: unknown }) => reply(error.status, error.body);
  if (!authorized(context, 'Bearer'))
    return fail(
      openaiError(401, 'Incorrect API key provided.', 'invalid_request_error', null, 'invalid_api_key'),
    );
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
  if (parseProblem !== undefined)
    return fail(openaiError(400, parseProblem, 'invalid_request_error', null, null));

  // Multipart sends numbers as text; coerce the numeric fields before validating.
  for (const name of ['n', 'output_compression']) {
    if (typeof fields[name] === 'string' && /^\d+$/.test(fields[name])) fields[name] = Number(fields[name]);
  }
  if ('input_fidelity' in fields) {
    return fail(
      openaiError(
        400,
        "The model 'gpt-image-2' does not support the 'input_fidelity' parameter.",
        'image_generation_user_error',
        'input_fidelity',
        'invalid_input_fidelity_model',
      ),
    );
  }
  if (operation === 'edit') {
    const unknown = Object.keys(fields).find(
      (name) => !(OPENAI_EDIT_TEXT_FIELDS as readonly string[]).includes(name),
    );
    if (unknown !== undefined)
      return fail(
        openaiError(
          400,
          `Unknown parameter: '${unknown}'.`,
          'invalid_request_error',
          unknown,
          'unknown_parameter',
        ),
      );
    if (images.length === 0)
      return fail(
        openaiError(
          400,
          "Missing required parameter: 'image'.",
          'invalid_request_error',
          'image',
          'missing_required_parameter',
        ),
      );
    if (images.length > 16)
      return fail(openaiError(400, 'At most 16 images.', 'invalid_request_error', 'image', null));
  }
  const parsed = openaiGenerateBodySchema.safeParse(fields);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const param = issue.code === 'unrecognized_keys' ? issue.keys[0]! : issue.path.join('.');
    const message =
      issue.code === 'unrecognized_keys'
        ? `Unknown parameter: '${param}'.`
        : `Invalid value for '${param}': ${issue.message}`;
    return fail(
      openaiError(
        400,
        message,
        'invalid_request_error',
        param,
        issue.code === 'unrecognized_keys' ? 'unknown_parameter' : 'invalid_value',
      ),
    );
  }
  const input = parsed.data;
  if (!input.model.startsWith('gpt-image-2')) {
    return fail(
      openaiError(
        400,
        `Invalid value for 'model': the simulator serves gpt-image-2 only.`,
        'invalid_request_error',
        'model',
        'invalid_value',
      ),
    );
  }
  const size =
    input.size === undefined || input.size === 'auto'
      ? { width: 1024, height: 1024 }
      : parseResolution(input.size);
  const sizeProblem = size === undefined ? 'must be auto or WIDTHxHEIGHT' : customSizeProblem(size);
  if (size === undefined || sizeProblem !== undefined) {
    return fail(
      openaiError(
        400,
        `Invalid value for 'size': ${sizeProblem ?? ''}`,
        'invalid_request_error',
        'size',
        'invalid_value',
      ),
    );
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
  const format: OutputFormat = input.output_format ?? 'png';
  const made = await core.makeImages({
    operation,
    prompt,
    inputs: images,
    mask,
    size,
    format,
    count: input.n ?? 1,
  });
  const textTokens = Math.ceil(prompt.length / 4);
  const imageTokens = images.length * 323;
  const output = outputTokens(size) * made.length;
  reply(200, {
    created: Math.floor(Date.now() / 1000),
    data: made.map((image) => ({ b64_json: image.bytes.toString('base64') })),
    background: input.background ?? 'opaque',
    output_format: format,
    quality: input.quality ?? 'high',
    size: `${size.width}x${size.height}`,
    usage: {
      input_tokens: textTokens + imageTokens,
      input_tokens_details: { text_tokens: textTokens, image_tokens: imageTokens },
      output_tokens: output,
      total_tokens: textTokens + imageTokens + output,
    },
  });
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
  return false;
};
