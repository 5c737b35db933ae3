/**
 * Oxen.ai adapter. Default mode `queue`: `POST /api/ai/queue` (one generation per image), then
 * `GET /api/ai/queue/{id}` until each generation succeeded — resumable by generation id. Mode `sync`: the blocking
 * `POST /api/ai/images/generate` and `/api/ai/images/edit`. `Authorization: Bearer`. Local input images go as data
 * URIs. At worker start the adapter reads the model's `json_request_schema` from `GET /api/ai/models/{id}` and
 * validates every request against what the host serves now (the built-in seeded schema when that call fails); a host
 * whose schema uses the current `aspect_ratio` + `1K|2K|4K` form gets that form. Wire format: ./wire-schema.ts.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import {
  AuthenticationError,
  BadRequestError,
  ContentPolicyError,
  InsufficientCreditError,
  InvalidResponseError,
  NotFoundError,
  TaskFailedError,
  type FieldError,
  type ProviderError,
} from '../../shared/errors.js';
import type { ProviderSettings } from '../../shared/config.js';
import type { ImageRequest, Quality } from '../../shared/job-definitions.js';
import { parseResolution } from '../../shared/resolution-tier.js';
import { errorForStatus, getOnce, postOnce, type HttpResponse, authorizedCallOptions } from '../http.js';
import { toFetchableImage } from '../image-inputs.js';
import type {
  CallContext,
  ImageProvider,
  PendingRequest,
  PollResult,
  ProviderResponse,
  SubmitResult,
} from '../provider.js';
import { aspectRatioOf } from '../size-rules.js';
import {
  OXEN_DEFAULT_EDIT_MODEL,
  OXEN_DEFAULT_GENERATE_MODEL,
  OXEN_EDIT_PATH,
  OXEN_GENERATE_PATH,
  OXEN_MAX_NUM_IMAGES,
  OXEN_MODELS_PATH,
  OXEN_QUALITIES,
  OXEN_QUEUE_PATH,
  OXEN_RESOLUTIONS,
  oxenErrorBodySchema,
  oxenGenerationSchema,
  oxenImageResponseSchema,
  oxenQueueSubmitResponseSchema,
  seededJsonRequestSchema,
} from './wire-schema.js';

/** Settings the adapter needs. */
export type OxenSettings = Pick<ProviderSettings, 'apiKey' | 'baseUrl' | 'timeoutMs' | 'mode'>;

/** A model schema as read from the host, compiled. */
interface ModelSchema {
  validate: ValidateFunction;
  /** `sizes`: `resolution` takes `WIDTHxHEIGHT` (seeded); `tiers`: `aspect_ratio` + `1K|2K|4K` (current). */
  dialect: 'sizes' | 'tiers';
  source: 'host' | 'built-in';
}

const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: false });

/** The Oxen.ai provider. */
export class OxenProvider implements ImageProvider {
  readonly name = 'oxen' as const;
  /** Oxen's quality is "Locked to high" (seed). */
  readonly defaultQuality: Quality = 'high';
  readonly asynchronous: boolean;
  private readonly schemas = new Map<string, ModelSchema>();

  constructor(private readonly settings: OxenSettings) {
    this.asynchronous = (settings.mode ?? 'queue') === 'queue';
  }

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

  /** Read the json_request_schema of both default models from the host; keep the built-in one where that fails. */
  async prepare(context: CallContext): Promise<void> {
    for (const [model, operation] of [
      [OXEN_DEFAULT_GENERATE_MODEL, 'generate'],
      [OXEN_DEFAULT_EDIT_MODEL, 'edit'],
    ] as const) {
      try {
        const response = await getOnce(
          `${this.settings.baseUrl}${OXEN_MODELS_PATH}/${encodeURIComponent(model)}`,
          this.callOptions(context),
        );
        const schema = findRequestSchema(response.body);
        if (response.status !== 200 || schema === null || typeof schema !== 'object')
          throw new Error(`HTTP ${response.status}`);
        this.schemas.set(model, compileSchema(schema as Record<string, unknown>, 'host'));
        context.log.info({ model }, 'read the model schema Oxen.ai serves');
      } catch (error) {
        this.schemas.set(model, compileSchema(seededJsonRequestSchema(operation), 'built-in'));
        context.log.warn(
          { model, reason: (error as Error).message },
          'could not read the Oxen.ai model schema; using the built-in one',
        );
      }
    }
  }

