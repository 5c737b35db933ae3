/**
 * Simulated Replicate under `/replicate/v1`: predictions for `openai/gpt-image-2` (create with `Prefer: wait` holding
 * the answer up to the wait, then `GET /predictions/{id}`), the files API, and the model object. Shapes as
 * replicate/replicate-javascript @2fd6f39 (`index.d.ts` Prediction, `lib/files.js`, `index.test.ts` fixtures); the
 * model's inputs as its API page lists them (mirror: cinemasetfree.com/guides/generators/openai/gpt-image-2 —
 * `aspect_ratio` ratios and explicit sizes, `number_of_images` 1–10, `background` auto/transparent/opaque, …). Inline
 * data URIs over 10 MB in total are refused: replicate-javascript refuses them ("exceeds 10mb limit for inline
 * encoding", `lib/util.js`); that the API does too is the simulator's picture.
 */
import { randomUUID } from 'node:crypto';
import type { OutputFormat } from '../../shared/job-definitions.js';
import {
  authorized,
  REFUSAL_MARKER,
  type ProviderRoutes,
  type RouteContext,
  type ImageWork,
  type SimulatedTask,
} from '../core.js';
import { answeredByFault } from '../faults.js';
import { webhookSenderOf } from '../webhooks.js';
import {
  asText,
  replierFor,
  fetchInputImage,
  parseJson,
  parseMultipart,
  readBody,
  sendJson,
} from '../http-helpers.js';
import { parseSize } from '../sizes.js';

const BASE = '/replicate/v1';
const MODEL = 'openai/gpt-image-2';
/** `aspect_ratio` values and what they make (`auto`: 1024x1024, the simulator's picture). */
const ASPECT_RATIOS: Record<string, string> = {
  '1:1': '1024x1024',
  '3:2': '1536x1024',
  '2:3': '1024x1536',
  '16:9': '2048x1152',
  '9:16': '1152x2048',
  auto: '1024x1024',
  ...Object.fromEntries(
    [
      '1024x1024',
      '1536x1024',
      '1024x1536',
      '2048x2048',
      '2048x1152',
      '1152x2048',
      '3840x2160',
      '2160x3840',
    ].map((size) => [size, size]),
  ),
};
const ENUMS: Record<string, readonly string[]> = {
  aspect_ratio: Object.keys(ASPECT_RATIOS),
  quality: ['low', 'medium', 'high', 'auto'],
  background: ['auto', 'transparent', 'opaque'],
  moderation: ['auto', 'low'],
  output_format: ['webp', 'png', 'jpeg'],
};
const INPUT_FIELDS = [
  'prompt',
  'openai_api_key',
  'aspect_ratio',
  'input_images',
  'number_of_images',
  'quality',
  'background',
  'moderation',
  'output_format',
  'output_compression',
  'user_id',
];
const MAX_INLINE_BYTES = 10_000_000;

const files = new Map<string, { bytes: Buffer; contentType: string; createdAt: string }>();

function invalid(field: string, message: string) {
  return {
    title: 'Input validation failed',
    detail: `- ${field}: ${message}`,
    status: 422,
    invalid_fields: [{ type: 'invalid', field, description: message }],
  };
}

/** Why the model refuses `input`, as a 422 body, or undefined. */
function inputProblem(input: Record<string, unknown>): unknown {
  const extra = Object.keys(input).find((name) => !INPUT_FIELDS.includes(name));
  if (extra !== undefined) return invalid(`input.${extra}`, 'Additional property is not allowed');
  if (typeof input.prompt !== 'string' || input.prompt === '')
    return invalid('input.prompt', 'prompt is required');
  for (const [name, values] of Object.entries(ENUMS)) {
    if (input[name] !== undefined && !values.includes(asText(input[name])))
      return invalid(`input.${name}`, `${name} must be one of the following: ${values.join(', ')}`);
  }
  const count = input.number_of_images ?? 1;
  if (!Number.isInteger(count) || (count as number) < 1 || (count as number) > 10)
    return invalid('input.number_of_images', 'Must be between 1 and 10');
  const compression = input.output_compression;
  if (
    compression !== undefined &&
    (!Number.isInteger(compression) || (compression as number) < 0 || (compression as number) > 100)
  )
    return invalid('input.output_compression', 'Must be between 0 and 100');
  if (input.background === 'transparent' && input.output_format === 'jpeg')
    return invalid('input.background', 'transparent backgrounds need png or webp output');
  if (
    input.input_images !== undefined &&
    (!Array.isArray(input.input_images) || input.input_images.some((item) => typeof item !== 'string'))
  )
    return invalid('input.input_images', 'must be an array of URIs');
  return undefined;
}

