/**
 * Simulated WaveSpeedAI `openai/gpt-image-2` edit and text-to-image: submit, then poll
 * `GET /api/v3/predictions/{id}/result`, every answer in the `{code, message, data}` envelope (wavespeed.ai/docs/shared/
 * api-result); a failed task is HTTP 200 with `data.status: failed`. Inputs as the current API pages list them
 * (wavespeed.ai/docs/docs-api/openai/openai-gpt-image-2-edit and -text-to-image, read 2026-12-02: `images`, `prompt`,
 * `aspect_ratio` of ten ratios, `resolution` 1k|2k|4k, `quality` low|medium|high, `enable_sync_mode`,
 * `enable_base64_output`); no `output_format` is listed there (llms.txt once named one), so it is refused here and the
 * image comes as PNG (our picture: UNCONFIRMED). `enable_sync_mode: true` holds the submission until the task ends and
 * answers with its outputs. Media uploads at `POST /api/v3/media/upload/binary` (multipart `file`, answering
 * `data.download_url`: wavespeed.ai/docs/docs-common-api/media-upload), the balance at `GET /api/v3/balance`
 * (wavespeed.ai/docs/docs-common-api/balance), and webhooks signed as wavespeed.ai/docs/docs-api/verifying_webhook
 * says, with the secret at `GET /api/v3/webhook/secret`.
 */
import { randomUUID } from 'node:crypto';
import sharp from 'sharp';
import {
  authorized,
  REFUSAL_MARKER,
  type ProviderRoutes,
  type RouteContext,
  type SimulatedTask,
} from '../core.js';
import { answeredByFault } from '../faults.js';
import {
  asText,
  replierFor,
  fetchInputImage,
  parseJson,
  parseMultipart,
  readBody,
  sendJson,
} from '../http-helpers.js';
import { nearestRatio, sizeOfRatioAndTier } from '../sizes.js';
import { webhookSenderOf } from '../webhooks.js';

const EDIT_PATH = '/api/v3/openai/gpt-image-2/edit';
const GENERATE_PATH = '/api/v3/openai/gpt-image-2/text-to-image';
const RATIOS = ['1:1', '3:2', '2:3', '3:4', '4:3', '4:5', '5:4', '9:16', '16:9', '21:9'];
const ENUMS: Record<string, readonly string[]> = {
  aspect_ratio: RATIOS,
  resolution: ['1k', '2k', '4k'],
  quality: ['low', 'medium', 'high'],
};
const FIELDS = [
  'prompt',
  'images',
  'aspect_ratio',
  'resolution',
  'quality',
  'enable_sync_mode',
  'enable_base64_output',
];

const error = (code: number, message: string) => ({ code, message, data: null });

