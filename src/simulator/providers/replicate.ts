/**
 * Simulated Replicate predictions for openai/gpt-image-2: create with `Prefer: wait` (holds up to the wait time),
 * then `GET /v1/predictions/{id}`.
 */
import {
  REPLICATE_ASPECT_RATIOS,
  REPLICATE_MODEL,
  replicateCreateBodySchema,
} from '../../providers/replicate/wire-schema.js';
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
  type ProviderRoutes,
  type RouteContext,
  type SimulatedTask,
} from '../core.js';

function prediction(context: RouteContext, task: SimulatedTask): Record<string, unknown> {
  const state = context.core.stateOf(task);
  const status = { queued: 'starting', running: 'processing', succeeded: 'succeeded', failed: 'failed' }[
    state
  ];
  const base = `${context.core.origin}/v1/predictions/${task.id}`;
  return {
    id: task.id,
    model: REPLICATE_MODEL,
    version: 'hidden',
    input: task.input,
    logs: '',
    output: state === 'succeeded' ? (task.images ?? []).map((image) => image.url) : null,
    data_removed: false,
    error: state === 'failed' ? (task.failure?.message ?? 'failed') : null,
    status,
    created_at: new Date(task.createdAt).toISOString(),
    started_at: state === 'queued' ? null : new Date(task.startsAt).toISOString(),
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

function unauthorized(context: RouteContext): void {
  sendJson(context.response, 401, {
    title: 'Unauthenticated',
    detail: 'You did not pass a valid authentication token',
    status: 401,
  });
}

async function create(context: RouteContext): Promise<void> {
  const { core, request, response } = context;
  const body = parseJson((await readBody(request)).toString('utf8')) as
    { input?: Record<string, unknown> } | undefined;
  const prompt = typeof body?.input?.prompt === 'string' ? body.input.prompt : '';
  const operation =
    Array.isArray(body?.input?.input_images) && body.input.input_images.length > 0 ? 'edit' : 'generate';
  const record = core.recordSubmission('replicate', request, body, prompt);
  const reply = replierFor(record, response);
  if (!authorized(context, 'Bearer')) {
    record.status = 401;
    return unauthorized(context);
  }
  const fault = core.takeFault('replicate', operation);
  const faultBodies: Record<number, unknown> = {
    402: {
      title: 'Insufficient credit',
      detail:
        'You have insufficient credit to run this model. Go to https://replicate.com/account/billing#billing to purchase credit.',
      status: 402,
    },
    429: {
      detail: `Request was throttled. Your rate limit resets in ~${fault?.retryAfterSeconds ?? 30}s.`,
      status: 429,
    },
  };
  const faultBody = (status: number) =>
    faultBodies[status] ?? { title: 'Internal Server Error', detail: 'simulated failure', status };
  if (answeredByFault(fault, reply, faultBody)) return;
  const parsed = replicateCreateBodySchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field =
      issue.code === 'unrecognized_keys' ? `${issue.path.join('.')}.${issue.keys[0]}` : issue.path.join('.');
    return reply(422, {
      title: 'Input validation failed',
      detail: `- ${field}: ${issue.message}`,
      status: 422,
      invalid_fields: [{ type: issue.code, field, description: issue.message }],
    });
  }
  const input = parsed.data.input;
  let failure: SimulatedTask['failure'];
  if (fault?.taskFailure !== undefined) failure = { kind: 'failed', message: fault.taskFailure };
  if (REFUSAL_MARKER.test(prompt)) {
    failure = {
      kind: 'refused',
      message:
        'Your request was rejected by the safety system. (E005) The input or output was flagged as sensitive.',
    };
  }
  let inputs: Buffer[] = [];
  if (failure === undefined && input.input_images !== undefined) {
    try {
      inputs = await Promise.all(input.input_images.map(fetchInputImage));
    } catch (error) {
      failure = { kind: 'failed', message: `could not read input_images: ${(error as Error).message}` };
    }
  }
  const ratio = (input.aspect_ratio ?? '1:1') as keyof typeof REPLICATE_ASPECT_RATIOS;
  const task = core.createTask(
    'replicate',
    REPLICATE_MODEL,
    input,
    failure === undefined
      ? {
          operation,
          prompt,
          inputs,
          size: parseResolution(REPLICATE_ASPECT_RATIOS[ratio])!,
          format: input.output_format ?? 'webp',
          count: input.number_of_images ?? 1,
        }
      : undefined,
    failure,
  );
  // `Prefer: wait[=N]` holds the answer until the prediction finishes or N seconds (max 60) pass.
  const prefer = /^wait(?:=(\d+))?$/.exec(String(request.headers.prefer ?? '').trim());
  if (prefer !== null) {
    const waitMs = Math.min(Number(prefer[1] ?? 60), 60) * 1000;
    const until = Date.now() + waitMs;
    while (Date.now() < until && ['queued', 'running'].includes(core.stateOf(task))) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  reply(201, prediction(context, task));
}

/** Replicate's routes. */
export const replicateRoutes: ProviderRoutes = async (context) => {
  const { request, url } = context;
  if (request.method === 'POST' && url.pathname === `/v1/models/${REPLICATE_MODEL}/predictions`) {
    await create(context);
    return true;
  }
  const match = /^\/v1\/predictions\/([^/]+)$/.exec(url.pathname);
  if (request.method === 'GET' && match !== null) {
    if (!authorized(context, 'Bearer')) unauthorized(context);
    else {
      const task = context.core.task(decodeURIComponent(match[1]!));
      if (task === undefined || task.provider !== 'replicate')
        sendJson(context.response, 404, { detail: 'Not found.', status: 404 });
      else sendJson(context.response, 200, prediction(context, task));
    }
    return true;
  }
  return false;
};
