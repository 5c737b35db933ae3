/**
 * Oxen.ai adapter: `POST /api/ai/images/generate` and `POST /api/ai/images/edit`, synchronous, `Authorization:
 * Bearer`. Wire format: ./wire-schema.ts. Local input images are sent as data URIs.
 */
import {
  BadRequestError,
  ContentPolicyError,
  InsufficientCreditError,
  InvalidResponseError,
  NotFoundError,
  type FieldError,
  type ProviderError,
} from '../../shared/errors.js';
import type { ProviderSettings } from '../../shared/config.js';
import type { Quality } from '../../shared/job-definitions.js';
import { errorForStatus, postOnce, type HttpResponse } from '../http.js';
import { toFetchableImage } from '../image-inputs.js';
import type { CallContext, ImageProvider, ImageRequest, ProviderResponse } from '../provider.js';
import {
  OXEN_DEFAULT_EDIT_MODEL,
  OXEN_DEFAULT_GENERATE_MODEL,
  OXEN_EDIT_PATH,
  OXEN_GENERATE_PATH,
  OXEN_MAX_NUM_IMAGES,
  OXEN_QUALITIES,
  OXEN_RESOLUTIONS,
  oxenErrorBodySchema,
  oxenImageResponseSchema,
  type OxenImageRequest,
} from './wire-schema.js';

/** Settings the adapter needs: base URL, API key and timeout. */
export type OxenSettings = Pick<ProviderSettings, 'apiKey' | 'baseUrl' | 'timeoutMs'>;

/** The Oxen.ai provider. */
export class OxenProvider implements ImageProvider {
  readonly name = 'oxen' as const;
  /** Oxen's quality is "Locked to high" (seed). */
  readonly defaultQuality: Quality = 'high';

  constructor(private readonly settings: OxenSettings) {}

  modelFor(request: ImageRequest): string {
    if (request.model !== undefined) return request.model;
    return request.operation === 'edit' ? OXEN_DEFAULT_EDIT_MODEL : OXEN_DEFAULT_GENERATE_MODEL;
  }

  checkRequest(request: ImageRequest): FieldError[] {
    const errors: FieldError[] = [];
    if (!(OXEN_RESOLUTIONS as readonly string[]).includes(request.resolution)) {
      errors.push({
        field: 'resolution',
        message: `Oxen.ai serves only ${OXEN_RESOLUTIONS.join(', ')} (got ${request.resolution})`,
      });
    }
    if (request.quality !== undefined && !(OXEN_QUALITIES as readonly string[]).includes(request.quality)) {
      errors.push({
        field: 'quality',
        message: `Oxen.ai serves gpt-image-2 at quality "high" only (got ${request.quality})`,
      });
    }
    if (request.numImages > OXEN_MAX_NUM_IMAGES) {
      errors.push({
        field: 'num_images',
        message: `Oxen.ai makes at most ${OXEN_MAX_NUM_IMAGES} images per request`,
      });
    }
    return errors;
  }

  /** The exact JSON body sent for `request` (local files already turned into data URIs). */
  async buildBody(request: ImageRequest): Promise<OxenImageRequest> {
    const body: OxenImageRequest = {
      model: this.modelFor(request),
      prompt: request.prompt,
      resolution: request.resolution as OxenImageRequest['resolution'],
      num_images: request.numImages,
      output_format: request.outputFormat,
    };
    if (request.quality !== undefined) body.quality = request.quality as 'high';
    if (request.operation === 'edit') {
      body.input_image = await Promise.all(request.inputImages.map(toFetchableImage));
      if (request.mask !== undefined) body.mask_url = await toFetchableImage(request.mask);
    }
    return body;
  }

  async call(request: ImageRequest, context: CallContext): Promise<ProviderResponse> {
    if (this.settings.apiKey === undefined) {
      throw new Error('OXEN_API_KEY is not set');
    }
    let body: OxenImageRequest;
    try {
      body = await this.buildBody(request);
    } catch (error) {
      throw new BadRequestError((error as Error).message, { provider: this.name }, [
        { field: 'image_urls', message: (error as Error).message },
      ]);
    }
    const path = request.operation === 'edit' ? OXEN_EDIT_PATH : OXEN_GENERATE_PATH;
    const response = await postOnce(`${this.settings.baseUrl}${path}`, body, {
      provider: this.name,
      timeoutMs: this.settings.timeoutMs,
      signal: context.signal,
      headers: { authorization: `Bearer ${this.settings.apiKey}`, accept: 'application/json' },
    });
    const requestId = response.headers['x-request-id'] ?? response.headers['x-oxen-request-id'];
    if (response.status < 200 || response.status >= 300) throw this.errorFor(response, requestId);

    const parsed = oxenImageResponseSchema.safeParse(response.body);
    if (!parsed.success) {
      throw new InvalidResponseError('Oxen.ai answered without images', {
        provider: this.name,
        status: response.status,
        requestId,
      });
    }
    const result: ProviderResponse = {
      model: parsed.data.model ?? body.model,
      images: parsed.data.images.map((image) =>
        'url' in image ? { kind: 'url', url: image.url } : { kind: 'base64', data: image.b64_json },
      ),
    };
    if (requestId !== undefined) result.requestId = requestId;
    return result;
  }

  /** Map an Oxen error answer to the taxonomy, recognising its credit, content-policy and not-found bodies. */
  errorFor(response: HttpResponse, requestId: string | undefined): ProviderError {
    const parsed = oxenErrorBodySchema.safeParse(response.body);
    const error = parsed.success ? parsed.data.error : undefined;
    const text =
      error?.detail ??
      error?.message ??
      error?.title ??
      (typeof response.body === 'string' ? response.body : '');
    const reason = text.slice(0, 500) || `HTTP ${response.status}`;
    const details = { provider: this.name, status: response.status, requestId };
    const message = `Oxen.ai: ${reason}`;
    if (/insufficient credits?/i.test(text)) return new InsufficientCreditError(message, details);
    if (error?.type === 'content_policy' || /content polic|safety system|moderation/i.test(text)) {
      return new ContentPolicyError(message, details);
    }
    if (/model not found/i.test(text) || error?.type === 'resource_not_found')
      return new NotFoundError(message, details);
    if (response.status === 400 || response.status === 422) {
      const field = /^([a-z_]+): /.exec(error?.detail ?? '')?.[1];
      return new BadRequestError(message, details, field === undefined ? [] : [{ field, message: reason }]);
    }
    return errorForStatus(message, details, response.headers);
  }
}
