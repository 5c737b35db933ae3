/**
 * Replicate adapter: `POST /models/openai/gpt-image-2/predictions` without `Prefer: wait` (the call answers at once
 * with the prediction id, which is saved before any wait: a held-open call killed midway would leave a paid
 * prediction nobody can follow), then poll `GET /predictions/{id}` until `succeeded`, `failed`, `canceled` or `aborted`.
 * `Authorization: Bearer`. Local input images go as data URIs while they total at most 1 MB (Replicate: data URIs are
 * "only recommended if the file is less than 1MB", replicate.com/docs/topics/predictions/input-files, read 2026-12-02;
 * replicate-javascript `lib/util.js` refuses more than 10 MB inline), else each is uploaded through the files API
 * (`POST /files`, multipart `content` + `metadata`, `lib/files.js`) and sent as its `urls.get`. What rows may ask for
 * comes from the model's live input schema, read by `prepare` (./served-schema.ts), else the built-in table
 * (./capabilities.ts). Wire format: ./wire-schema.ts.
 */
import type { z } from 'zod';
import path from 'node:path';
import { FormData } from 'undici';
import {
  ContentPolicyError,
  InsufficientCreditError,
  InvalidResponseError,
  NotStartedError,
  TaskFailedError,
  type ProviderError,
} from '../../shared/errors.js';
import type { ImageRequest, Quality } from '../../shared/job-definitions.js';
import { findModel, type ProviderModels } from '../capabilities.js';
import { recordOf, type ProviderCheck } from '../check.js';
import { ProviderClient } from '../client-base.js';
import { getOnce, postOnce, unpaidCall, type HttpResponse } from '../http.js';
import type { CallContext, PendingRequest, PollResult, ProviderResponse, SubmitResult } from '../provider.js';
import { REPLICATE_CLASSIC_RATIOS, REPLICATE_MODELS } from './capabilities.js';
import {
  replicateErrorSchema,
  replicateFileSchema,
  replicatePredictionSchema,
  type ReplicatePrediction,
} from './wire-schema.js';
import { REPLICATE_SETTINGS } from './settings.js';
import { capabilitiesFromInput, servedInputProperties } from './served-schema.js';

/** Settings the adapter needs (its part of ./settings.ts). */
export type ReplicateSettings = Pick<
  z.output<typeof REPLICATE_SETTINGS.schema>,
  'apiKey' | 'baseUrl' | 'timeoutMs'
>;

/**
 * Most bytes of local input images sent inline as data URIs in one prediction: Replicate recommends data URIs only
 * below 1 MB (replicate.com/docs/topics/predictions/input-files).
 */
export const REPLICATE_MAX_INLINE_BYTES = 1_000_000;

/**
 * Time a started prediction is given to run beyond its start deadline before `Cancel-After` ends it, ms. `Cancel-After`
 * bounds the whole prediction, queue and run: one reached before it starts ends `aborted` (not charged), one reached
 * while it runs ends `canceled` — charged (replicate.com/changelog/2025-10-16-prediction-deadlines). GPT Image 2 runs
 * for a minute or two at high quality, so ten minutes keeps a started prediction from being cut off and paid for
 * nothing; the start deadline itself is kept by the worker, which cancels a prediction still `starting` at it
 * (src/worker/start-deadline.ts).
 */
export const REPLICATE_RUN_ALLOWANCE_MS = 10 * 60_000;

/** `Cancel-After: <seconds>s` for a start deadline (the deadline plus the run allowance); none without a deadline. */
function cancelAfterHeader(startDeadlineMs: number | undefined): Record<string, string> {
  if (startDeadlineMs === undefined) return {};
  return { 'cancel-after': `${Math.ceil((startDeadlineMs + REPLICATE_RUN_ALLOWANCE_MS) / 1000)}s` };
}

/** The Replicate provider. */
export class ReplicateProvider extends ProviderClient<ReplicateSettings> {
  readonly name = 'replicate' as const;
  protected readonly keyVariable = REPLICATE_SETTINGS.keyVariable;
  /** Replicate's default quality is `auto`; estimated as `high`, the most it can cost. */
  readonly defaultQuality: Quality = 'high';
  readonly asynchronous = true;
  /** Replicate deletes API prediction outputs after 1 hour: https://replicate.com/docs/topics/predictions/data-retention */
  readonly resultLifetimeMs = 60 * 60_000;
  readonly acceptsWebhooks = true;
  /** The models as the host's live schema describes them, once `prepare` read it. */
  private served: ProviderModels | undefined;

  modelFor(request: ImageRequest): string {
    return request.model ?? REPLICATE_MODELS.defaultModel(request.operation);
  }

  modelTable(): ProviderModels {
    return this.served ?? REPLICATE_MODELS;
  }

