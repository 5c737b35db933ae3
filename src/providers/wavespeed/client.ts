/**
 * WaveSpeedAI adapter: `POST /api/v3/openai/gpt-image-2/edit` or `/text-to-image`, then poll
 * `GET /api/v3/predictions/{id}/result`. Every answer is a `{code, message, data}` envelope; a failed task arrives as
 * HTTP 200 with `data.status: failed`. `Authorization: Bearer`. Sizes are an aspect ratio plus a `1k|2k|4k` tier,
 * planned at enqueue (../tier-sizes.ts). No `output_format` is sent (the current API pages list none: ./capabilities.ts).
 * Local input images are uploaded first through `POST /api/v3/media/upload/binary` (multipart `file` →
 * `data.download_url`), the upload the current docs describe (wavespeed.ai/docs/docs-common-api/media-upload, read
 * 2026-12-02; the JS SDK 0.3.2's two-step `POST /api/v3/media/uploads` + PUT is in no published page). Wire format:
 * ./wire-schema.ts; what the model takes: ./capabilities.ts.
 */
import type { z } from 'zod';
import path from 'node:path';
import { FormData } from 'undici';
import {
  ContentPolicyError,
  InsufficientCreditError,
  InvalidResponseError,
  TaskFailedError,
  type ProviderError,
} from '../../shared/errors.js';
import type { ImageRequest, Quality } from '../../shared/job-definitions.js';
import type { ProviderModels } from '../capabilities.js';
import { recordOf, type ProviderCheck } from '../check.js';
import { ProviderClient } from '../client-base.js';
import { unpaidCall, type HttpResponse } from '../http.js';
import type { CallContext, PendingRequest, PollResult, SubmitResult } from '../provider.js';
import { WAVESPEED_MODELS } from './capabilities.js';
import {
  WAVESPEED_EDIT_PATH,
  WAVESPEED_GENERATE_PATH,
  WAVESPEED_UPLOAD_PATH,
  wavespeedEnvelopeSchema,
  wavespeedUploadSchema,
} from './wire-schema.js';
import { WAVESPEED_SETTINGS } from './settings.js';
import {
  priceCellKey,
  pricingInputs,
  WAVESPEED_PRICING_PATH,
  wavespeedPriceSchema,
} from './served-pricing.js';

/** Price calls (`prepare`) sent at once. */
const PRICE_CALLS_AT_ONCE = 6;

/** Settings the adapter needs (its part of ./settings.ts). */
export type WavespeedSettings = Pick<
  z.output<typeof WAVESPEED_SETTINGS.schema>,
  'apiKey' | 'baseUrl' | 'timeoutMs'
>;

/** The WaveSpeedAI provider. */
export class WavespeedProvider extends ProviderClient<WavespeedSettings> {
  readonly name = 'wavespeed' as const;
  protected readonly keyVariable = WAVESPEED_SETTINGS.keyVariable;
  /** WaveSpeed's default quality is `medium` (providers.md §5). */
  readonly defaultQuality: Quality = 'medium';
  readonly asynchronous = true;
  readonly acceptsWebhooks = true;
  /** No `output_format` is sent: images are stored converted to the row's format (./capabilities.ts). */
  readonly convertsOutputFormat = true;
  /** USD per run as the host priced it, by {@link priceCellKey}, once `prepare` read them. */
  private readonly servedPrices = new Map<string, number>();

  modelFor(request: ImageRequest): string {
    return (
      request.model ??
      (request.operation === 'edit' ? 'openai/gpt-image-2/edit' : 'openai/gpt-image-2/text-to-image')
    );
  }

  modelTable(): ProviderModels {
    return WAVESPEED_MODELS;
  }

  /**
   * Ask the host its price of a run for each model × quality × tier (`POST /api/v3/model/pricing`, free:
   * ./served-pricing.ts); rows are then priced from it. Never throws: a cell it cannot read keeps the estimate.
   */
  async prepare(context: CallContext): Promise<void> {
    if (this.settings.apiKey === undefined) return;
    const sizes = WAVESPEED_MODELS.models[0]!.sizes;
    const tiers = sizes.kind === 'ratio-and-tier' ? sizes.tiers : [];
    const cells = ['openai/gpt-image-2/edit', 'openai/gpt-image-2/text-to-image'].flatMap((model) =>
      WAVESPEED_MODELS.models[0]!.qualities.flatMap((quality) =>
        tiers.map((tier) => ({ model, quality, tier })),
      ),
    );
    let failures = 0;
    const ask = async ({ model, quality, tier }: (typeof cells)[number]): Promise<void> => {
      try {
        // Each call its own deadline: calls composed with one shared signal would pile listeners on it.
        const response = await this.postOk(
          this.url(WAVESPEED_PRICING_PATH),
          { model_id: model, inputs: pricingInputs(model, quality, tier) },
          { ...context, signal: AbortSignal.timeout(this.settings.timeoutMs) },
        );
        const price = wavespeedPriceSchema.parse(response.body).data.unit_price;
        this.servedPrices.set(priceCellKey(model, quality, tier), price);
      } catch {
        failures += 1;
      }
    };
    // A few at a time, not to flood the host.
    for (let start = 0; start < cells.length; start += PRICE_CALLS_AT_ONCE)
      await Promise.all(cells.slice(start, start + PRICE_CALLS_AT_ONCE).map(ask));
    if (failures > 0)
      context.log.warn(
        { failures, cells: cells.length },
        'could not read some WaveSpeedAI prices; estimating those',
      );
  }

