/**
 * fal.ai adapter: GPT Image 2 through the queue API. Submit to `<queue>/openai/gpt-image-2[/edit]`, then follow the
 * returned `status_url` until `COMPLETED` and read `response_url` (neither carries `/edit`). `Authorization: Key`.
 * Local input images go up through fal storage (initiate + PUT) first. Wire format: ./wire-schema.ts.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { request as undiciRequest } from 'undici';
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
import { parseResolution } from '../../shared/resolution.js';
import {
  capabilitiesOf,
  capabilityProblems,
  type ModelCapabilities,
  type ProviderModels,
} from '../capabilities.js';
import { checkedGet, recordOf, type ProviderCheck } from '../check.js';
import {
  classifyNetworkError,
  errorForStatus,
  getOnce,
  postOnce,
  type HttpResponse,
  authorizedCallOptions,
  unpaidCall,
} from '../http.js';
import { sniffImageType } from '../image-inputs.js';
import type { CallContext, ImageProvider, PendingRequest, PollResult, SubmitResult } from '../provider.js';
import { FAL_MODELS } from './capabilities.js';
import {
  FAL_BASE_APP,
  falErrorSchema,
  falResultSchema,
  falStatusSchema,
  falSubmitResponseSchema,
} from './wire-schema.js';

/** Settings the adapter needs (`baseUrl` is the queue host, `restUrl` the storage host). */
export type FalSettings = Pick<
  ProviderSettings,
  'apiKey' | 'baseUrl' | 'restUrl' | 'platformUrl' | 'timeoutMs'
>;

/** The fal.ai provider. */
export class FalProvider implements ImageProvider {
  readonly name = 'fal' as const;
  /** fal's default quality is `high` (seed). */
  readonly defaultQuality: Quality = 'high';
  readonly asynchronous = true;

  constructor(private readonly settings: FalSettings) {}

  /** The endpoint a request goes to: the row's model (its `/edit` endpoint for an edit), else the default. */
  modelFor(request: ImageRequest): string {
    const model = request.model ?? FAL_MODELS.defaultModel(request.operation);
    return request.operation === 'edit' && !model.endsWith('/edit') ? `${model}/edit` : model;
  }

  modelTable(): ProviderModels {
    return FAL_MODELS;
  }

  checkRequest(request: ImageRequest): FieldError[] {
    return capabilityProblems(FAL_MODELS, request);
  }

  capabilitiesFor(request: ImageRequest): ModelCapabilities | undefined {
    return capabilitiesOf(FAL_MODELS, request);
  }

  /**
   * `GET <platform>/models/pricing?endpoint_id=…` (free; fal.ai/docs/platform-apis/v1/models/pricing): the unit price
   * of both GPT Image 2 endpoints on this account.
   */
  check(context: CallContext): Promise<ProviderCheck> {
    const ids = FAL_MODELS.models.map((model) => model.model).join(',');
    return checkedGet(
      `${this.settings.platformUrl ?? 'https://api.fal.ai/v1'}/models/pricing?endpoint_id=${encodeURIComponent(ids)}`,
      () => this.callOptions(context),
      (response) => this.errorFor(response, undefined),
      (body) => {
        const prices = (Array.isArray(recordOf(body).prices) ? (recordOf(body).prices as unknown[]) : []).map(
          recordOf,
        );
        const text = prices.map(
          (price) =>
            `${String(price.endpoint_id)} ${String(price.unit_price)} ${String(price.currency)}/${String(price.unit)}`,
        );
        return { summary: `key works; ${text.join('; ') || 'no prices listed'}`, details: { prices } };
      },
    );
  }

  /** The exact input sent for `request` (local files already uploaded to fal storage). */
  async buildInput(request: ImageRequest, context: CallContext): Promise<Record<string, unknown>> {
    const size = parseResolution(request.resolution)!;
    const input: Record<string, unknown> = {
      prompt: request.prompt,
      image_size: { width: size.width, height: size.height },
      num_images: request.numImages,
      output_format: request.outputFormat,
    };
    if (request.quality !== undefined) input.quality = request.quality;
    if (request.operation === 'edit') {
      input.image_urls = await Promise.all(
        request.inputImages.map((reference) => this.upload(reference, context)),
      );
      if (request.mask !== undefined) input.mask_url = await this.upload(request.mask, context);
    }
    return input;
  }

