/**
 * WaveSpeedAI adapter: `POST /api/v3/openai/gpt-image-2/edit` or `/text-to-image`, then poll
 * `GET /api/v3/predictions/{id}/result`. Every answer is a `{code, message, data}` envelope; a failed task arrives as
 * HTTP 200 with `data.status: failed`. `Authorization: Bearer`. Sizes are an aspect ratio plus a `1k|2k|4k` tier.
 * Local input images go as data URIs. Wire format: ./wire-schema.ts.
 */
import type { ProviderSettings } from '../../shared/config.js';
import {
  AuthenticationError,
  BadRequestError,
  ContentPolicyError,
  InsufficientCreditError,
  InvalidResponseError,
  TaskFailedError,
  type FieldError,
  type ProviderError,
} from '../../shared/errors.js';
import type { ImageRequest, Quality } from '../../shared/job-definitions.js';
import { parseResolution } from '../../shared/resolution-tier.js';
import { errorForStatus, getOnce, postOnce, type HttpResponse, authorizedCallOptions } from '../http.js';
import { toFetchableImage } from '../image-inputs.js';
import type { CallContext, ImageProvider, PendingRequest, PollResult, SubmitResult } from '../provider.js';
import { aspectRatioOf, sizeForAspectRatio } from '../size-rules.js';
import {
  WAVESPEED_ASPECT_RATIOS,
  WAVESPEED_EDIT_PATH,
  WAVESPEED_GENERATE_PATH,
  WAVESPEED_LONG_EDGE,
  WAVESPEED_QUALITIES,
  WAVESPEED_RESOLUTIONS,
  wavespeedEnvelopeSchema,
  wavespeedSizeParameters,
} from './wire-schema.js';

/** Settings the adapter needs. */
export type WavespeedSettings = Pick<ProviderSettings, 'apiKey' | 'baseUrl' | 'timeoutMs'>;

/** The WaveSpeedAI provider. */
export class WavespeedProvider implements ImageProvider {
  readonly name = 'wavespeed' as const;
  /** WaveSpeed's default quality is `medium` (providers.md §5). */
  readonly defaultQuality: Quality = 'medium';
  readonly asynchronous = true;

  constructor(private readonly settings: WavespeedSettings) {}

  modelFor(request: ImageRequest): string {
    return (
      request.model ??
      (request.operation === 'edit' ? 'openai/gpt-image-2/edit' : 'openai/gpt-image-2/text-to-image')
    );
  }

  checkRequest(request: ImageRequest): FieldError[] {
    const errors: FieldError[] = [];
    const size = parseResolution(request.resolution);
    if (size === undefined || wavespeedSizeParameters(size) === undefined) {
      const ratio = size === undefined ? '1:1' : aspectRatioOf(size);
      const offered = (WAVESPEED_ASPECT_RATIOS as readonly string[]).includes(ratio)
        ? `${ratio} comes as ${WAVESPEED_RESOLUTIONS.map((tier) => {
            const made = sizeForAspectRatio(ratio, WAVESPEED_LONG_EDGE[tier]);
            return `${made.width}x${made.height}`;
          }).join(', ')}`
        : `aspect ratios ${WAVESPEED_ASPECT_RATIOS.join(', ')} only`;
      errors.push({
        field: 'resolution',
        message: `WaveSpeedAI makes sizes by aspect ratio and 1k/2k/4k tier: ${offered} (got ${request.resolution})`,
      });
    }
    if (request.numImages > 1)
      errors.push({ field: 'num_images', message: 'WaveSpeedAI makes 1 image per request' });
    if (request.mask !== undefined)
      errors.push({ field: 'mask_url', message: 'WaveSpeedAI gpt-image-2 takes no mask' });
    if (
      request.quality !== undefined &&
      !(WAVESPEED_QUALITIES as readonly string[]).includes(request.quality)
    ) {
      errors.push({ field: 'quality', message: `WaveSpeedAI quality is ${WAVESPEED_QUALITIES.join(', ')}` });
    }
    return errors;
  }

