/**
 * fal.ai adapter: GPT Image 2 through the queue API. Submit to `<queue>/openai/gpt-image-2[/edit]`, then follow the
 * returned `status_url` until `COMPLETED` and read `response_url` (neither carries `/edit`). `Authorization: Key`.
 * Local input images go up through fal storage (initiate + PUT) first. Wire format: ./wire-schema.ts.
 */
import type { z } from 'zod';
import path from 'node:path';
import { request as undiciRequest } from 'undici';
import {
  BadRequestError,
  ContentPolicyError,
  InsufficientCreditError,
  InvalidResponseError,
  NotStartedError,
  TaskFailedError,
  type ProviderError,
} from '../../shared/errors.js';
import type { ImageRequest, Quality } from '../../shared/job-definitions.js';
import { parseResolution } from '../../shared/resolution.js';
import type { ProviderModels } from '../capabilities.js';
import { recordOf, type ProviderCheck } from '../check.js';
import { ProviderClient } from '../client-base.js';
import { classifyNetworkError, getOnce, putOnce, unpaidCall, type HttpResponse } from '../http.js';
import type { CallContext, PendingRequest, PollResult, SubmitResult } from '../provider.js';
import { FAL_MODELS } from './capabilities.js';
import {
  FAL_BASE_APP,
  falErrorSchema,
  falResultSchema,
  falStatusSchema,
  falSubmitResponseSchema,
  falUploadInitiateSchema,
} from './wire-schema.js';
import { FAL_SETTINGS } from './settings.js';

/** Settings the adapter needs (its part of ./settings.ts; `restUrl` is the storage host). */
export type FalSettings = Pick<z.output<typeof FAL_SETTINGS.schema>, 'apiKey' | 'baseUrl' | 'timeoutMs'> &
  Partial<Pick<z.output<typeof FAL_SETTINGS.schema>, 'restUrl' | 'platformUrl'>>;

/** The fal.ai provider. */
export class FalProvider extends ProviderClient<FalSettings> {
  readonly name = 'fal' as const;
  protected readonly keyVariable = FAL_SETTINGS.keyVariable;
  /** fal's default quality is `high` (seed). */
  readonly defaultQuality: Quality = 'high';
  readonly asynchronous = true;
  /** fal keeps a result payload 1 hour, only 6 minutes when it is ≥ 10 KB: https://fal.ai/docs/inference-api/queue/result (../shared/reference/providers.md § fal, Retention) */
  readonly resultLifetimeMs = 6 * 60_000;
  readonly acceptsWebhooks = true;

  constructor(settings: FalSettings) {
    super(settings, 'Key');
  }

  /** The endpoint a request goes to: the row's model (its `/edit` endpoint for an edit), else the default. */
  modelFor(request: ImageRequest): string {
    const model = request.model ?? FAL_MODELS.defaultModel(request.operation);
    return request.operation === 'edit' && !model.endsWith('/edit') ? `${model}/edit` : model;
  }

  modelTable(): ProviderModels {
    return FAL_MODELS;
  }