  /**
   * Read the model's live input schema (`GET /models/openai/gpt-image-2`, free) and derive what rows may ask for from
   * it; keep the built-in table where that fails. Never throws.
   */
  async prepare(context: CallContext): Promise<void> {
    if (this.settings.apiKey === undefined) return;
    const model = REPLICATE_MODELS.defaultModel('generate');
    try {
      const response = await getOnce(this.url(`/models/${model}`), this.callOptions(context));
      const properties = servedInputProperties(response.body);
      if (response.status !== 200 || properties === undefined) throw new Error(`HTTP ${response.status}`);
      const builtIn = findModel(REPLICATE_MODELS, model)!;
      const served = capabilitiesFromInput(
        properties,
        builtIn,
        `${this.url(`/models/${model}`)} (live schema)`,
      );
      this.served = { ...REPLICATE_MODELS, models: [served] };
      context.log.info(
        { model, maxImages: served.maxImages, sizes: served.sizes },
        'read the input schema Replicate serves',
      );
    } catch (error) {
      context.log.warn(
        { model, reason: (error as Error).message },
        'could not read the Replicate input schema; using the built-in one',
      );
    }
  }

  /** `GET /models/openai/gpt-image-2` (free): the model's current input schema (sizes, image counts). */
  check(context: CallContext): Promise<ProviderCheck> {
    const model = REPLICATE_MODELS.defaultModel('generate');
    return this.checkWith(this.url(`/models/${model}`), context, (body) => {
      const version = recordOf(recordOf(body).latest_version);
      const schemas = recordOf(recordOf(recordOf(version.openapi_schema).components).schemas);
      const input = recordOf(recordOf(schemas.Input).properties);
      const ratios = recordOf(input.aspect_ratio).enum;
      return {
        summary: `key works; ${model} version ${String(version.id)}, aspect_ratio ${Array.isArray(ratios) ? ratios.join(' ') : 'not listed'}`,
        details: { version: version.id, input },
      };
    });
  }

  /** The exact `input` sent for `request` (local files inline, or uploaded through the files API when large). */
  async buildInput(request: ImageRequest, context: CallContext): Promise<Record<string, unknown>> {
    const input: Record<string, unknown> = {
      prompt: request.prompt,
      aspect_ratio: REPLICATE_CLASSIC_RATIOS[request.resolution] ?? request.resolution,
      number_of_images: request.numImages,
      output_format: request.outputFormat,
    };
    if (request.operation === 'edit')
      input.input_images = await this.inputImages(request.inputImages, context);
    if (request.quality !== undefined) input.quality = request.quality;
    if (request.background !== undefined) input.background = request.background;
    if (request.moderation !== undefined) input.moderation = request.moderation;
    if (request.outputCompression !== undefined) input.output_compression = request.outputCompression;
    return input;
  }

  /**
   * Input images as Replicate reads them: URLs unchanged; local files as data URIs while all of them together are at
   * most 1 MB, else each uploaded through the files API.
   * @throws BadRequestError (nothing sent) when a file cannot be read or is not an image.
   */
  private async inputImages(references: string[], context: CallContext): Promise<string[]> {
    const local = new Map<string, { bytes: Buffer; type: string }>();
    for (const reference of references) {
      if (!path.isAbsolute(reference) || local.has(reference)) continue;
      local.set(reference, await this.localImage(reference));
    }
    const inlineBytes = [...local.values()].reduce((sum, file) => sum + file.bytes.length, 0);
    const upload = inlineBytes > REPLICATE_MAX_INLINE_BYTES;
    const sent = new Map<string, string>();
    for (const [reference, file] of local) {
      sent.set(
        reference,
        upload
          ? await this.uploadFile(file.bytes, file.type, path.basename(reference), context)
          : `data:${file.type};base64,${file.bytes.toString('base64')}`,
      );
    }
    return references.map((reference) => sent.get(reference) ?? reference);
  }

  /** Upload one file (`POST /files`, multipart `content` + `metadata`); its `urls.get`. Not a paid call. */
  private async uploadFile(bytes: Buffer, type: string, name: string, context: CallContext): Promise<string> {
    const form = new FormData();
    form.append('content', new Blob([bytes], { type }), name);
    form.append('metadata', new Blob([JSON.stringify({})], { type: 'application/json' }));
    const response = await unpaidCall(() => this.postOk(this.url('/files'), form, context));
    const parsed = replicateFileSchema.safeParse(response.body);
    if (!parsed.success)
      throw new InvalidResponseError('Replicate accepted a file upload without a URL', {
        provider: this.name,
        status: response.status,
        requestMaybeSent: false,
      });
    return parsed.data.urls.get;
  }

