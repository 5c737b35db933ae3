/**
 * Simulated fal.ai queue API for openai/gpt-image-2 and openai/gpt-image-2/edit, plus fal storage uploads.
 */
import { randomUUID } from 'node:crypto';
import {
  FAL_BASE_APP,
  FAL_EDIT_APP,
  FAL_GENERATE_APP,
  FAL_IMAGE_SIZE_PRESETS,
  FAL_MIN_PIXELS,
  falEditInputSchema,
  falGenerateInputSchema,
} from '../../providers/fal/wire-schema.js';
import { customSizeProblem } from '../../providers/size-rules.js';
import type { Resolution } from '../../shared/resolution-tier.js';
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

const uploads = new Map<string, string>();

function validationError(field: string, message: string, type = 'value_error'): unknown {
  return { detail: [{ loc: ['body', field], msg: message, type }] };
}

function sizeOf(imageSize: unknown, operation: 'generate' | 'edit'): Resolution {
  if (imageSize !== null && typeof imageSize === 'object') return imageSize as Resolution;
  if (typeof imageSize === 'string' && imageSize in FAL_IMAGE_SIZE_PRESETS) {
    return FAL_IMAGE_SIZE_PRESETS[imageSize as keyof typeof FAL_IMAGE_SIZE_PRESETS];
  }
  // `auto`: the edit endpoint infers from the input; text-to-image defaults to landscape_4_3.
  return operation === 'edit' ? { width: 1024, height: 1024 } : FAL_IMAGE_SIZE_PRESETS.landscape_4_3;
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
  const parsed = (operation === 'edit' ? falEditInputSchema : falGenerateInputSchema).safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : issue.path.join('.') || 'body';
    return reply(422, validationError(field, issue.message));
  }
  const input = parsed.data as Record<string, unknown> & { prompt: string };
  const size = sizeOf(input.image_size, operation);
  const sizeProblem =
    typeof input.image_size === 'object' ? customSizeProblem(size, FAL_MIN_PIXELS) : undefined;
  if (sizeProblem !== undefined) return reply(422, validationError('image_size', sizeProblem));
  let failure: SimulatedTask['failure'];
  if (fault?.taskFailure !== undefined) failure = { kind: 'failed', message: fault.taskFailure };
  if (REFUSAL_MARKER.test(prompt))
    failure = { kind: 'refused', message: 'The content was flagged by the safety checker.' };
  let inputs: Buffer[] = [];
  let mask: Buffer | undefined;
  if (operation === 'edit' && failure === undefined) {
    try {
      inputs = await Promise.all((input.image_urls as string[]).map(fetchInputImage));
      const maskUrl = (input.mask_url ?? input.mask_image_url) as string | undefined;
      mask = maskUrl === undefined ? undefined : await fetchInputImage(maskUrl);
    } catch (error) {
      return reply(422, validationError('image_urls', (error as Error).message, 'image_load_error'));
    }
  }
  const app = operation === 'edit' ? FAL_EDIT_APP : FAL_GENERATE_APP;
  const task = core.createTask(
    'fal',
    app,
    input,
    failure === undefined
      ? {
          operation,
          prompt,
          inputs,
          mask,
          size,
          format: (input.output_format as 'png' | 'jpeg' | 'webp' | undefined) ?? 'png',
          count: (input.num_images as number | undefined) ?? 1,
        }
      : undefined,
    failure,
  );
  const base = `${core.origin}/${FAL_BASE_APP}/requests/${task.id}`;
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

function status(context: RouteContext, task: SimulatedTask): void {
  const state = context.core.stateOf(task);
  const base = `${context.core.origin}/${FAL_BASE_APP}/requests/${task.id}`;
  if (state === 'queued')
    return sendJson(context.response, 202, { status: 'IN_QUEUE', queue_position: 0, response_url: base });
  if (state === 'running')
    return sendJson(context.response, 202, { status: 'IN_PROGRESS', logs: [], response_url: base });
  sendJson(context.response, 200, {
    status: 'COMPLETED',
    logs: [],
    metrics: { inference_time: 1.2 },
    response_url: base,
  });
}

function result(context: RouteContext, task: SimulatedTask): void {
  const state = context.core.stateOf(task);
  if (state === 'queued' || state === 'running')
    return sendJson(context.response, 400, { detail: 'Request is still in progress' });
  if (task.failure?.kind === 'refused') {
    return sendJson(
      context.response,
      422,
      validationError('prompt', task.failure.message, 'content_policy_violation'),
    );
  }
  if (task.failure !== undefined) {
    return sendJson(context.response, 500, { detail: task.failure.message, error_type: 'internal_error' });
  }
  sendJson(context.response, 200, {
    images: (task.images ?? []).map((image) => ({
      url: image.url,
      content_type: image.contentType,
      file_name: image.url.split('/').pop(),
      file_size: image.bytes.length,
      width: image.width,
      height: image.height,
    })),
  });
}

/** fal.ai's routes. */
export const falRoutes: ProviderRoutes = async (context) => {
  const { request, url, core } = context;
  if (
    request.method === 'POST' &&
    (url.pathname === `/${FAL_GENERATE_APP}` || url.pathname === `/${FAL_EDIT_APP}`)
  ) {
    await submit(context, url.pathname === `/${FAL_EDIT_APP}` ? 'edit' : 'generate');
    return true;
  }
  const match = new RegExp(`^/${FAL_BASE_APP}/requests/([^/]+)(/status)?$`).exec(url.pathname);
  if (request.method === 'GET' && match !== null) {
    if (!authorized(context, 'Key'))
      sendJson(context.response, 401, { detail: 'Invalid or missing API key' });
    else {
      const task = core.task(decodeURIComponent(match[1]!));
      if (task === undefined || task.provider !== 'fal')
        sendJson(context.response, 404, { detail: 'Request not found' });
      else if (match[2] === '/status') status(context, task);
      else result(context, task);
    }
    return true;
  }
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
};