  /** A URL fal can fetch: URLs unchanged, local files uploaded to fal storage (initiate, then PUT). */
  async upload(reference: string, context: CallContext): Promise<string> {
    if (!path.isAbsolute(reference)) return reference;
    const bytes = await readFile(reference).catch(() => {
      throw new BadRequestError(`cannot read input image ${reference}`, { provider: this.name }, [
        { field: 'image_urls', message: `cannot read ${reference}` },
      ]);
    });
    const contentType = sniffImageType(bytes) ?? 'application/octet-stream';
    const initiated = await unpaidCall(() =>
      postOnce(
        `${this.settings.restUrl ?? 'https://rest.fal.ai'}/storage/upload/initiate?storage_type=fal-cdn-v3`,
        { content_type: contentType, file_name: path.basename(reference) },
        this.callOptions(context),
      ),
    );
    if (initiated.status !== 200) throw this.errorFor(initiated, undefined);
    const { upload_url: uploadUrl, file_url: fileUrl } = initiated.body as {
      upload_url?: string;
      file_url?: string;
    };
    if (uploadUrl === undefined || fileUrl === undefined)
      throw new InvalidResponseError('fal storage gave no upload URL', { provider: this.name });
    try {
      const put = await undiciRequest(uploadUrl, {
        method: 'PUT',
        body: bytes,
        headers: { 'content-type': contentType },
        signal: context.signal,
      });
      await put.body.dump();
      if (put.statusCode >= 300)
        throw new InvalidResponseError(`fal storage upload failed with HTTP ${put.statusCode}`, {
          provider: this.name,
        });
    } catch (error) {
      throw error instanceof InvalidResponseError
        ? error
        : classifyNetworkError(error, { provider: this.name, requestMaybeSent: false });
    }
    return fileUrl;
  }

  async submit(request: ImageRequest, context: CallContext): Promise<SubmitResult> {
    const model = this.modelFor(request);
    const input = await this.buildInput(request, context);
    const response = await postOnce(`${this.settings.baseUrl}/${model}`, input, this.callOptions(context));
    const requestId = response.headers['x-fal-request-id'];
    if (response.status < 200 || response.status >= 300) throw this.errorFor(response, requestId);
    const parsed = falSubmitResponseSchema.safeParse(response.body);
    if (!parsed.success)
      throw new InvalidResponseError('fal.ai accepted nothing', {
        provider: this.name,
        status: response.status,
        requestId,
      });
    const pending: PendingRequest = {
      provider: this.name,
      requestIds: [parsed.data.request_id],
      statusUrl: parsed.data.status_url,
      resultUrl: parsed.data.response_url,
      model,
      submittedAt: new Date().toISOString(),
    };
    return { kind: 'pending', request: pending };
  }

  async poll(pending: PendingRequest, context: CallContext): Promise<PollResult> {
    const id = pending.requestIds[0]!;
    const base = `${this.settings.baseUrl}/${FAL_BASE_APP}/requests/${encodeURIComponent(id)}`;
    const status = await getOnce(pending.statusUrl ?? `${base}/status`, this.callOptions(context));
    if (status.status !== 200 && status.status !== 202) throw this.errorFor(status, id);
    const parsedStatus = falStatusSchema.safeParse(status.body);
    if (!parsedStatus.success)
      throw new InvalidResponseError(`fal.ai sent an unreadable status for ${id}`, {
        provider: this.name,
        requestId: id,
      });
    if (parsedStatus.data.status !== 'COMPLETED') return { kind: 'pending' };
    const result = await getOnce(pending.resultUrl ?? base, this.callOptions(context));
    if (result.status !== 200) throw this.errorFor(result, id, true);
    const parsed = falResultSchema.safeParse(result.body);
    if (!parsed.success)
      throw new InvalidResponseError(`fal.ai result ${id} has no images`, {
        provider: this.name,
        requestId: id,
      });
    return {
      kind: 'completed',
      response: {
        model: pending.model,
        requestId: id,
        images: parsed.data.images.map((image) => ({ kind: 'url', url: image.url })),
      },
    };
  }

  /**
   * Map a fal error answer: 422 `detail[]` names the field (content_policy_violation is a refusal), a locked account
   * is out of credit; a failed request's replayed 5xx is a failed task (no new submission).
   */
  errorFor(response: HttpResponse, requestId: string | undefined, fromResult = false): ProviderError {
    const parsed = falErrorSchema.safeParse(response.body);
    const details = { provider: this.name, status: response.status, requestId };
    if (parsed.success && Array.isArray(parsed.data.detail)) {
      const items = parsed.data.detail;
      const message = `fal.ai: ${items.map((item) => `${fieldOf(item.loc)}: ${item.msg}`).join('; ')}`;
      if (items.some((item) => item.type === 'content_policy_violation'))
        return new ContentPolicyError(message, details);
      const fields = items.map((item) => ({ field: fieldOf(item.loc), message: item.msg }));
      return new BadRequestError(message, details, fields);
    }
    const text = parsed.success
      ? (parsed.data.detail as string)
      : typeof response.body === 'string'
        ? response.body
        : `HTTP ${response.status}`;
    const message = `fal.ai: ${text.slice(0, 500)}`;
    if (/balance|locked|billing/i.test(text)) return new InsufficientCreditError(message, details);
    if (parsed.success && parsed.data.error_type === 'content_policy_violation')
      return new ContentPolicyError(message, details);
    if (fromResult && response.status >= 500) return new TaskFailedError(message, details);
    if (response.status === 401 || response.status === 403) return new AuthenticationError(message, details);
    return errorForStatus(message, details, response.headers);
  }

  private callOptions(context: CallContext) {
    return authorizedCallOptions(this.name, this.settings.apiKey, context, this.settings.timeoutMs, 'Key');
  }
}

/** The field a fal `loc` names: `['body', 'image_size', 'width']` → `image_size.width`. */
function fieldOf(loc: ReadonlyArray<string | number> | undefined): string {
  const parts = (loc ?? []).map(String);
  return (parts[0] === 'body' ? parts.slice(1) : parts).join('.') || 'body';
}