  async submit(request: ImageRequest, context: CallContext): Promise<SubmitResult> {
    const model = this.modelFor(request);
    const body = {
      input: await this.buildInput(request, context),
      // Only the final state is announced (replicate.com/docs/topics/webhooks/setup-webhook: `completed` is sent when
      // the prediction succeeds, fails or is canceled).
      ...(context.webhookUrl === undefined
        ? {}
        : { webhook: context.webhookUrl, webhook_events_filter: ['completed'] }),
    };
    const response = await this.postOk(this.url(`/models/${model}/predictions`), body, context, {
      headers: cancelAfterHeader(context.startDeadlineMs),
    });
    const prediction = this.readPrediction(response);
    // Hand back the id first, so it is saved before anything else can go wrong; the first poll finishes it.
    return this.pending([prediction.id], model, { statusUrl: prediction.urls?.get });
  }

  async poll(pending: PendingRequest, context: CallContext): Promise<PollResult> {
    const id = pending.requestIds[0]!;
    const url = pending.statusUrl ?? this.url(`/predictions/${encodeURIComponent(id)}`);
    const prediction = this.readPrediction(await this.getOk(url, context, id));
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

  /**
   * Cancel the prediction if it has not started (`starting`, no `started_at`): `POST /predictions/{id}/cancel`
   * (replicate-javascript `predictions.cancel`); `cancelled` only when the answer is `canceled` or `aborted` with no
   * `started_at` — it never ran, and a public model's prediction that never ran is not charged (changelog 2025-10-16,
   * prediction deadlines). A running one, a cancel that raced its start, or a failed call: `started`, followed to its
   * end.
   */
  async cancelIfQueued(pending: PendingRequest, context: CallContext): Promise<'cancelled' | 'started'> {
    const id = pending.requestIds[0]!;
    const url = pending.statusUrl ?? this.url(`/predictions/${encodeURIComponent(id)}`);
    try {
      const current = replicatePredictionSchema.safeParse(
        (await getOnce(url, this.callOptions(context))).body,
      );
      if (!current.success || current.data.status !== 'starting') return 'started';
      const answer = await postOnce(
        current.data.urls?.cancel ?? `${url}/cancel`,
        {},
        this.callOptions(context),
      );
      const after = replicatePredictionSchema.safeParse(answer.body);
      const neverRan =
        after.success &&
        ['canceled', 'aborted'].includes(after.data.status) &&
        (after.data.started_at ?? null) === null;
      return answer.status < 300 && neverRan ? 'cancelled' : 'started';
    } catch {
      return 'started';
    }
  }

  private readPrediction(response: HttpResponse): ReplicatePrediction {
    return this.read(replicatePredictionSchema, response, 'Replicate sent an unreadable prediction');
  }

  /**
   * A prediction that ended without success: one that never ran (`aborted` at its `Cancel-After` deadline, or
   * `canceled` with no `started_at`: removed from the queue) is not billed — `NotStartedError`; else a safety refusal,
   * or a failed/canceled task.
   */
  failureOf(prediction: ReplicatePrediction): ProviderError {
    const reason = prediction.error ?? prediction.status;
    const details = { provider: this.name, requestId: prediction.id };
    const message = `Replicate: ${reason}`;
    const neverRan = (prediction.started_at ?? null) === null;
    if (prediction.status === 'aborted' || (prediction.status === 'canceled' && neverRan))
      return new NotStartedError(
        `Replicate: prediction ${prediction.id} ${prediction.status} before it started`,
        details,
      );
    if (/safety|flagged|sensitive|moderation|content polic/i.test(reason))
      return new ContentPolicyError(message, details);
    return new TaskFailedError(message, details);
  }

  /** Map a Replicate error answer: 402 credit, 422 validation (naming the field), 429 with the reset time. */
  errorFor(response: HttpResponse, requestId: string | undefined): ProviderError {
    const parsed = replicateErrorSchema.safeParse(response.body);
    const body = parsed.success ? parsed.data : {};
    const text = this.answerText(response, body.detail, body.title);
    const message = `Replicate: ${text.slice(0, 500)}`;
    if (response.status === 402)
      return new InsufficientCreditError(message, {
        provider: this.name,
        status: response.status,
        requestId,
      });
    const fields = (body.invalid_fields ?? []).map((field) => ({
      field: (field.field ?? 'input').replace(/^input\./, ''),
      message: field.description ?? text,
    }));
    const named = /input\.([a-z_]+)/.exec(text)?.[1];
    if (fields.length === 0 && named !== undefined) fields.push({ field: named, message: text });
    const resetsIn = /resets in ~?(\d+)\s*s/i.exec(text)?.[1];
    return this.errorByStatus(response, {
      message,
      requestId,
      fields,
      retryAfterMs: resetsIn === undefined ? undefined : Number(resetsIn) * 1000,
    });
  }
}
