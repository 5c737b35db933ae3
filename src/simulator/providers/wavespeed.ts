/**
 * Simulated WaveSpeedAI openai/gpt-image-2 edit and text-to-image: submit, then poll
 * `GET /api/v3/predictions/{id}/result`, every answer in the `{code, message, data}` envelope; a failed task is HTTP
 * 200 with `data.status: failed`.
 */
import {
  WAVESPEED_EDIT_PATH,
  WAVESPEED_GENERATE_PATH,
  WAVESPEED_LONG_EDGE,
  wavespeedBodySchema,
} from '../../providers/wavespeed/wire-schema.js';
import { sizeForAspectRatio } from '../../providers/size-rules.js';
import {
  answeredByFault,
  authorized,
  replierFor,
  fetchInputImage,
  parseJson,
  readBody,
  REFUSAL_MARKER,
  sendJson,
  type ProviderRoutes,
  type RouteContext,
  type SimulatedTask,
} from '../core.js';

function envelope(context: RouteContext, task: SimulatedTask): unknown {
  const state = context.core.stateOf(task);
  const status = { queued: 'created', running: 'processing', succeeded: 'completed', failed: 'failed' }[
    state
  ];
  return {
    code: 200,
    message: 'success',
    data: {
      id: task.id,
      model: task.model,
      outputs: state === 'succeeded' ? (task.images ?? []).map((image) => image.url) : [],
      urls: { get: `${context.core.origin}/api/v3/predictions/${task.id}/result` },
      has_nsfw_contents: state === 'succeeded' ? (task.images ?? []).map(() => false) : [],
      status,
      created_at: new Date(task.createdAt).toISOString(),
      error: state === 'failed' ? (task.failure?.message ?? 'failed') : '',
      timings: { inference: state === 'succeeded' ? task.finishesAt - task.startsAt : 0 },
    },
  };
}

async function submit(context: RouteContext, operation: 'generate' | 'edit'): Promise<void> {
  const { core, request, response } = context;
  const body = parseJson((await readBody(request)).toString('utf8')) as Record<string, unknown> | undefined;
  const prompt = typeof body?.prompt === 'string' ? body.prompt : '';
  const record = core.recordSubmission('wavespeed', request, body, prompt);
  const reply = replierFor(record, response);
  if (!authorized(context, 'Bearer'))
    return reply(401, { code: 401, message: 'Unauthorized: invalid API key', data: null });
  const fault = core.takeFault('wavespeed', operation);
  const messages: Record<number, string> = {
    402: 'Insufficient balance: please top up your account',
    429: 'Too Many Requests',
  };
  const faultBody = (status: number) => ({
    code: status,
    message: messages[status] ?? 'Internal Server Error',
    data: null,
  });
  if (answeredByFault(fault, reply, faultBody)) return;
  const parsed = wavespeedBodySchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.code === 'unrecognized_keys' ? issue.keys[0]! : issue.path.join('.');
    return reply(400, { code: 400, message: `Invalid parameter ${field}: ${issue.message}`, data: null });
  }
  const input = parsed.data;
  if (operation === 'edit' && input.images === undefined)
    return reply(400, { code: 400, message: 'Invalid parameter images: required', data: null });
  if (operation === 'generate' && input.images !== undefined)
    return reply(400, {
      code: 400,
      message: 'Invalid parameter images: not accepted by text-to-image',
      data: null,
    });
  let failure: SimulatedTask['failure'];
  if (fault?.taskFailure !== undefined) failure = { kind: 'failed', message: fault.taskFailure };
  if (REFUSAL_MARKER.test(prompt))
    failure = { kind: 'refused', message: 'The content was flagged as NSFW by the safety checker.' };
  let inputs: Buffer[] = [];
  if (failure === undefined && input.images !== undefined) {
    try {
      inputs = await Promise.all(input.images.map(fetchInputImage));
    } catch (error) {
      failure = { kind: 'failed', message: `could not download images: ${(error as Error).message}` };
    }
  }
  const size = sizeForAspectRatio(input.aspect_ratio ?? '1:1', WAVESPEED_LONG_EDGE[input.resolution ?? '1k']);
  const model = operation === 'edit' ? 'openai/gpt-image-2/edit' : 'openai/gpt-image-2/text-to-image';
  const task = core.createTask(
    'wavespeed',
    model,
    input,
    failure === undefined
      ? { operation, prompt, inputs, size, format: input.output_format ?? 'png', count: 1 }
      : undefined,
    failure,
  );
  reply(200, envelope(context, task));
}

/** WaveSpeedAI's routes. */
export const wavespeedRoutes: ProviderRoutes = async (context) => {
  const { request, url } = context;
  if (
    request.method === 'POST' &&
    (url.pathname === WAVESPEED_EDIT_PATH || url.pathname === WAVESPEED_GENERATE_PATH)
  ) {
    await submit(context, url.pathname === WAVESPEED_EDIT_PATH ? 'edit' : 'generate');
    return true;
  }
  const match = /^\/api\/v3\/predictions\/([^/]+?)(\/result)?$/.exec(url.pathname);
  if (request.method === 'GET' && match !== null) {
    if (!authorized(context, 'Bearer'))
      sendJson(context.response, 401, { code: 401, message: 'Unauthorized: invalid API key', data: null });
    else {
      const task = context.core.task(decodeURIComponent(match[1]!));
      if (task === undefined || task.provider !== 'wavespeed')
        sendJson(context.response, 404, { code: 404, message: 'prediction not found', data: null });
      else sendJson(context.response, 200, envelope(context, task));
    }
    return true;
  }
  return false;
};
