/**
 * Simulated Oxen.ai: sync image endpoints, the async queue, and the model endpoint with its json_request_schema.
 */
import {
  OXEN_EDIT_PATH,
  OXEN_GENERATE_PATH,
  OXEN_MODELS_PATH,
  OXEN_QUEUE_PATH,
  oxenImageRequestSchema,
  oxenQueueRequestSchema,
  seededJsonRequestSchema,
} from '../../providers/oxen/wire-schema.js';
import type { OutputFormat } from '../../shared/job-definitions.js';
import { parseResolution } from '../../shared/resolution-tier.js';
import {
  answeredByFault,
  authorized,
  replierFor,
  fetchInputImage,
  parseJson,
  readBody,
  REFUSAL_MARKER,
  sendJson,
  type ImageWork,
  type ProviderRoutes,
  type RouteContext,
} from '../core.js';

const MODELS: Record<'generate' | 'edit', readonly string[]> = {
  generate: ['gpt-image-2'],
  edit: ['gpt-image-2-edit', 'gpt-image-2'],
};

function oxenError(type: string, title: string, detail: string): unknown {
  return { error: { type, title, detail }, status: 'error', status_message: type };
}

function faultBody(status: number): unknown {
  if (status === 429)
    return oxenError('rate_limited', 'Too Many Requests', 'rate limit exceeded, retry later');
  if (status === 401) return oxenError('unauthorized', 'Unauthorized', 'missing or invalid API key');
  if (status === 402) return { error: { message: 'Insufficient credits' }, status: 'error' };
  if (status >= 500) return oxenError('internal_error', 'Internal Server Error', 'simulated server failure');
  return oxenError('invalid_params', 'Invalid parameters', 'prompt: simulated permanent rejection');
}

/** Turn validated parameters into image work. @throws Error naming the bad field. */
async function workOf(
  operation: 'generate' | 'edit',
  input: {
    prompt: string;
    input_image?: string[] | undefined;
    mask_url?: string | undefined;
    resolution?: string | undefined;
    output_format?: OutputFormat | undefined;
  },
  count: number,
): Promise<ImageWork> {
  if (operation === 'edit' && input.input_image === undefined) throw new Error('input_image: is required');
  if (operation === 'generate' && (input.input_image !== undefined || input.mask_url !== undefined)) {
    throw new Error('input_image: not accepted by the generate endpoint');
  }
  let inputs: Buffer[] = [];
  let mask: Buffer | undefined;
  try {
    inputs = await Promise.all((input.input_image ?? []).map(fetchInputImage));
    mask = input.mask_url === undefined ? undefined : await fetchInputImage(input.mask_url);
  } catch (error) {
    throw new Error(`input_image: ${(error as Error).message}`);
  }
  return {
    operation,
    prompt: input.prompt,
    inputs,
    mask,
    size: parseResolution(input.resolution ?? '1024x1024')!,
    format: input.output_format ?? 'png',
    count,
  };
}