/** An input image: a file of the files API read from the store, anything else as the core reads it. */
async function readInput(context: RouteContext, reference: string): Promise<Buffer> {
  const file = new RegExp(`^${context.core.origin}${BASE}/files/([^/]+)$`).exec(reference);
  if (file !== null) {
    const stored = files.get(file[1]!);
    if (stored === undefined) throw new Error(`no file ${file[1]}`);
    return stored.bytes;
  }
  return fetchInputImage(reference);
}

function prediction(context: RouteContext, task: SimulatedTask): Record<string, unknown> {
  const state = context.core.stateOf(task);
  const status = {
    queued: 'starting',
    running: 'processing',
    succeeded: 'succeeded',
    failed: 'failed',
    cancelled: 'canceled',
    aborted: 'aborted',
  }[state];
  const base = `${context.core.origin}${BASE}/predictions/${task.id}`;
  return {
    id: task.id,
    model: MODEL,
    version: 'hidden',
    input: task.input,
    logs: '',
    output: state === 'succeeded' ? (task.images ?? []).map((image) => image.url) : null,
    data_removed: false,
    error: state === 'failed' ? (task.failure?.message ?? 'failed') : null,
    status,
    created_at: new Date(task.createdAt).toISOString(),
    started_at: ['queued', 'cancelled', 'aborted'].includes(state)
      ? null
      : new Date(task.startsAt).toISOString(),
    completed_at:
      state === 'succeeded' || state === 'failed' ? new Date(task.finishesAt).toISOString() : null,
    urls: {
      get: base,
      cancel: `${base}/cancel`,
      stream: `${base}/stream`,
      web: `https://replicate.com/p/${task.id}`,
    },
    metrics: state === 'succeeded' ? { predict_time: (task.finishesAt - task.startsAt) / 1000 } : {},
  };
}

const unauthorized = {
  title: 'Unauthenticated',
  detail: 'You did not pass a valid authentication token',
  status: 401,
};

/** Error bodies of a create call answered by an injected fault. */
function faultBody(status: number, retryAfterSeconds: number | undefined): unknown {
  if (status === 402) {
    const detail =
      'You have insufficient credit to run this model. Go to https://replicate.com/account/billing#billing to purchase credit.';
    return { title: 'Insufficient credit', detail, status };
  }
  if (status === 429)
    return {
      detail: `Request was throttled. Your rate limit resets in ~${retryAfterSeconds ?? 30}s.`,
      status,
    };
  return { title: 'Internal Server Error', detail: 'simulated failure', status };
}

/** Why the create body is refused (422 or 413 and its body), or undefined. */
function bodyProblem(body: { input?: Record<string, unknown> } | undefined): [number, unknown] | undefined {
  const extra = Object.keys(body ?? {}).find(
    (name) => !['input', 'webhook', 'webhook_events_filter'].includes(name),
  );
  if (body?.input === undefined || extra !== undefined)
    return [422, invalid(extra ?? 'input', 'input is required')];
  const problem = inputProblem(body.input);
  if (problem !== undefined) return [422, problem];
  const references = Array.isArray(body.input.input_images) ? (body.input.input_images as string[]) : [];
  const inlineBytes = references
    .filter((reference) => reference.startsWith('data:'))
    .reduce((sum, uri) => sum + Math.floor(((uri.length - uri.indexOf(',') - 1) * 3) / 4), 0);
  if (inlineBytes <= MAX_INLINE_BYTES) return undefined;
  const detail = `inline data of ${inlineBytes} bytes exceeds the 10MB limit; upload files instead`;
  return [413, { title: 'Request Entity Too Large', detail, status: 413 }];
}

