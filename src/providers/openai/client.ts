/**
 * OpenAI adapter: `POST /images/generations` (JSON) and `POST /images/edits` (multipart with repeated `image[]` parts
 * and `mask`), synchronous, `Authorization: Bearer`. `model` is always sent (the API's defaults are other models);
 * `input_fidelity` never is (gpt-image-2 refuses it). The manifest's white-means-edit mask is converted to OpenAI's
 * alpha mask (./mask.ts). Output `data[].b64_json`; `usage` is kept whole. Wire format: ./wire-schema.ts; what each
 * model takes: ./capabilities.ts.
 */
import { readFile } from 'node:fs/promises';
import type { z } from 'zod';
import path from 'node:path';
import sharp from 'sharp';
import { FormData } from 'undici';
import { ContentPolicyError, InsufficientCreditError, type ProviderError } from '../../shared/errors.js';
import type { ImageRequest, Quality } from '../../shared/job-definitions.js';
import type { ProviderModels } from '../capabilities.js';
import { recordOf, type ProviderCheck } from '../check.js';
import { ProviderClient } from '../client-base.js';
import type { HttpResponse } from '../http.js';
import { sniffImageType } from '../image-inputs.js';
import type {
  AnnouncedLimits,
  CallContext,
  PollResult,
  ProviderResponse,
  SubmitResult,
} from '../provider.js';
import { fetchUserUrl } from '../url-guard.js';
import { OPENAI_DEFAULT_MODEL, OPENAI_MODELS } from './capabilities.js';
import { toOpenAIMask } from './mask.js';
import { openaiErrorSchema, openaiImagesResponseSchema } from './wire-schema.js';
import { OPENAI_SETTINGS } from './settings.js';

/**
 * Input images of an edit must be under this many bytes: "less than 50MB" (openai-openapi @f85dbe2
 * `CreateImageEditRequest.image`), read as 50,000,000 bytes — the smaller of 50 MB and 50 MiB.
 */
export const OPENAI_MAX_INPUT_IMAGE_BYTES = 50_000_000;

/** Settings the adapter needs (its part of ./settings.ts). */
export type OpenAISettings = Pick<
  z.output<typeof OPENAI_SETTINGS.schema>,
  'apiKey' | 'baseUrl' | 'timeoutMs'
>;

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
export class OpenAIProvider extends ProviderClient<OpenAISettings> {
  readonly name = 'openai' as const;
  protected readonly keyVariable = OPENAI_SETTINGS.keyVariable;
  /** OpenAI's default quality is `auto`; we estimate it as `high`, the most it can cost. */
  readonly defaultQuality: Quality = 'high';
  readonly asynchronous = false;

  /**
   * @param allowedPrivateHosts hosts that input URLs may name although private or loopback (everything else private
   * is refused: input URLs are user-supplied and fetched by us).
   */
  constructor(
    settings: OpenAISettings,
    private readonly allowedPrivateHosts: readonly string[] = [],
  ) {
    super(settings);
  }

  modelFor(request: ImageRequest): string {
    return request.model ?? OPENAI_DEFAULT_MODEL;
  }