  /** The exact body sent for `request` (local files as data URIs). */
  async buildBody(request: ImageRequest): Promise<Record<string, unknown>> {
    const sizeParameters = wavespeedSizeParameters(parseResolution(request.resolution)!)!;
    const body: Record<string, unknown> = {
      prompt: request.prompt,
      aspect_ratio: sizeParameters.aspect_ratio,
      resolution: sizeParameters.resolution,
      output_format: request.outputFormat,
      enable_sync_mode: false,
      enable_base64_output: false,
    };
    if (request.quality !== undefined) body.quality = request.quality;
    if (request.operation === 'edit') {
      try {
        body.images = await Promise.all(request.inputImages.map(toFetchableImage));
      } catch (error) {
        const message = (error as Error).message;
        throw new BadRequestError(message, { provider: this.name, requestMaybeSent: false }, [
          { field: 'image_urls', message },
        ]);
      }
    }
    return body;
  }

  async submit(request: ImageRequest, context: CallContext): Promise<SubmitResult> {
    const path = request.operation === 'edit' ? WAVESPEED_EDIT_PATH : WAVESPEED_GENERATE_PATH;
    const response = await postOnce(
      `${this.settings.baseUrl}${path}`,
      await this.buildBody(request),
      this.callOptions(context),
    );
    const data = this.readEnvelope(response);
    return {
      kind: 'pending',
      request: {
        provider: this.name,
        requestIds: [data.id],
        ...(data.urls?.get === undefined ? {} : { statusUrl: data.urls.get }),
        model: this.modelFor(request),
        submittedAt: new Date().toISOString(),
      },
    };
  }

  async poll(pending: PendingRequest, context: CallContext): Promise<PollResult> {
    const id = pending.requestIds[0]!;
    const url =
      pending.statusUrl ?? `${this.settings.baseUrl}/api/v3/predictions/${encodeURIComponent(id)}/result`;
    const data = this.readEnvelope(await getOnce(url, this.callOptions(context)), id);
    if (data.status === 'created' || data.status === 'processing') return { kind: 'pending' };
    if (data.status !== 'completed') {
      const reason = data.error || data.status;
      const details = { provider: this.name, requestId: id };
      if (/nsfw|safety|flagged|content polic|moderation/i.test(reason))
        return Promise.reject(new ContentPolicyError(`WaveSpeedAI: ${reason}`, details));
      throw new TaskFailedError(`WaveSpeedAI: ${reason}`, details);
    }
    if (data.outputs.length === 0)
      throw new InvalidResponseError(`WaveSpeedAI task ${id} completed without outputs`, {
        provider: this.name,
        requestId: id,
      });
    return {
      kind: 'completed',
      response: {
        model: pending.model,
        requestId: id,
        images: data.outputs.map((output) => ({ kind: 'url', url: output })),
      },
    };
  }

  /** The `data` of a successful envelope. @throws the mapped error for any other answer. */
  private readEnvelope(response: HttpResponse, requestId?: string) {
    const parsed = wavespeedEnvelopeSchema.safeParse(response.body);
    if (response.status === 200 && parsed.success && parsed.data.code === 200 && parsed.data.data)
      return parsed.data.data;
    throw this.errorFor(response, requestId);
  }

  /** Map a WaveSpeed error envelope or HTTP status. */
  errorFor(response: HttpResponse, requestId: string | undefined): ProviderError {
    const parsed = wavespeedEnvelopeSchema.safeParse(response.body);
    const code = parsed.success ? parsed.data.code : response.status;
    const text =
      (parsed.success ? parsed.data.message : undefined) ??
      (typeof response.body === 'string' ? response.body : `HTTP ${response.status}`);
    const message = `WaveSpeedAI: ${text.slice(0, 500)}`;
    const status = response.status === 200 ? code : response.status;
    const details = { provider: this.name, status, requestId };
    if (status === 402 || /balance|top.?up|credit/i.test(text))
      return new InsufficientCreditError(message, details);
    if (status === 401 || status === 403) return new AuthenticationError(message, details);
    if (status === 400 || status === 422) {
      const field = /parameter ([a-z_]+)/i.exec(text)?.[1];
      return new BadRequestError(message, details, field === undefined ? [] : [{ field, message: text }]);
    }
    if (response.status === 200) return new InvalidResponseError(message, details);
    return errorForStatus(message, details, response.headers);
  }

  private callOptions(context: CallContext) {
    return authorizedCallOptions(this.name, this.settings.apiKey, context, this.settings.timeoutMs);
  }
}
