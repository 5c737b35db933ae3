/**
 * OpenAI adapter: `POST /images/generations` (JSON) and `POST /images/edits` (multipart with repeated `image[]` parts
 * and `mask`), synchronous, `Authorization: Bearer`. `model` is always sent (the API's defaults are other models);
 * `input_fidelity` never is (gpt-image-2 refuses it). Output `data[].b64_json`; `usage` is kept. Wire format:
 * ./wire-schema.ts.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { FormData } from 'undici';
import type { ProviderSettings } from '../../shared/config.js';
import {
  AuthenticationError,
  BadRequestError,
  ContentPolicyError,
  InsufficientCreditError,
  InvalidResponseError,
  RateLimitedError,
  type FieldError,
  type ProviderError,
} from '../../shared/errors.js';
import type { ImageRequest, Quality } from '../../shared/job-definitions.js';
import { parseResolution } from '../../shared/resolution-tier.js';
import {
  errorForStatus,
  parseRetryAfterMs,
  postOnce,
  type HttpResponse,
  authorizedCallOptions,
} from '../http.js';
import { MAX_INLINE_IMAGE_BYTES, sniffImageType } from '../image-inputs.js';
import type { CallContext, ImageProvider, PollResult, ProviderResponse, SubmitResult } from '../provider.js';
import { customSizeProblem } from '../size-rules.js';
import { fetchUserUrl } from '../url-guard.js';
import {
  OPENAI_DEFAULT_MODEL,
  OPENAI_MAX_INPUT_IMAGES,
  OPENAI_MAX_N,
  openaiErrorSchema,
  openaiImagesResponseSchema,
} from './wire-schema.js';

/** Settings the adapter needs. */
export type OpenAISettings = Pick<ProviderSettings, 'apiKey' | 'baseUrl' | 'timeoutMs'>;

/**
 * `x-ratelimit-reset-requests` style durations (`12ms`, `1s`, `6m0s`, `1h2m3.5s`) in ms; undefined when unreadable.
 * Source: community.openai.com/t/…/1268905 (providers.md §1).
 */
export function parseResetDuration(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const pattern = /(\d+(?:\.\d+)?)(ms|h|m|s)/g;
  let total = 0;
  let matched = false;
  for (const match of text.matchAll(pattern)) {
    matched = true;
    const value = Number(match[1]);
    total +=
      match[2] === 'ms'
        ? value
        : match[2] === 's'
          ? value * 1000
          : match[2] === 'm'
            ? value * 60_000
            : value * 3_600_000;
  }
  return matched ? total : undefined;
}

/** The OpenAI provider. */
export class OpenAIProvider implements ImageProvider {
  readonly name = 'openai' as const;
  /** OpenAI's default quality is `auto`; we estimate it as `high`, the most it can cost. */
  readonly defaultQuality: Quality = 'high';
  readonly asynchronous = false;

  /**
   * @param allowedPrivateHosts hosts that input URLs may name although private or loopback (everything else private
   * is refused: input URLs are user-supplied and fetched by us).
   */
  constructor(
    private readonly settings: OpenAISettings,
    private readonly allowedPrivateHosts: readonly string[] = [],
  ) {}

  modelFor(request: ImageRequest): string {
    return request.model ?? OPENAI_DEFAULT_MODEL;
  }

  checkRequest(request: ImageRequest): FieldError[] {
    const errors: FieldError[] = [];
    const size = parseResolution(request.resolution);
    const problem = size === undefined ? 'not WIDTHxHEIGHT' : customSizeProblem(size);
    if (problem !== undefined) errors.push({ field: 'resolution', message: `OpenAI size: ${problem}` });
    if (request.numImages > OPENAI_MAX_N)
      errors.push({
        field: 'num_images',
        message: `OpenAI makes at most ${OPENAI_MAX_N} images per request`,
      });
    if (request.inputImages.length > OPENAI_MAX_INPUT_IMAGES) {
      errors.push({
        field: 'image_urls',
        message: `OpenAI edits take at most ${OPENAI_MAX_INPUT_IMAGES} input images`,
      });
    }
    if (request.operation === 'edit' && request.moderation !== undefined) {
      errors.push({
        field: 'moderation',
        message: 'OpenAI image edits (multipart) have no moderation setting',
      });
    }
    return errors;
  }

  /** The text fields sent for `request` (the JSON body of a generate; the non-file parts of an edit). */
  buildFields(request: ImageRequest): Record<string, string | number> {
    const fields: Record<string, string | number> = {
      model: this.modelFor(request),
      prompt: request.prompt,
      n: request.numImages,
      size: request.resolution,
      output_format: request.outputFormat,
    };
    if (request.quality !== undefined) fields.quality = request.quality;
    if (request.outputCompression !== undefined) fields.output_compression = request.outputCompression;
    if (request.background !== undefined) fields.background = request.background;
    if (request.moderation !== undefined && request.operation === 'generate')
      fields.moderation = request.moderation;
    return fields;
  }

