/**
 * Replicate adapter: `POST /models/openai/gpt-image-2/predictions` with `Prefer: wait=5` (the answer may already be
 * final), then poll `GET /predictions/{id}` until `succeeded`, `failed`, `canceled` or `aborted`.
 * `Authorization: Bearer`. Local input images go as data URIs. Wire format: ./wire-schema.ts.
 */
import type { ProviderSettings } from '../../shared/config.js';
import {
  AuthenticationError,
  BadRequestError,
  ContentPolicyError,
  InsufficientCreditError,
  InvalidResponseError,
  RateLimitedError,
  TaskFailedError,
  type FieldError,
  type ProviderError,
} from '../../shared/errors.js';
import type { ImageRequest, Quality } from '../../shared/job-definitions.js';
import {
  errorForStatus,
  getOnce,
  parseRetryAfterMs,
  postOnce,
  type HttpResponse,
  authorizedCallOptions,
} from '../http.js';
import { toFetchableImage } from '../image-inputs.js';
import type {
  CallContext,
  ImageProvider,
  PendingRequest,
  PollResult,
  ProviderResponse,
  SubmitResult,
} from '../provider.js';
import {
  REPLICATE_ASPECT_RATIOS,
  REPLICATE_MAX_IMAGES,
  REPLICATE_MODEL,
  replicateErrorSchema,
  replicatePredictionSchema,
  type ReplicatePrediction,
} from './wire-schema.js';

/** Settings the adapter needs. */
export type ReplicateSettings = Pick<ProviderSettings, 'apiKey' | 'baseUrl' | 'timeoutMs'>;

/**
 * Seconds the create call may block (`Prefer: wait=N`, at most 60). Short, because the prediction id arrives only
 * with the answer: a worker killed while the create call blocks leaves an uncertain outcome, not a resumable one.
 */
export const REPLICATE_PREFER_WAIT_SECONDS = 5;

const RATIO_BY_SIZE = Object.fromEntries(
  Object.entries(REPLICATE_ASPECT_RATIOS).map(([ratio, size]) => [size, ratio]),
);

/** The Replicate provider. */
export class ReplicateProvider implements ImageProvider {
  readonly name = 'replicate' as const;
  /** Replicate's default quality is `auto`; estimated as `high`, the most it can cost. */
  readonly defaultQuality: Quality = 'high';
  readonly asynchronous = true;

  constructor(private readonly settings: ReplicateSettings) {}

  modelFor(request: ImageRequest): string {
    return request.model ?? REPLICATE_MODEL;
  }

  checkRequest(request: ImageRequest): FieldError[] {
    const errors: FieldError[] = [];
    if (RATIO_BY_SIZE[request.resolution] === undefined) {
      const offered = Object.entries(REPLICATE_ASPECT_RATIOS).map(([ratio, size]) => `${size} (${ratio})`);
      errors.push({
        field: 'resolution',
        message: `Replicate's gpt-image-2 offers only ${offered.join(', ')} (got ${request.resolution})`,
      });
    }
    if (request.numImages > REPLICATE_MAX_IMAGES) {
      errors.push({
        field: 'num_images',
        message: `Replicate's gpt-image-2 makes ${REPLICATE_MAX_IMAGES} image per prediction`,
      });
    }
    if (request.mask !== undefined)
      errors.push({ field: 'mask_url', message: "Replicate's gpt-image-2 takes no mask" });
    if (request.background === 'transparent')
      errors.push({ field: 'background', message: 'Replicate offers background auto or opaque' });
    return errors;
  }

  /** The exact `input` sent for `request` (local files as data URIs). */
  async buildInput(request: ImageRequest): Promise<Record<string, unknown>> {
    const input: Record<string, unknown> = {
      prompt: request.prompt,
      aspect_ratio: RATIO_BY_SIZE[request.resolution],
      number_of_images: request.numImages,
      output_format: request.outputFormat,
    };
    if (request.operation === 'edit') {
      try {
        input.input_images = await Promise.all(request.inputImages.map(toFetchableImage));
      } catch (error) {
        const message = (error as Error).message;
        throw new BadRequestError(message, { provider: this.name, requestMaybeSent: false }, [
          { field: 'image_urls', message },
        ]);
      }
    }
    if (request.quality !== undefined) input.quality = request.quality;
    if (request.background !== undefined) input.background = request.background;
    if (request.moderation !== undefined) input.moderation = request.moderation;
    if (request.outputCompression !== undefined) input.output_compression = request.outputCompression;
    return input;
  }