function envelope(context: RouteContext, task: SimulatedTask): unknown {
  const state = context.core.stateOf(task);
  const status = {
    queued: 'created',
    running: 'processing',
    succeeded: 'completed',
    failed: 'failed',
    cancelled: 'cancelled',
    // WaveSpeedAI takes no start deadline; never reached.
    aborted: 'failed',
  }[state];
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

/** Why the task is refused (`Invalid parameter <name>: …`), or undefined. */
function parameterProblem(body: Record<string, unknown>, operation: 'generate' | 'edit'): string | undefined {
  const extra = Object.keys(body).find(
    (name) => !FIELDS.includes(name) || (name === 'images' && operation === 'generate'),
  );
  if (extra !== undefined) return `Invalid parameter ${extra}: not accepted`;
  if (typeof body.prompt !== 'string' || body.prompt === '') return 'Invalid parameter prompt: required';
  for (const [name, values] of Object.entries(ENUMS)) {
    if (body[name] !== undefined && !values.includes(asText(body[name])))
      return `Invalid parameter ${name}: must be one of ${values.join(', ')}`;
  }
  if (operation === 'edit' && (!Array.isArray(body.images) || body.images.length === 0))
    return 'Invalid parameter images: required';
  return undefined;
}

async function submit(context: RouteContext, operation: 'generate' | 'edit'): Promise<void> {
  const { core, request, response } = context;
  const body = (parseJson((await readBody(request)).toString('utf8')) ?? {}) as Record<string, unknown>;
  const prompt = typeof body.prompt === 'string' ? body.prompt : '';
  const record = core.recordSubmission('wavespeed', request, body, prompt);
  const reply = replierFor(record, response);
  if (!authorized(context, 'Bearer')) return reply(401, error(401, 'Unauthorized: invalid API key'));
  const fault = core.takeFault('wavespeed', operation);
  const messages: Record<number, string> = {
    402: 'Insufficient balance: please top up your account',
    429: 'Too Many Requests',
  };
  if (answeredByFault(fault, reply, (status) => error(status, messages[status] ?? 'Internal Server Error')))
    return;
  const problem = parameterProblem(body, operation);
  if (problem !== undefined) return reply(400, error(400, problem));
  let failure: SimulatedTask['failure'];
  if (fault?.taskFailure !== undefined) failure = { kind: 'failed', message: fault.taskFailure };
  if (REFUSAL_MARKER.test(prompt))
    failure = { kind: 'refused', message: 'The content was flagged as NSFW by the safety checker.' };
  let inputs: Buffer[] = [];
  if (failure === undefined && Array.isArray(body.images)) {
    try {
      inputs = await Promise.all((body.images as string[]).map(fetchInputImage));
    } catch (cause) {
      failure = { kind: 'failed', message: `could not download images: ${(cause as Error).message}` };
    }
  }
  // aspect_ratio: "Auto-detected from input image if not specified" (edit), else 1:1; resolution defaults to 1k.
  let ratio = typeof body.aspect_ratio === 'string' ? body.aspect_ratio : '1:1';
  if (body.aspect_ratio === undefined && inputs[0] !== undefined) {
    const first = await sharp(inputs[0]).metadata();
    if (first.width !== undefined && first.height !== undefined)
      ratio = nearestRatio({ width: first.width, height: first.height }, RATIOS);
  }
  const size = sizeOfRatioAndTier(ratio, ENUMS.resolution!.indexOf(asText(body.resolution ?? '1k')));
  const model = operation === 'edit' ? 'openai/gpt-image-2/edit' : 'openai/gpt-image-2/text-to-image';
  const task = core.createTask(
    'wavespeed',
    model,
    body,
    failure === undefined
      ? {
          operation,
          prompt,
          inputs,
          size,
          format: 'png',
          count: 1,
        }
      : undefined,
    failure,
  );
  // `?webhook=<url>`: the result is POSTed there once the task is done (wavespeed.ai/docs/how-to-use-webhooks; the
  // page shows no signature). Our picture of the body: the prediction as the result endpoint's `data` holds it.
  const webhook = context.url.searchParams.get('webhook');
  if (webhook !== null)
    webhookSenderOf(core).deliverWhenDone(
      task,
      webhook,
      'wavespeed',
      (done) => (envelope(context, done) as { data: unknown }).data,
    );
  // `enable_sync_mode`: "wait for the result to be generated and uploaded before returning the response".
  if (body.enable_sync_mode === true) {
    await task.ready;
    const wait = task.finishesAt - Date.now() + 1;
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
  reply(200, envelope(context, task));
}

/** `POST /api/v3/media/upload/binary`: store the multipart `file`, answer its `download_url`. */
async function upload(context: RouteContext): Promise<void> {
  const { core, request, response } = context;
  if (!authorized(context, 'Bearer'))
    return sendJson(response, 401, error(401, 'Unauthorized: invalid API key'));
  const form = await parseMultipart(request, await readBody(request));
  const file = form?.get('file');
  if (file === null || file === undefined || typeof file === 'string')
    return sendJson(response, 400, error(400, 'Invalid parameter file: required'));
  const bytes = Buffer.from(await file.arrayBuffer());
  const name = `upload-${randomUUID()}`;
  core.putFile(name, bytes, file.type || 'application/octet-stream');
  sendJson(response, 200, {
    code: 200,
    message: 'success',
    data: {
      type: 'image',
      download_url: `${core.origin}/files/${name}`,
      filename: file.name,
      size: bytes.length,
    },
  });
}

/**
 * USD of one run by quality and resolution tier, as the simulated pricing endpoint answers it. Published: low 1k
 * "From $0.060/run" (tropical.wavespeed.ai/gpt-image-2-api) and medium 1k "$0.1 per run" (the edit page's defaults);
 * the other cells are the simulator's picture (UNCONFIRMED).
 */
const RUN_PRICES: Record<string, readonly [number, number, number]> = {
  low: [0.06, 0.08, 0.12],
  medium: [0.1, 0.16, 0.26],
  high: [0.2, 0.34, 0.55],
};

/** `POST /api/v3/model/pricing` (wavespeed.ai/docs/docs-common-api/pricing): `data.unit_price` of one run. */
async function pricing(context: RouteContext): Promise<void> {
  const { request, response } = context;
  if (!authorized(context, 'Bearer'))
    return sendJson(response, 401, error(401, 'Unauthorized: invalid API key'));
  const body = (parseJson((await readBody(request)).toString('utf8')) ?? {}) as {
    model_id?: unknown;
    inputs?: Record<string, unknown>;
  };
  const models = ['openai/gpt-image-2/edit', 'openai/gpt-image-2/text-to-image'];
  if (typeof body.model_id !== 'string' || !models.includes(body.model_id))
    return sendJson(response, 400, error(400, 'Invalid parameter model_id: unknown model'));
  const inputs = body.inputs ?? {};
  const quality = asText(inputs.quality ?? 'medium');
  const tier = ENUMS.resolution!.indexOf(asText(inputs.resolution ?? '1k'));
  const price = RUN_PRICES[quality]?.[tier];
  if (price === undefined)
    return sendJson(response, 400, error(400, 'Invalid parameter inputs: unknown quality or resolution'));
  sendJson(response, 200, {
    code: 200,
    message: 'success',
    data: { model_id: body.model_id, unit_price: price, currency: 'USD' },
  });
}

/** WaveSpeedAI's routes. */
export const wavespeedRoutes: ProviderRoutes = async (context) => {
  const { request, url } = context;
  if (request.method === 'POST' && (url.pathname === EDIT_PATH || url.pathname === GENERATE_PATH)) {
    await submit(context, url.pathname === EDIT_PATH ? 'edit' : 'generate');
    return true;
  }
  if (request.method === 'POST' && url.pathname === '/api/v3/model/pricing') {
    await pricing(context);
    return true;
  }
  if (request.method === 'POST' && url.pathname === '/api/v3/media/upload/binary') {
    await upload(context);
    return true;
  }
  if (request.method === 'GET' && url.pathname === '/api/v3/webhook/secret') {
    // The page shows the call, not its answer: our picture is the API's envelope with `data.secret`.
    if (!authorized(context, 'Bearer'))
      sendJson(context.response, 401, error(401, 'Unauthorized: invalid API key'));
    else
      sendJson(context.response, 200, {
        code: 200,
        message: 'success',
        data: { secret: webhookSenderOf(context.core).secret },
      });
    return true;
  }
  if (request.method === 'GET' && url.pathname === '/api/v3/balance') {
    if (!authorized(context, 'Bearer'))
      sendJson(context.response, 401, error(401, 'Unauthorized: invalid API key'));
    else sendJson(context.response, 200, { code: 200, message: 'success', data: { balance: 100 } });
    return true;
  }
  const match = /^\/api\/v3\/predictions\/([^/]+?)(\/result)?$/.exec(url.pathname);
  if (request.method === 'GET' && match !== null) {
    if (!authorized(context, 'Bearer'))
      sendJson(context.response, 401, error(401, 'Unauthorized: invalid API key'));
    else {
      const task = context.core.task(decodeURIComponent(match[1]!));
      if (task === undefined || task.provider !== 'wavespeed')
        sendJson(context.response, 404, error(404, 'prediction not found'));
      else sendJson(context.response, 200, envelope(context, task));
    }
    return true;
  }
  return false;
};