  private schemaFor(model: string, operation: 'generate' | 'edit'): ModelSchema {
    let schema = this.schemas.get(model);
    if (schema === undefined) {
      schema = compileSchema(seededJsonRequestSchema(operation), 'built-in');
      this.schemas.set(model, schema);
    }
    return schema;
  }

  /**
   * The model parameters for `request` in the schema's dialect (local files as data URIs), checked against the
   * schema. @throws BadRequestError naming the field the host would refuse.
   */
  async buildParameters(request: ImageRequest): Promise<Record<string, unknown>> {
    const model = this.modelFor(request);
    const schema = this.schemaFor(model, request.operation);
    const parameters: Record<string, unknown> = { prompt: request.prompt };
    if (schema.dialect === 'sizes') parameters.resolution = request.resolution;
    else {
      const size = parseResolution(request.resolution)!;
      const pixels = size.width * size.height;
      parameters.aspect_ratio = aspectRatioOf(size);
      parameters.resolution = pixels <= 1_600_000 ? '1K' : pixels <= 4_200_000 ? '2K' : '4K';
    }
    if (request.quality !== undefined) parameters.quality = request.quality;
    parameters.output_format = request.outputFormat;
    if (request.operation === 'edit') {
      try {
        parameters.input_image = await Promise.all(request.inputImages.map(toFetchableImage));
        if (request.mask !== undefined) parameters.mask_url = await toFetchableImage(request.mask);
      } catch (error) {
        throw new BadRequestError((error as Error).message, { provider: this.name }, [
          { field: 'image_urls', message: (error as Error).message },
        ]);
      }
    }
    const checked = {
      ...parameters,
      ...(hasProperty(schema, 'num_images') ? { num_images: request.numImages } : {}),
    };
    if (!schema.validate(checked)) {
      const issue = schema.validate.errors?.[0];
      const field =
        issue?.instancePath.replace(/^\//, '').split('/')[0] ||
        (issue?.params as { missingProperty?: string })?.missingProperty ||
        'body';
      const message = `Oxen.ai's ${schema.source} schema for ${model} refuses ${field}: ${issue?.message ?? 'invalid'}`;
      throw new BadRequestError(message, { provider: this.name }, [{ field, message }]);
    }
    return parameters;
  }

  /** The exact JSON body of a sync call for `request`. */
  async buildBody(request: ImageRequest): Promise<Record<string, unknown>> {
    const parameters = await this.buildParameters(request);
    return { model: this.modelFor(request), ...parameters, num_images: request.numImages };
  }

  async submit(request: ImageRequest, context: CallContext): Promise<SubmitResult> {
    const model = this.modelFor(request);
    if (!this.asynchronous) {
      const body = await this.buildBody(request);
      const path = request.operation === 'edit' ? OXEN_EDIT_PATH : OXEN_GENERATE_PATH;
      const response = await postOnce(`${this.settings.baseUrl}${path}`, body, this.callOptions(context));
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
        model: parsed.data.model ?? model,
        images: parsed.data.images.map((image) =>
          'url' in image ? { kind: 'url', url: image.url } : { kind: 'base64', data: image.b64_json },
        ),
      };
      if (requestId !== undefined) result.requestId = requestId;
      return { kind: 'completed', response: result };
    }
    const body = { model, ...(await this.buildParameters(request)), num_generations: request.numImages };
    const response = await postOnce(
      `${this.settings.baseUrl}${OXEN_QUEUE_PATH}`,
      body,
      this.callOptions(context),
    );
    if (response.status < 200 || response.status >= 300) throw this.errorFor(response, undefined);
    const parsed = oxenQueueSubmitResponseSchema.safeParse(response.body);
    if (!parsed.success)
      throw new InvalidResponseError('Oxen.ai queued nothing', {
        provider: this.name,
        status: response.status,
      });
    return {
      kind: 'pending',
      request: {
        provider: this.name,
        requestIds: parsed.data.generations.map((generation) => generation.generation_id),
        model,
        submittedAt: new Date().toISOString(),
      },
    };
  }