  async submit(request: ImageRequest, context: CallContext): Promise<SubmitResult> {
    const model = this.modelFor(request);
    const body = { input: await this.buildInput(request) };
    const options = this.callOptions(context);
    const response = await postOnce(`${this.settings.baseUrl}/models/${model}/predictions`, body, {
      ...options,
      headers: { ...options.headers, prefer: `wait=${REPLICATE_PREFER_WAIT_SECONDS}` },
    });
    if (response.status < 200 || response.status >= 300) throw this.errorFor(response, undefined);
    const prediction = this.readPrediction(response);
    const pending: PendingRequest = {
      provider: this.name,
      requestIds: [prediction.id],
      model,
      submittedAt: new Date().toISOString(),
    };
    if (prediction.urls?.get !== undefined) pending.statusUrl = prediction.urls.get;
    // Always hand back the id first, so it is saved before anything else can go wrong; the first poll finishes it.
    return { kind: 'pending', request: pending };
  }

  async poll(pending: PendingRequest, context: CallContext): Promise<PollResult> {
    const id = pending.requestIds[0]!;
    const response = await getOnce(
      pending.statusUrl ?? `${this.settings.baseUrl}/predictions/${encodeURIComponent(id)}`,
      this.callOptions(context),
    );
    if (response.status !== 200) throw this.errorFor(response, id);
    const prediction = this.readPrediction(response);
    if (prediction.status === 'starting' || prediction.status === 'processing') return { kind: 'pending' };
    if (prediction.status !== 'succeeded') throw this.failureOf(prediction);
    const output = prediction.output;
    const urls = Array.isArray(output) ? output : typeof output === 'string' ? [output] : [];
    if (urls.length === 0)
      throw new InvalidResponseError(`Replicate prediction ${id} succeeded without output`, {
        provider: this.name,
        requestId: id,
      });
    const result: ProviderResponse = {
      model: pending.model,
      requestId: id,
      images: urls.map((url) => ({ kind: 'url', url })),
    };
    return { kind: 'completed', response: result };
  }

  private readPrediction(response: HttpResponse): ReplicatePrediction {
    const parsed = replicatePredictionSchema.safeParse(response.body);
    if (!parsed.success)
      throw new InvalidResponseError('Replicate sent an unreadable prediction', {
        provider: this.name,
        status: response.status,
      });
    return parsed.data;
  }

  /** A prediction that ended without success: a safety refusal, or a failed/canceled task. */
  failureOf(prediction: ReplicatePrediction): ProviderError {
    const reason = prediction.error ?? prediction.status;
    const details = { provider: this.name, requestId: prediction.id };
    const message = `Replicate: ${reason}`;
    if (/safety|flagged|sensitive|moderation|content polic/i.test(reason))
      return new ContentPolicyError(message, details);
    return new TaskFailedError(message, details);
  }

  /** Map a Replicate error answer: 402 credit, 422 validation (naming the field), 429 with the reset time. */
  errorFor(response: HttpResponse, requestId: string | undefined): ProviderError {
    const parsed = replicateErrorSchema.safeParse(response.body);
    const body = parsed.success ? parsed.data : {};
    const text =
      body.detail ??
      body.title ??
      (typeof response.body === 'string' ? response.body : `HTTP ${response.status}`);
    const message = `Replicate: ${text.slice(0, 500)}`;
    const details = { provider: this.name, status: response.status, requestId };
    if (response.status === 402) return new InsufficientCreditError(message, details);
    if (response.status === 429) {
      const resetsIn = /resets in ~?(\d+)\s*s/i.exec(text)?.[1];
      return new RateLimitedError(
        message,
        details,
        parseRetryAfterMs(response.headers) ?? (resetsIn === undefined ? undefined : Number(resetsIn) * 1000),
      );
    }
    if (response.status === 401 || response.status === 403) return new AuthenticationError(message, details);
    if (response.status === 422 || response.status === 400) {
      const fields = (body.invalid_fields ?? []).map((field) => ({
        field: (field.field ?? 'input').replace(/^input\./, ''),
        message: field.description ?? text,
      }));
      if (fields.length === 0) {
        const field = /input\.([a-z_]+)/.exec(text)?.[1];
        if (field !== undefined) fields.push({ field, message: text });
      }
      return new BadRequestError(message, details, fields);
    }
    return errorForStatus(message, details, response.headers);
  }

  private callOptions(context: CallContext) {
    return authorizedCallOptions(
      this.name,
      this.settings.apiKey,
      context,
      Math.max(this.settings.timeoutMs, 65_000),
    );
  }
}