  /** USD of one run of `request` as the host priced it (its model, quality and planned tier), when `prepare` read it. */
  servedPrice(request: ImageRequest): number | undefined {
    const tier = this.sizeParameters(request)?.resolution;
    if (tier === undefined) return undefined;
    return this.servedPrices.get(
      priceCellKey(this.modelFor(request), request.quality ?? this.defaultQuality, tier),
    );
  }

  /** `GET /api/v3/balance` (free; wavespeed.ai/docs/docs-common-api/balance): the account's balance in USD. */
  check(context: CallContext): Promise<ProviderCheck> {
    return this.checkWith(this.url('/api/v3/balance'), context, (body) => {
      const balance = recordOf(recordOf(body).data).balance;
      return { summary: `key works; balance ${String(balance)} USD`, details: { balance } };
    });
  }

  /** The exact body sent for `request` (local files uploaded first). */
  async buildBody(request: ImageRequest, context: CallContext): Promise<Record<string, unknown>> {
    const body: Record<string, unknown> = {
      prompt: request.prompt,
      ...this.sizeParameters(request),
      enable_sync_mode: false,
      enable_base64_output: false,
    };
    if (request.quality !== undefined) body.quality = request.quality;
    if (request.operation === 'edit') {
      body.images = await Promise.all(
        request.inputImages.map((reference) => this.upload(reference, context)),
      );
    }
    return body;
  }

  /**
   * A URL WaveSpeed can fetch: URLs and data URIs unchanged, a local file uploaded through the media endpoint
   * (multipart `file`, answering `data.download_url`; wavespeed.ai/docs/docs-common-api/media-upload). Not a paid call.
   * @throws BadRequestError (nothing sent) when the file cannot be read or is not an image.
   */
  async upload(reference: string, context: CallContext): Promise<string> {
    if (!path.isAbsolute(reference)) return reference;
    const { bytes, type } = await this.localImage(reference);
    const form = new FormData();
    form.append('file', new Blob([bytes], { type }), path.basename(reference));
    const response = await unpaidCall(() => this.postOk(this.url(WAVESPEED_UPLOAD_PATH), form, context));
    const parsed = wavespeedUploadSchema.safeParse(response.body);
    if (response.status === 200 && parsed.success) return parsed.data.data.download_url;
    throw this.errorFor(response, undefined);
  }

  async submit(request: ImageRequest, context: CallContext): Promise<SubmitResult> {
    const endpoint = request.operation === 'edit' ? WAVESPEED_EDIT_PATH : WAVESPEED_GENERATE_PATH;
    // `?webhook=<url>`: the result is POSTed there once the task ends (wavespeed.ai/docs/how-to-use-webhooks).
    const webhook =
      context.webhookUrl === undefined ? '' : `?webhook=${encodeURIComponent(context.webhookUrl)}`;
    const response = await this.postOk(
      this.url(endpoint) + webhook,
      await this.buildBody(request, context),
      context,
    );
    const data = this.readEnvelope(response);
    if (data.id === undefined)
      throw new InvalidResponseError('WaveSpeedAI accepted a task without an id', {
        provider: this.name,
        status: 200,
      });
    return this.pending([data.id], this.modelFor(request), { statusUrl: data.urls?.get });
  }

  async poll(pending: PendingRequest, context: CallContext): Promise<PollResult> {
    const id = pending.requestIds[0]!;
    const url = pending.statusUrl ?? this.url(`/api/v3/predictions/${encodeURIComponent(id)}/result`);
    const data = this.readEnvelope(await this.getOk(url, context, id), id);
    if (data.status === 'created' || data.status === 'processing') return { kind: 'pending' };
    if (data.status !== 'completed') {
      const reason = data.error || data.status;
      const details = { provider: this.name, requestId: id };
      if (/nsfw|safety|flagged|content polic|moderation/i.test(reason))
        throw new ContentPolicyError(`WaveSpeedAI: ${reason}`, details);
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
    if (response.status === 200 && parsed.success && (parsed.data.code ?? 200) === 200 && parsed.data.data)
      return parsed.data.data;
    throw this.errorFor(response, requestId);
  }

  /** Map a WaveSpeed error envelope (`code` may differ from the HTTP status of a 200 answer) or HTTP status. */
  errorFor(response: HttpResponse, requestId: string | undefined): ProviderError {
    const parsed = wavespeedEnvelopeSchema.safeParse(response.body);
    const code = (parsed.success ? parsed.data.code : undefined) ?? response.status;
    const text = this.answerText(response, parsed.success ? parsed.data.message : undefined);
    const message = `WaveSpeedAI: ${text.slice(0, 500)}`;
    const status = response.status === 200 ? code : response.status;
    if (status === 402 || /balance|top.?up|credit/i.test(text))
      return new InsufficientCreditError(message, { provider: this.name, status, requestId });
    if (response.status === 200 && ![400, 401, 403, 422].includes(status))
      return new InvalidResponseError(message, { provider: this.name, status, requestId });
    const field = /parameter ([a-z_]+)/i.exec(text)?.[1];
    return this.errorByStatus(
      { ...response, status },
      { message, requestId, fields: field === undefined ? [] : [{ field, message: text }] },
    );
  }
}