/** The prediction's work, or how it fails (an injected task failure, a refusal, unreadable inputs). */
async function workOf(
  context: RouteContext,
  input: Record<string, unknown>,
  taskFailure: string | undefined,
): Promise<{ work?: ImageWork; failure?: SimulatedTask['failure'] }> {
  const prompt = asText(input.prompt);
  if (REFUSAL_MARKER.test(prompt)) {
    const message =
      'Your request was rejected by the safety system. (E005) The input or output was flagged as sensitive.';
    return { failure: { kind: 'refused', message } };
  }
  if (taskFailure !== undefined) return { failure: { kind: 'failed', message: taskFailure } };
  const references = Array.isArray(input.input_images) ? (input.input_images as string[]) : [];
  let inputs: Buffer[];
  try {
    inputs = await Promise.all(references.map((reference) => readInput(context, reference)));
  } catch (error) {
    return {
      failure: { kind: 'failed', message: `could not read input_images: ${(error as Error).message}` },
    };
  }
  return {
    work: {
      operation: references.length > 0 ? 'edit' : 'generate',
      prompt,
      inputs,
      size: parseSize(ASPECT_RATIOS[asText(input.aspect_ratio ?? '1:1')]!)!,
      format: (input.output_format as OutputFormat | undefined) ?? 'webp',
      count: (input.number_of_images as number | undefined) ?? 1,
    },
  };
}

