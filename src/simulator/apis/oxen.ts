/**
 * Simulated Oxen.ai as its docs stand today (Oxen-AI/docs @edc2a51): the sync image endpoints, the async queue, and
 * the model endpoint with its `request_schema`. Only `gpt-image-2` is served — `gpt-image-2-edit` was removed from the
 * docs on 2026-07-01 (commit 94c48c3) and answers 404 "Model not found" (models/overview.mdx, "Errors"); the newer
 * source wins over the seeds. gpt-image-2's parameters (models/gpt-image-2.mdx): `prompt`, optional `input_image`,
 * `aspect_ratio`, `resolution` 1K|2K|4K, `quality` low|medium|high, `output_format`, `mask_url`; common to all models:
 * `response_format`, `target_namespace`. The sync endpoints validate at once; the queue validates when the generation
 * runs (async_queue.mdx, "Validation"), and its timestamps are Unix seconds.
 */
import type { OutputFormat } from '../../shared/job-definitions.js';
import {
  authorized,
  REFUSAL_MARKER,
  type ImageWork,
  type ProviderRoutes,
  type RouteContext,
} from '../core.js';
import { answeredByFault } from '../faults.js';
import { asText, replierFor, fetchInputImage, parseJson, readBody, sendJson } from '../http-helpers.js';
import { nearestRatio, sizeOfRatioAndTier } from '../sizes.js';
import sharp from 'sharp';

const GENERATE_PATH = '/api/ai/images/generate';
const EDIT_PATH = '/api/ai/images/edit';
const QUEUE_PATH = '/api/ai/queue';
const MODELS_PATH = '/api/ai/models';
const MODEL = 'gpt-image-2';
const RATIOS = ['1:1', '16:9', '9:16', '4:3', '3:4', '3:2', '2:3', '21:9', '9:21'];
const TIERS = ['1K', '2K', '4K'];

/** gpt-image-2's request schema, as `GET /api/ai/models/gpt-image-2` serves it (models/gpt-image-2.mdx). */
const REQUEST_SCHEMA = {
  type: 'object',
  required: ['prompt'],
  properties: {
    prompt: { type: 'string' },
    input_image: { type: 'array', items: { type: 'string' } },
    aspect_ratio: { type: 'string', enum: ['auto', ...RATIOS], default: '16:9' },
    resolution: { type: 'string', enum: TIERS, default: '2K' },
    quality: { type: 'string', enum: ['low', 'medium', 'high'], default: 'high' },
    output_format: { type: 'string', enum: ['png', 'jpeg', 'webp'], default: 'png' },
    mask_url: { type: 'string', format: 'uri' },
  },
};
const PARAMETERS = [...Object.keys(REQUEST_SCHEMA.properties), 'response_format', 'target_namespace'];

function oxenError(type: string, title: string, detail: string): unknown {
  return { error: { type, title, detail }, status: 'error', status_message: type };
}
const notFound = (model: unknown) => ({ error: { message: `Model not found: ${String(model)}` } });

function faultBody(status: number): unknown {
  if (status === 429)
    return oxenError('rate_limited', 'Too Many Requests', 'rate limit exceeded, retry later');
  if (status === 401) return oxenError('unauthorized', 'Unauthorized', 'missing or invalid API key');
  if (status === 402) return { error: { message: 'Insufficient credits' }, status: 'error' };
  if (status >= 500) return oxenError('internal_error', 'Internal Server Error', 'simulated server failure');
  return oxenError('invalid_params', 'Invalid parameters', 'prompt: simulated permanent rejection');
}

/** Why gpt-image-2 refuses `body`'s parameters, as `field: reason`, or undefined. */
function parameterProblem(body: Record<string, unknown>): string | undefined {
  const unknown = Object.keys(body).find((name) => name !== 'model' && !PARAMETERS.includes(name));
  if (unknown !== undefined) return `${unknown}: not a parameter of ${MODEL}`;
  if (typeof body.prompt !== 'string' || body.prompt === '') return 'prompt: is required';
  for (const [name, property] of Object.entries(REQUEST_SCHEMA.properties)) {
    const value = body[name];
    if (value === undefined || !('enum' in property)) continue;
    if (!(property.enum as readonly unknown[]).includes(value))
      return `${name}: must be one of ${(property.enum as readonly string[]).join(', ')}`;
  }
  if (
    body.input_image !== undefined &&
    (!Array.isArray(body.input_image) || body.input_image.some((item) => typeof item !== 'string'))
  )
    return 'input_image: must be an array of strings';
  if (body.response_format !== undefined && !['url', 'b64_json'].includes(asText(body.response_format)))
    return 'response_format: must be url or b64_json';
  return undefined;
}