  /** The multipart body of an edit: text fields, then repeated `image[]` file parts and `mask`. */
  async buildEditForm(request: ImageRequest, signal: AbortSignal): Promise<FormData> {
    const form = new FormData();
    for (const [name, value] of Object.entries(this.buildFields(request))) form.append(name, String(value));
    for (const [index, reference] of request.inputImages.entries()) {
      const { bytes, type } = await this.imageBytes(reference, signal);
      form.append(
        'image[]',
        new Blob([bytes], { type }),
        `image-${index + 1}.${type.split('/')[1] ?? 'png'}`,
      );
    }
    if (request.mask !== undefined) {
      const { bytes, type } = await this.imageBytes(request.mask, signal);
      form.append('mask', new Blob([bytes], { type }), 'mask.png');
    }
    return form;
  }

  /** The bytes of an input image: a local file, a data URI, or an http(s) URL (downloaded, at most 20 MiB). */
  private async imageBytes(reference: string, signal: AbortSignal): Promise<{ bytes: Buffer; type: string }> {
    let bytes: Buffer;
    const dataUri = /^data:[^;]+;base64,(.*)$/s.exec(reference);
    try {
      if (dataUri !== null) bytes = Buffer.from(dataUri[1]!, 'base64');
      else if (path.isAbsolute(reference)) bytes = await readFile(reference);
      else {
        bytes = await fetchUserUrl(reference, {
          maxBytes: MAX_INLINE_IMAGE_BYTES,
          timeoutMs: this.settings.timeoutMs,
          allowedHosts: this.allowedPrivateHosts,
          signal,
        });
      }
    } catch (error) {
      const message = `cannot read input image ${reference.slice(0, 80)} (${(error as Error).message})`;
      throw new BadRequestError(message, { provider: this.name, requestMaybeSent: false }, [
        { field: 'image_urls', message },
      ]);
    }
    const type = sniffImageType(bytes);
    if (type === undefined || bytes.length > MAX_INLINE_IMAGE_BYTES) {
      const message = `input image ${reference.slice(0, 80)} is not a PNG, JPEG or WebP under 20 MiB`;
      throw new BadRequestError(message, { provider: this.name, requestMaybeSent: false }, [
        { field: 'image_urls', message },
      ]);
    }
    return { bytes, type };
  }

  async submit(request: ImageRequest, context: CallContext): Promise<SubmitResult> {
    const options = this.callOptions(context);
    const response =
      request.operation === 'generate'
        ? await postOnce(`${this.settings.baseUrl}/images/generations`, this.buildFields(request), options)
        : await postOnce(
            `${this.settings.baseUrl}/images/edits`,
            await this.buildEditForm(request, context.signal),
            options,
          );
    const requestId = response.headers['x-request-id'];
    if (response.status < 200 || response.status >= 300) throw this.errorFor(response, requestId);
    const parsed = openaiImagesResponseSchema.safeParse(response.body);
    if (!parsed.success)
      throw new InvalidResponseError('OpenAI answered without images', {
        provider: this.name,
        status: response.status,
        requestId,
      });
    const result: ProviderResponse = {
      model: this.modelFor(request),
      images: parsed.data.data.map((image) => ({ kind: 'base64', data: image.b64_json })),
    };
    if (requestId !== undefined) result.requestId = requestId;
    if (parsed.data.usage !== undefined) result.usage = parsed.data.usage;
    // The last request of the window: slow down before the 429 (x-ratelimit-* headers, providers.md §1).
    if (response.headers['x-ratelimit-remaining-requests'] === '0') {
      result.throttleMs = parseResetDuration(response.headers['x-ratelimit-reset-requests']) ?? 1000;
    }
    return { kind: 'completed', response: result };
  }

  /** OpenAI's flow is synchronous: nothing is ever pending. */
  poll(): Promise<PollResult> {
    return Promise.reject(new Error('OpenAI requests are synchronous; there is nothing to poll'));
  }

  /**
   * Map an OpenAI error: 400 `moderation_blocked` is a refusal, 429 `insufficient_quota` is out of credit (not a rate
   * limit), other 429s wait for `retry-after(-ms)` or `x-ratelimit-reset-requests`; 400 names its `param`.
   */
  errorFor(response: HttpResponse, requestId: string | undefined): ProviderError {
    const parsed = openaiErrorSchema.safeParse(response.body);
    const error = parsed.success ? parsed.data.error : undefined;
    const text =
      error?.message ?? (typeof response.body === 'string' ? response.body : `HTTP ${response.status}`);
    const message = `OpenAI: ${text.slice(0, 500)}`;
    const details = { provider: this.name, status: response.status, requestId };
    if (error?.code === 'moderation_blocked') return new ContentPolicyError(message, details);
    if (error?.type === 'insufficient_quota' || error?.code === 'insufficient_quota')
      return new InsufficientCreditError(message, details);
    if (response.status === 429) {
      const wait =
        parseRetryAfterMs(response.headers) ??
        parseResetDuration(response.headers['x-ratelimit-reset-requests']);
      return new RateLimitedError(message, details, wait);
    }
    if (response.status === 401 || response.status === 403) return new AuthenticationError(message, details);
    if (response.status === 400 || response.status === 422) {
      return new BadRequestError(
        message,
        details,
        error?.param ? [{ field: error.param, message: text }] : [],
      );
    }
    return errorForStatus(message, details, response.headers);
  }

  private callOptions(context: CallContext) {
    return authorizedCallOptions(this.name, this.settings.apiKey, context, this.settings.timeoutMs);
  }
}