async function create(context: RouteContext): Promise<void> {
  const { core, request, response } = context;
  const body = parseJson((await readBody(request)).toString('utf8')) as
    { input?: Record<string, unknown> } | undefined;
  const input = body?.input ?? {};
  const prompt = typeof input.prompt === 'string' ? input.prompt : '';
  const operation = Array.isArray(input.input_images) && input.input_images.length > 0 ? 'edit' : 'generate';
  const record = core.recordSubmission('replicate', request, body, prompt);
  const reply = replierFor(record, response);
  if (!authorized(context, 'Bearer')) return reply(401, unauthorized);
  const fault = core.takeFault('replicate', operation);
  if (answeredByFault(fault, reply, (status) => faultBody(status, fault?.retryAfterSeconds))) return;
  const problem = bodyProblem(body);
  if (problem !== undefined) return reply(...problem);
  const { work, failure } = await workOf(context, input, fault?.taskFailure);
  const task = core.createTask('replicate', MODEL, input, work, failure);
  const cancelAfterMs = durationMs(request.headers['cancel-after']);
  if (cancelAfterMs !== undefined) task.startDeadlineAt = task.createdAt + cancelAfterMs;
  const webhook = (body as { webhook?: unknown } | undefined)?.webhook;
  const events = (body as { webhook_events_filter?: unknown } | undefined)?.webhook_events_filter;
  // Only the `completed` event is delivered (the default filter holds every event).
  if (typeof webhook === 'string' && (!Array.isArray(events) || events.includes('completed'))) {
    webhookSenderOf(core).deliverWhenDone(task, webhook, 'standard-webhooks', (done) =>
      prediction(context, done),
    );
  }
  // `Prefer: wait[=N]` holds the answer until the prediction finishes or N seconds (max 60) pass.
  const prefer = /^wait(?:=(\d+))?$/.exec(String(request.headers.prefer ?? '').trim());
  if (prefer !== null) {
    const until = Date.now() + Math.min(Number(prefer[1] ?? 60), 60) * 1000;
    while (Date.now() < until && ['queued', 'running'].includes(core.stateOf(task))) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  reply(201, prediction(context, task));
}

/**
 * A `Cancel-After` duration (`90s`, `1m`, `1h30m`, `500ms`: replicate.com/changelog/2025-10-16-prediction-deadlines
 * shows `1m`) in ms; undefined when absent or unreadable. The simulator keeps the part of the deadline that matters
 * for billing: reached before the prediction starts, it ends `aborted` (not charged); one reached while it runs is not
 * simulated (it finishes).
 */
function durationMs(header: string | string[] | undefined): number | undefined {
  if (typeof header !== 'string' || !/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(header.trim())) return undefined;
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  for (const [, amount, , unit] of header.trim().matchAll(/(\d+(\.\d+)?)(ms|s|m|h)/g))
    total += Number(amount) * units[unit!]!;
  return total;
}

/** `POST /files` (multipart `content` + `metadata`) and `GET /files/{id}`, as `lib/files.js` uses them. */
async function fileRoutes(context: RouteContext): Promise<boolean> {
  const { request, url, core, response } = context;
  const fileObject = (id: string, stored: { bytes: Buffer; contentType: string; createdAt: string }) => ({
    id,
    content_type: stored.contentType,
    size: stored.bytes.length,
    checksums: {},
    metadata: {},
    created_at: stored.createdAt,
    expires_at: null,
    urls: { get: `${core.origin}${BASE}/files/${id}` },
  });
  if (request.method === 'POST' && url.pathname === `${BASE}/files`) {
    if (!authorized(context, 'Bearer')) return (sendJson(response, 401, unauthorized), true);
    const form = await parseMultipart(request, await readBody(request));
    const content = form?.get('content');
    if (content === null || content === undefined || typeof content === 'string')
      return (sendJson(response, 422, invalid('content', 'a file is required')), true);
    const id = randomUUID().replace(/-/g, '');
    const stored = {
      bytes: Buffer.from(await content.arrayBuffer()),
      contentType: content.type || 'application/octet-stream',
      createdAt: new Date().toISOString(),
    };
    files.set(id, stored);
    sendJson(response, 201, fileObject(id, stored));
    return true;
  }
  const file = new RegExp(`^${BASE}/files/([^/]+)$`).exec(url.pathname);
  if (request.method === 'GET' && file !== null) {
    const stored = files.get(file[1]!);
    if (!authorized(context, 'Bearer')) sendJson(response, 401, unauthorized);
    else if (stored === undefined) sendJson(response, 404, { detail: 'Not found.', status: 404 });
    else sendJson(response, 200, fileObject(file[1]!, stored));
    return true;
  }
  return false;
}

/** `GET /models/openai/gpt-image-2`: the model with its latest version's input schema (free; `providers --check`). */
function model(context: RouteContext): void {
  if (!authorized(context, 'Bearer')) return sendJson(context.response, 401, unauthorized);
  const properties: Record<string, Record<string, unknown>> = Object.fromEntries(
    INPUT_FIELDS.map((name) => [name, ENUMS[name] === undefined ? {} : { enum: ENUMS[name] }]),
  );
  properties.number_of_images = { type: 'integer', minimum: 1, maximum: 10 };
  sendJson(context.response, 200, {
    url: `https://replicate.com/${MODEL}`,
    owner: 'openai',
    name: 'gpt-image-2',
    description: "OpenAI's state-of-the-art image generation model.",
    latest_version: {
      id: 'simulated',
      openapi_schema: { components: { schemas: { Input: { type: 'object', properties } } } },
    },
  });
}

/** Replicate's routes. */
export const replicateRoutes: ProviderRoutes = async (context) => {
  const { request, url } = context;
  if (request.method === 'POST' && url.pathname === `${BASE}/models/${MODEL}/predictions`) {
    await create(context);
    return true;
  }
  if (request.method === 'GET' && url.pathname === `${BASE}/models/${MODEL}`) {
    model(context);
    return true;
  }
  if (request.method === 'GET' && url.pathname === `${BASE}/webhooks/default/secret`) {
    // The signing secret of the account's webhooks (replicate-javascript README, `webhooks.default.secret.get`).
    if (!authorized(context, 'Bearer')) sendJson(context.response, 401, unauthorized);
    else sendJson(context.response, 200, { key: webhookSenderOf(context.core).secret });
    return true;
  }
  const cancelMatch = new RegExp(`^${BASE}/predictions/([^/]+)/cancel$`).exec(url.pathname);
  if (request.method === 'POST' && cancelMatch !== null) {
    // `POST /predictions/{id}/cancel` (replicate-javascript `predictions.cancel`): the prediction as it is after the
    // cancel — `canceled` without `started_at` when it never started; one already running goes on (the simulator's
    // picture; Replicate stops it and bills its time: changelog 2025-10-16).
    if (!authorized(context, 'Bearer')) sendJson(context.response, 401, unauthorized);
    else {
      const task = context.core.task(decodeURIComponent(cancelMatch[1]!));
      if (task === undefined || task.provider !== 'replicate')
        sendJson(context.response, 404, { detail: 'Not found.', status: 404 });
      else {
        context.core.cancel(task);
        sendJson(context.response, 200, prediction(context, task));
      }
    }
    return true;
  }
  const match = new RegExp(`^${BASE}/predictions/([^/]+)$`).exec(url.pathname);
  if (request.method === 'GET' && match !== null) {
    if (!authorized(context, 'Bearer')) sendJson(context.response, 401, unauthorized);
    else {
      const task = context.core.task(decodeURIComponent(match[1]!));
      if (task === undefined || task.provider !== 'replicate')
        sendJson(context.response, 404, { detail: 'Not found.', status: 404 });
      else sendJson(context.response, 200, prediction(context, task));
    }
    return true;
  }
  return fileRoutes(context);
};