/** The image work of valid parameters: the size from `aspect_ratio` (auto: the first input's shape) and `resolution`. */
async function workOf(body: Record<string, unknown>, count: number): Promise<ImageWork> {
  let inputs: Buffer[] = [];
  let mask: Buffer | undefined;
  try {
    inputs = await Promise.all(((body.input_image as string[] | undefined) ?? []).map(fetchInputImage));
    mask = typeof body.mask_url === 'string' ? await fetchInputImage(body.mask_url) : undefined;
  } catch (error) {
    throw new Error(`input_image: ${(error as Error).message}`);
  }
  let ratio = typeof body.aspect_ratio === 'string' ? body.aspect_ratio : '16:9';
  if (ratio === 'auto') {
    const first = inputs[0] === undefined ? undefined : await sharp(inputs[0]).metadata();
    ratio =
      first?.width === undefined || first.height === undefined
        ? '1:1'
        : nearestRatio({ width: first.width, height: first.height }, RATIOS);
  }
  return {
    operation: inputs.length > 0 ? 'edit' : 'generate',
    prompt: String(body.prompt),
    inputs,
    mask,
    size: sizeOfRatioAndTier(
      ratio,
      TIERS.indexOf(typeof body.resolution === 'string' ? body.resolution : '2K'),
    ),
    format: (body.output_format as OutputFormat | undefined) ?? 'png',
    count,
  };
}

async function handleSync(context: RouteContext): Promise<void> {
  const { core, request, response } = context;
  const body = parseJson((await readBody(request)).toString('utf8')) as Record<string, unknown> | undefined;
  const prompt = typeof body?.prompt === 'string' ? body.prompt : '';
  const record = core.recordSubmission('oxen', request, body, prompt);
  const reply = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
    record.status = status;
    sendJson(response, status, payload, { 'x-request-id': `sim-${crypto.randomUUID()}`, ...headers });
  };
  if (!authorized(context, 'Bearer')) return reply(401, faultBody(401));
  const operation = Array.isArray(body?.input_image) ? 'edit' : 'generate';
  const fault = core.takeFault('oxen', operation);
  await core.delay('oxen');
  if (answeredByFault(fault, reply, faultBody)) return;
  if (body === undefined || typeof body !== 'object')
    return reply(400, oxenError('invalid_params', 'Invalid parameters', 'body: not JSON'));
  if (body.model !== MODEL) return reply(404, notFound(body.model));
  const problem = parameterProblem(body);
  if (problem !== undefined) return reply(400, oxenError('invalid_params', 'Invalid parameters', problem));
  if (REFUSAL_MARKER.test(prompt))
    return reply(
      400,
      oxenError(
        'content_policy',
        'Content policy',
        'Your request was rejected by the safety system (simulated).',
      ),
    );
  let work: ImageWork;
  try {
    work = await workOf(body, 1);
  } catch (error) {
    return reply(400, oxenError('invalid_params', 'Invalid parameters', (error as Error).message));
  }
  const images = await core.makeImages(work);
  reply(200, {
    model: MODEL,
    created: Math.floor(Date.now() / 1000),
    images: images.map((image) =>
      body.response_format === 'b64_json' ? { b64_json: image.bytes.toString('base64') } : { url: image.url },
    ),
  });
}

async function handleQueueSubmit(context: RouteContext): Promise<void> {
  const { core, request, response } = context;
  const body = parseJson((await readBody(request)).toString('utf8')) as Record<string, unknown> | undefined;
  const prompt = typeof body?.prompt === 'string' ? body.prompt : '';
  const operation = Array.isArray(body?.input_image) ? 'edit' : 'generate';
  const record = core.recordSubmission('oxen', request, body, prompt);
  const reply = replierFor(record, response);
  if (!authorized(context, 'Bearer')) return reply(401, faultBody(401));
  const fault = core.takeFault('oxen', operation);
  if (answeredByFault(fault, reply, faultBody)) return;
  // Enqueue-time checks only: the model exists, num_generations is 1–4 (async_queue.mdx "Validation").
  if (body === undefined || typeof body.model !== 'string')
    return reply(400, oxenError('invalid_params', 'Invalid parameters', 'model: is required'));
  if (body.model !== MODEL) return reply(404, notFound(body.model));
  const count = body.num_generations === undefined ? 1 : Number(body.num_generations);
  if (!Number.isInteger(count) || count < 1 || count > 4)
    return reply(
      400,
      oxenError('invalid_params', 'Invalid parameters', 'num_generations: must be from 1 to 4'),
    );
  const { num_generations: _count, target_namespace: _namespace, ...parameters } = body;
  let failure: { kind: 'refused' | 'failed'; message: string } | undefined;
  let work: ImageWork | undefined;
  const problem = parameterProblem(parameters);
  if (fault?.taskFailure !== undefined) failure = { kind: 'failed', message: fault.taskFailure };
  else if (problem !== undefined) failure = { kind: 'failed', message: problem };
  else if (REFUSAL_MARKER.test(prompt))
    failure = {
      kind: 'refused',
      message: 'Content policy violation: the request was rejected by the safety system',
    };
  else {
    try {
      work = await workOf(parameters, 1);
    } catch (error) {
      failure = { kind: 'failed', message: (error as Error).message };
    }
  }
  const generations = Array.from({ length: count }, (_, index) => {
    const each =
      work === undefined
        ? undefined
        : { ...work, prompt: count > 1 ? `${work.prompt} (#${index + 1})` : work.prompt };
    const task = core.createTask('oxen', MODEL, body, each, failure);
    return { generation_id: task.id, status: 'queued' };
  });
  reply(200, { generations });
}