  modelTable(): ProviderModels {
    return OPENAI_MODELS;
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

  /**
   * The multipart body of an edit: text fields, then repeated `image[]` file parts and `mask` (converted to OpenAI's
   * alpha form at the first image's size).
   * @throws BadRequestError (nothing sent) when an input cannot be read, is not png/webp/jpeg, or the mask cannot be
   *   converted.
   */
  async buildEditForm(request: ImageRequest, signal: AbortSignal): Promise<FormData> {
    const form = new FormData();
    for (const [name, value] of Object.entries(this.buildFields(request))) form.append(name, String(value));
    let firstSize: { width: number; height: number } | undefined;
    for (const [index, reference] of request.inputImages.entries()) {
      const { bytes, type } = await this.imageBytes(reference, signal, 'image_urls');
      if (index === 0) firstSize = await this.imageSize(bytes, reference);
      form.append(
        'image[]',
        new Blob([bytes], { type }),
        `image-${index + 1}.${type.split('/')[1] ?? 'png'}`,
      );
    }
    if (request.mask !== undefined && firstSize !== undefined) {
      const { bytes } = await this.imageBytes(request.mask, signal, 'mask_url');
      let mask: Buffer;
      try {
        mask = await toOpenAIMask(bytes, firstSize);
      } catch (error) {
        throw this.unsendable('mask_url', `mask ${request.mask.slice(0, 80)}: ${(error as Error).message}`);
      }
      form.append('mask', new Blob([mask], { type: 'image/png' }), 'mask.png');
    }
    return form;
  }

  /** The pixel size of an input image. @throws BadRequestError when it is not a readable image. */
  async imageSize(bytes: Buffer, reference: string): Promise<{ width: number; height: number }> {
    const metadata = await sharp(bytes)
      .metadata()
      .catch(() => undefined);
    if (metadata?.width === undefined || metadata.height === undefined)
      throw this.unsendable('image_urls', `input image ${reference.slice(0, 80)} is not a readable image`);
    return { width: metadata.width, height: metadata.height };
  }

  /**
   * The bytes of an input image: a local file, a data URI, or an http(s) URL (downloaded, under 50 MB). Only png,
   * webp and jpeg under 50 MB: OpenAI's edits take nothing else ("each image should be a png, webp, or jpg file less
   * than 50MB", openai-openapi `CreateImageEditRequest.image`).
   */
  async imageBytes(
    reference: string,
    signal: AbortSignal,
    field: string,
  ): Promise<{ bytes: Buffer; type: string }> {
    let bytes: Buffer;
    const dataUri = /^data:[^;]+;base64,(.*)$/s.exec(reference);
    try {
      if (dataUri !== null) bytes = Buffer.from(dataUri[1]!, 'base64');
      else if (path.isAbsolute(reference)) bytes = await readFile(reference);
      else {
        bytes = await fetchUserUrl(reference, {
          maxBytes: OPENAI_MAX_INPUT_IMAGE_BYTES,
          timeoutMs: this.settings.timeoutMs,
          allowedHosts: this.allowedPrivateHosts,
          signal,
        });
      }
    } catch (error) {
      throw this.unsendable(
        field,
        `cannot read image ${reference.slice(0, 80)} (${(error as Error).message})`,
      );
    }
    const type = sniffImageType(bytes);
    if (type === undefined || type === 'image/gif' || bytes.length >= OPENAI_MAX_INPUT_IMAGE_BYTES) {
      throw this.unsendable(
        field,
        `image ${reference.slice(0, 80)} is ${type === 'image/gif' ? 'a GIF' : 'not a PNG, JPEG or WebP under 50 MB'}; OpenAI takes png, webp or jpg`,
      );
    }
    return { bytes, type };
  }

  async submit(request: ImageRequest, context: CallContext): Promise<SubmitResult> {
    const response =
      request.operation === 'generate'
        ? await this.postOk(this.url('/images/generations'), this.buildFields(request), context, {
            requestIdHeaders: ['x-request-id'],
          })
        : await this.postOk(
            this.url('/images/edits'),
            await this.buildEditForm(request, context.signal),
            context,
            {
              requestIdHeaders: ['x-request-id'],
            },
          );
    const requestId = response.headers['x-request-id'];
    const answer = this.read(
      openaiImagesResponseSchema,
      response,
      'OpenAI answered without images',
      requestId,
    );
    const result: ProviderResponse = {
      model: this.modelFor(request),
      images: answer.data.map((image) => ({ kind: 'base64', data: image.b64_json })),
    };
    if (requestId !== undefined) result.requestId = requestId;
    if (answer.usage !== undefined) result.usage = answer.usage;
    const announced = announcedLimitsOf(response.headers);
    if (announced !== undefined) result.announcedLimits = announced;
    // The last request of the window: slow down before the 429 (x-ratelimit-* headers, providers.md §1).
    if (response.headers['x-ratelimit-remaining-requests'] === '0') {
      result.throttleMs = parseResetDuration(response.headers['x-ratelimit-reset-requests']) ?? 1000;
    }
    return { kind: 'completed', response: result };
  }

  /** `GET /models` (free): which of the GPT Image models image-batch knows the key can use. */
  check(context: CallContext): Promise<ProviderCheck> {
    return this.checkWith(this.url('/models'), context, (body) => {
      const served = (Array.isArray(recordOf(body).data) ? (recordOf(body).data as unknown[]) : [])
        .map((model) => String(recordOf(model).id))
        .filter((id) => OPENAI_MODELS.models.some((known) => known.model === id));
      return {
        summary: `key works; serves ${served.length > 0 ? served.join(', ') : 'none of the GPT Image models image-batch knows'}`,
        details: { models: served },
      };
    });
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
    const text = this.answerText(response, error?.message);
    const message = `OpenAI: ${text.slice(0, 500)}`;
    // `x-should-retry: true|false` is obeyed before the status rules, as openai-node does (src/client.ts shouldRetry).
    const header = response.headers['x-should-retry'];
    const shouldRetry = header === 'true' ? true : header === 'false' ? false : undefined;
    const details = {
      provider: this.name,
      status: response.status,
      requestId,
      ...(shouldRetry === undefined ? {} : { shouldRetry }),
    };
    if (error?.code === 'moderation_blocked') return new ContentPolicyError(message, details);
    if (error?.type === 'insufficient_quota' || error?.code === 'insufficient_quota')
      return new InsufficientCreditError(message, details);
    return this.errorByStatus(response, {
      message,
      requestId,
      fields: error?.param ? [{ field: error.param, message: text }] : [],
      retryAfterMs: parseResetDuration(response.headers['x-ratelimit-reset-requests']),
      shouldRetry,
    });
  }
}

/**
 * The limits OpenAI announces: `x-ratelimit-limit-requests` and `x-ratelimit-limit-tokens`, per minute for the Images
 * API (providers.md §1; an images-a-minute header is unconfirmed, so none is read). Undefined when it sent neither.
 */
function announcedLimitsOf(headers: Record<string, string | undefined>): AnnouncedLimits | undefined {
  const limits: AnnouncedLimits = {};
  const requests = Number(headers['x-ratelimit-limit-requests']);
  const tokens = Number(headers['x-ratelimit-limit-tokens']);
  if (Number.isInteger(requests) && requests > 0) limits.requestsPerMinute = requests;
  if (Number.isInteger(tokens) && tokens > 0) limits.tokensPerMinute = tokens;
  return Object.keys(limits).length === 0 ? undefined : limits;
}