  async poll(pending: PendingRequest, context: CallContext): Promise<PollResult> {
    const urls: string[] = [];
    for (const id of pending.requestIds) {
      const response = await getOnce(
        `${this.settings.baseUrl}${OXEN_QUEUE_PATH}/${encodeURIComponent(id)}`,
        this.callOptions(context),
      );
      if (response.status !== 200) throw this.errorFor(response, id);
      const parsed = oxenGenerationSchema.safeParse(response.body);
      if (!parsed.success)
        throw new InvalidResponseError(`Oxen.ai sent an unreadable status for ${id}`, {
          provider: this.name,
          requestId: id,
        });
      const generation = parsed.data;
      if (generation.status === 'failed' || generation.status === 'cancelled') {
        throw this.failureOf(generation.error_message ?? generation.status, id);
      }
      if (generation.status !== 'succeeded') return { kind: 'pending' };
      if (generation.result_url === null || generation.result_url === undefined) {
        throw new InvalidResponseError(`Oxen.ai generation ${id} succeeded without a result_url`, {
          provider: this.name,
          requestId: id,
        });
      }
      urls.push(generation.result_url);
    }
    return {
      kind: 'completed',
      response: {
        model: pending.model,
        requestId: pending.requestIds.join(','),
        images: urls.map((url) => ({ kind: 'url', url })),
      },
    };
  }

  /** A failed generation's `error_message` as an error: credit, content policy, a parameter, or a model failure. */
  failureOf(message: string, requestId: string): ProviderError {
    const details = { provider: this.name, requestId };
    const text = `Oxen.ai: ${message}`;
    if (/insufficient credits?/i.test(message)) return new InsufficientCreditError(text, details);
    if (/content polic|safety|moderation/i.test(message)) return new ContentPolicyError(text, details);
    const field = /^([a-z_]+): /.exec(message)?.[1];
    if (field !== undefined) return new BadRequestError(text, details, [{ field, message }]);
    return new TaskFailedError(text, details);
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
    if (error?.type === 'content_policy' || /content polic|safety system|moderation/i.test(text))
      return new ContentPolicyError(message, details);
    if (/model not found/i.test(text) || error?.type === 'resource_not_found')
      return new NotFoundError(message, details);
    if (response.status === 401 || response.status === 403) return new AuthenticationError(message, details);
    if (response.status === 400 || response.status === 422) {
      const field = /^([a-z_]+): /.exec(error?.detail ?? '')?.[1];
      return new BadRequestError(message, details, field === undefined ? [] : [{ field, message: reason }]);
    }
    return errorForStatus(message, details, response.headers);
  }

  private callOptions(context: { signal: AbortSignal }) {
    return authorizedCallOptions(this.name, this.settings.apiKey, context, this.settings.timeoutMs);
  }
}

/** The `json_request_schema` of a model answer: at the top, or under `model` or `data`. */
function findRequestSchema(body: unknown): unknown {
  const record = (value: unknown): Record<string, unknown> | undefined =>
    value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
  const top = record(body);
  return (
    top?.json_request_schema ??
    record(top?.model)?.json_request_schema ??
    record(top?.data)?.json_request_schema
  );
}

function compileSchema(schema: Record<string, unknown>, source: ModelSchema['source']): ModelSchema {
  const resolution = (schema.properties as Record<string, { enum?: unknown[] }> | undefined)?.resolution;
  const dialect =
    resolution?.enum?.some((value) => typeof value === 'string' && /^\d+K$/i.test(value)) === true
      ? 'tiers'
      : 'sizes';
  return { validate: ajv.compile(schema), dialect, source };
}

function hasProperty(schema: ModelSchema, name: string): boolean {
  const properties = (schema.validate.schema as { properties?: Record<string, unknown> }).properties;
  return properties !== undefined && name in properties;
}