  /**
   * `GET <platform>/models/pricing?endpoint_id=…` (free; fal.ai/docs/platform-apis/v1/models/pricing): the unit price
   * of both GPT Image 2 endpoints on this account.
   */
  check(context: CallContext): Promise<ProviderCheck> {
    const ids = FAL_MODELS.models.map((model) => model.model).join(',');
    const url = `${this.settings.platformUrl ?? 'https://api.fal.ai/v1'}/models/pricing?endpoint_id=${encodeURIComponent(ids)}`;
    return this.checkWith(url, context, (body) => {
      const listed = recordOf(body).prices;
      const prices = (Array.isArray(listed) ? (listed as unknown[]) : []).map(recordOf);
      const text = prices.map(
        (price) =>
          `${String(price.endpoint_id)} ${String(price.unit_price)} ${String(price.currency)}/${String(price.unit)}`,
      );
      return { summary: `key works; ${text.join('; ') || 'no prices listed'}`, details: { prices } };
    });
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

  /**
   * A URL fal can fetch: URLs unchanged, local files uploaded to fal storage (initiate, then PUT; fal-js
   * `storage.ts`). Not a paid call. @throws BadRequestError (nothing sent) when the file cannot be read.
   */
  async upload(reference: string, context: CallContext): Promise<string> {
    if (!path.isAbsolute(reference)) return reference;
    const { bytes, type } = await this.localImage(reference);
    const initiateUrl = `${this.settings.restUrl ?? 'https://rest.fal.ai'}/storage/upload/initiate?storage_type=fal-cdn-v3`;
    const initiated = await unpaidCall(() =>
      this.postOk(initiateUrl, { content_type: type, file_name: path.basename(reference) }, context),
    );
    const target = this.read(falUploadInitiateSchema, initiated, 'fal storage gave no upload URL');
    try {
      const put = await undiciRequest(target.upload_url, {
        method: 'PUT',
        body: bytes,
        headers: { 'content-type': type },
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
    return target.file_url;
  }

  async submit(request: ImageRequest, context: CallContext): Promise<SubmitResult> {
    const model = this.modelFor(request);
    const input = await this.buildInput(request, context);
    // `?fal_webhook=<url>`: fal POSTs the outcome there once the request is done (docs.fal.ai/model-endpoints/webhooks).
    const webhook =
      context.webhookUrl === undefined ? '' : `?fal_webhook=${encodeURIComponent(context.webhookUrl)}`;
    const response = await this.postOk(this.url(`/${model}`) + webhook, input, context, {
      requestIdHeaders: ['x-fal-request-id'],
      headers: startDeadlineHeader(context.startDeadlineMs),
    });
    const accepted = this.read(
      falSubmitResponseSchema,
      response,
      'fal.ai accepted nothing',
      response.headers['x-fal-request-id'],
    );
    return this.pending([accepted.request_id], model, {
      statusUrl: accepted.status_url,
      resultUrl: accepted.response_url,
    });
  }

  async poll(pending: PendingRequest, context: CallContext): Promise<PollResult> {
    const id = pending.requestIds[0]!;
    const base = this.url(`/${FAL_BASE_APP}/requests/${encodeURIComponent(id)}`);
    const status = await this.getOk(pending.statusUrl ?? `${base}/status`, context, id, [200, 202]);
    const state = this.read(falStatusSchema, status, `fal.ai sent an unreadable status for ${id}`, id);
    if (state.status !== 'COMPLETED') return { kind: 'pending' };
    // A failed request's result replays its 5xx: a failed task, not a server error to retry (`fromResult`).
    const result = await getOnce(pending.resultUrl ?? base, this.callOptions(context));
    if (neverStarted(result))
      throw new NotStartedError(`fal.ai: request ${id} was not started before its start deadline`, {
        provider: this.name,
        status: result.status,
        requestId: id,
      });
    if (result.status !== 200) throw this.errorFor(result, id, true);
    const output = this.read(falResultSchema, result, `fal.ai result ${id} has no images`, id);
    return {
      kind: 'completed',
      response: {
        model: pending.model,
        requestId: id,
        images: output.images.map((image) => ({ kind: 'url', url: image.url })),
      },
    };
  }

  /**
   * Cancel the request if fal still has it queued: its status first (`IN_QUEUE`), then `PUT {cancel_url}` (the status
   * URL ending in `/cancel`; fal-js `queue.cancel`), whose `status` says `OK` when fal removed it from the queue
   * (fal.ai/docs/inference-api/queue/cancel) — only then is it `cancelled`. `CANCELLATION_REQUESTED` (it had started:
   * the app decides), `ALREADY_COMPLETED`, any other answer or a failed call: `started`, followed to its end.
   */
  async cancelIfQueued(pending: PendingRequest, context: CallContext): Promise<'cancelled' | 'started'> {
    const id = pending.requestIds[0]!;
    const statusUrl =
      pending.statusUrl ?? this.url(`/${FAL_BASE_APP}/requests/${encodeURIComponent(id)}/status`);
    try {
      const status = await getOnce(statusUrl, this.callOptions(context));
      if (falStatusSchema.safeParse(status.body).data?.status !== 'IN_QUEUE') return 'started';
      const answer = await putOnce(statusUrl.replace(/\/status$/, '/cancel'), this.callOptions(context));
      const said = (answer.body as { status?: unknown } | undefined)?.status;
      return answer.status < 300 && said === 'OK' ? 'cancelled' : 'started';
    } catch {
      return 'started';
    }
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
    const text = this.answerText(
      response,
      parsed.success ? (parsed.data.detail as string | undefined) : undefined,
    );
    const message = `fal.ai: ${text.slice(0, 500)}`;
    if (/balance|locked|billing/i.test(text)) return new InsufficientCreditError(message, details);
    if (parsed.success && parsed.data.error_type === 'content_policy_violation')
      return new ContentPolicyError(message, details);
    if (fromResult && response.status >= 500) return new TaskFailedError(message, details);
    return this.errorByStatus(response, { message, requestId });
  }
}

/**
 * `X-Fal-Request-Timeout`: fal's server-side time-to-start deadline, whole seconds (at least 1; fal takes > 0.1 s).
 * The clock covers queue wait and runner acquisition and stops once a runner starts; a request not started by then
 * ends `504` with `X-Fal-Request-Timeout-Type: user` (docs.fal.ai/documentation/model-apis/common-parameters, read
 * 2026-12-02). None without a deadline.
 */
function startDeadlineHeader(startDeadlineMs: number | undefined): Record<string, string> {
  if (startDeadlineMs === undefined) return {};
  return { 'x-fal-request-timeout': String(Math.max(1, Math.ceil(startDeadlineMs / 1000))) };
}

/** A result that says fal never started the request: its start deadline passed while it was queued (not billed). */
function neverStarted(result: HttpResponse): boolean {
  return result.status === 504 && result.headers['x-fal-request-timeout-type'] === 'user';
}

/** The field a fal `loc` names: `['body', 'image_size', 'width']` → `image_size.width`. */
function fieldOf(loc: ReadonlyArray<string | number> | undefined): string {
  const parts = (loc ?? []).map(String);
  return (parts[0] === 'body' ? parts.slice(1) : parts).join('.') || 'body';
}