function handleQueueStatus(context: RouteContext, id: string): void {
  const { core, response } = context;
  if (!authorized(context, 'Bearer')) return sendJson(response, 401, faultBody(401));
  const task = core.task(id);
  if (task === undefined || task.provider !== 'oxen')
    return sendJson(response, 404, oxenError('resource_not_found', 'Not found', `no generation ${id}`));
  const state = core.stateOf(task);
  const status = {
    queued: 'queued',
    running: 'processing',
    succeeded: 'succeeded',
    failed: 'failed',
    cancelled: 'cancelled',
    // Oxen.ai takes no start deadline; never reached.
    aborted: 'failed',
  }[state];
  const seconds = (ms: number) => Math.floor(ms / 1000);
  const { model: _model, ...parameters } = task.input as Record<string, unknown>;
  sendJson(response, 200, {
    generation_id: task.id,
    model_name: task.model,
    media_type: 'image',
    status,
    result_url: state === 'succeeded' ? (task.images?.[0]?.url ?? null) : null,
    error_message: state === 'failed' ? (task.failure?.message ?? null) : null,
    enqueued_at: seconds(task.createdAt),
    started_at: state === 'queued' ? null : seconds(task.startsAt),
    completed_at: state === 'succeeded' || state === 'failed' ? seconds(task.finishesAt) : null,
    ...parameters,
  });
}

/**
 * USD per image the simulated model endpoint serves in `pricing.cost_per_image` (Oxen-AI/docs models/overview.mdx
 * "Pricing": `method`, `cost_per_image`). The simulator's picture: Oxen publishes no amounts (providers.md §3,
 * UNCONFIRMED); OpenAI's 1024x1024 high figure.
 */
export const SIMULATED_OXEN_COST_PER_IMAGE = 0.211;

/** `GET /api/ai/models/{id}`: the model object with its `request_schema` and `pricing` (models/overview.mdx). */
function handleModel(context: RouteContext, id: string): void {
  if (!authorized(context, 'Bearer'))
    return sendJson(context.response, 401, { error: { message: 'unauthenticated' } });
  if (id !== MODEL) return sendJson(context.response, 404, notFound(id));
  sendJson(context.response, 200, {
    id: MODEL,
    object: 'model',
    owned_by: 'oxen',
    display_name: 'GPT Image 2',
    model_type: 'base',
    endpoint: '/images/generate',
    capabilities: { input: ['text', 'image'], output: ['image'] },
    pricing: { method: 'per_image', cost_per_image: SIMULATED_OXEN_COST_PER_IMAGE },
    request_schema: REQUEST_SCHEMA,
  });
}

/** Oxen.ai's routes. */
export const oxenRoutes: ProviderRoutes = async (context) => {
  const { request, url } = context;
  if (request.method === 'POST' && (url.pathname === GENERATE_PATH || url.pathname === EDIT_PATH)) {
    await handleSync(context);
    return true;
  }
  if (request.method === 'POST' && url.pathname === QUEUE_PATH) {
    await handleQueueSubmit(context);
    return true;
  }
  const status = new RegExp(`^${QUEUE_PATH}/([^/]+)$`).exec(url.pathname);
  if (request.method === 'GET' && status !== null) {
    handleQueueStatus(context, decodeURIComponent(status[1]!));
    return true;
  }
  const model = new RegExp(`^${MODELS_PATH}/([^/]+)$`).exec(url.pathname);
  if (request.method === 'GET' && model !== null) {
    handleModel(context, decodeURIComponent(model[1]!));
    return true;
  }
  return false;
};