async function handleSync(context: RouteContext, operation: 'generate' | 'edit'): Promise<void> {
  const { core, request, response } = context;
  const body = parseJson((await readBody(request)).toString('utf8'));
  const prompt =
    typeof (body as { prompt?: unknown })?.prompt === 'string' ? (body as { prompt: string }).prompt : '';
  const record = core.recordSubmission('oxen', request, body, prompt);
  const reply = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
    record.status = status;
    sendJson(response, status, payload, { 'x-request-id': `sim-${crypto.randomUUID()}`, ...headers });
  };
  if (!authorized(context, 'Bearer'))
    return reply(401, oxenError('unauthorized', 'Unauthorized', 'missing or invalid API key'));
  const fault = core.takeFault('oxen', operation);
  await core.delay();
  if (answeredByFault(fault, reply, faultBody)) return;
  const parsed = oxenImageRequestSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field =
      issue.path.join('.') || (issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : 'body');
    return reply(400, oxenError('invalid_params', 'Invalid parameters', `${field}: ${issue.message}`));
  }
  const input = parsed.data;
  if (!MODELS[operation].includes(input.model))
    return reply(404, { error: { message: `Model not found: ${input.model}` } });
  if (REFUSAL_MARKER.test(input.prompt)) {
    return reply(
      400,
      oxenError(
        'content_policy',
        'Content policy',
        'Your request was rejected by the safety system (simulated).',
      ),
    );
  }
  let work: ImageWork;
  try {
    work = await workOf(operation, input, input.num_images ?? 1);
  } catch (error) {
    return reply(400, oxenError('invalid_params', 'Invalid parameters', (error as Error).message));
  }
  const images = await core.makeImages(work);
  reply(200, {
    model: input.model,
    created: Math.floor(Date.now() / 1000),
    images: images.map((image) =>
      input.response_format === 'b64_json'
        ? { b64_json: image.bytes.toString('base64') }
        : { url: image.url },
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
  if (!authorized(context, 'Bearer'))
    return reply(401, oxenError('unauthorized', 'Unauthorized', 'missing or invalid API key'));
  const fault = core.takeFault('oxen', operation);
  if (answeredByFault(fault, reply, faultBody)) return;
  if (body === undefined || typeof body.model !== 'string' || prompt === '') {
    return reply(400, oxenError('invalid_params', 'Invalid parameters', 'model and prompt are required'));
  }
  if (!MODELS[operation].includes(body.model))
    return reply(404, { error: { message: `Model not found: ${body.model}` } });
  const count = typeof body.num_generations === 'number' ? body.num_generations : 1;
  // Oxen validates queued parameters when the generation runs: a bad one ends the generation failed.
  const parsed = oxenQueueRequestSchema.safeParse(body);
  let failure: { kind: 'refused' | 'failed'; message: string } | undefined;
  let work: ImageWork | undefined;
  if (fault?.taskFailure !== undefined) failure = { kind: 'failed', message: fault.taskFailure };
  else if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    failure = { kind: 'failed', message: `${issue.path.join('.') || 'body'}: ${issue.message}` };
  } else if (REFUSAL_MARKER.test(prompt)) {
    failure = {
      kind: 'refused',
      message: 'Content policy violation: the request was rejected by the safety system',
    };
  } else {
    try {
      work = await workOf(operation, parsed.data, 1);
    } catch (error) {
      failure = { kind: 'failed', message: (error as Error).message };
    }
  }
  const generations = Array.from({ length: Math.max(1, Math.min(count, 4)) }, (_, index) => {
    const task = core.createTask(
      'oxen',
      body.model as string,
      body,
      work === undefined
        ? undefined
        : { ...work, prompt: count > 1 ? `${work.prompt} (#${index + 1})` : work.prompt },
      failure,
    );
    return { generation_id: task.id, status: 'queued' };
  });
  reply(200, { generations });
}

function handleQueueStatus(context: RouteContext, id: string): void {
  const { core, response } = context;
  if (!authorized(context, 'Bearer'))
    return sendJson(response, 401, oxenError('unauthorized', 'Unauthorized', 'missing or invalid API key'));
  const task = core.task(id);
  if (task === undefined || task.provider !== 'oxen') {
    return sendJson(response, 404, oxenError('resource_not_found', 'Not found', `no generation ${id}`));
  }
  const state = core.stateOf(task);
  const status = { queued: 'queued', running: 'processing', succeeded: 'succeeded', failed: 'failed' }[state];
  sendJson(response, 200, {
    generation_id: task.id,
    model_name: task.model,
    media_type: 'image',
    status,
    result_url: state === 'succeeded' ? (task.images?.[0]?.url ?? null) : null,
    error_message: state === 'failed' ? (task.failure?.message ?? null) : null,
    enqueued_at: new Date(task.createdAt).toISOString(),
    started_at: state === 'queued' ? null : new Date(task.startsAt).toISOString(),
    completed_at:
      state === 'succeeded' || state === 'failed' ? new Date(task.finishesAt).toISOString() : null,
  });
}

/** Oxen.ai's routes. */
export const oxenRoutes: ProviderRoutes = async (context) => {
  const { request, url, response } = context;
  if (request.method === 'POST' && (url.pathname === OXEN_GENERATE_PATH || url.pathname === OXEN_EDIT_PATH)) {
    await handleSync(context, url.pathname === OXEN_EDIT_PATH ? 'edit' : 'generate');
    return true;
  }
  if (request.method === 'POST' && url.pathname === OXEN_QUEUE_PATH) {
    await handleQueueSubmit(context);
    return true;
  }
  const status = new RegExp(`^${OXEN_QUEUE_PATH}/([^/]+)$`).exec(url.pathname);
  if (request.method === 'GET' && status !== null) {
    handleQueueStatus(context, decodeURIComponent(status[1]!));
    return true;
  }
  const model = new RegExp(`^${OXEN_MODELS_PATH}/([^/]+)$`).exec(url.pathname);
  if (request.method === 'GET' && model !== null) {
    const id = decodeURIComponent(model[1]!);
    if (!authorized(context, 'Bearer'))
      sendJson(response, 401, oxenError('unauthorized', 'Unauthorized', 'missing or invalid API key'));
    else if (id === 'gpt-image-2' || id === 'gpt-image-2-edit') {
      sendJson(response, 200, {
        id,
        name: id,
        json_request_schema: seededJsonRequestSchema(id === 'gpt-image-2' ? 'generate' : 'edit'),
      });
    } else sendJson(response, 404, { error: { message: `Model not found: ${id}` } });
    return true;
  }
  return false;
};
