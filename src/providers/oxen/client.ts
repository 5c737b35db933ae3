/**
 * Oxen.ai adapter. Default mode `queue`: `POST /api/ai/queue` (`num_generations` = images), then
 * `GET /api/ai/queue/{id}` until each generation succeeded — resumable by generation id. Mode `sync`: the blocking
 * `POST /api/ai/images/generate` and `/api/ai/images/edit`. `Authorization: Bearer`. Local input images go as data
 * URIs. Before rows are checked or sent, the adapter reads each model's request schema from `GET /api/ai/models/{id}`
 * (`request_schema` or `json_request_schema`) and derives what rows may ask for from it (./capabilities.ts); the
 * built-in schema stands in when that call fails. Edits go to `gpt-image-2` with `input_image`; rows naming the retired
 * `gpt-image-2-edit` go there too once the host says it does not know it. Wire format: ./wire-schema.ts.
 */
import type { z } from 'zod';
import { Ajv, type ValidateFunction } from 'ajv';
import {
  BadRequestError,
  InvalidResponseError,
  NotFoundError,
  type FieldError,
  type ProviderError,
} from '../../shared/errors.js';
import type { ImageRequest, Quality } from '../../shared/job-definitions.js';
import { capabilityProblems, type ModelCapabilities, type ProviderModels } from '../capabilities.js';
import { recordOf, type ProviderCheck } from '../check.js';
import { ProviderClient } from '../client-base.js';
import { getOnce, type HttpResponse } from '../http.js';
import { toFetchableImage } from '../image-inputs.js';
import type { CallContext, PendingRequest, PollResult, ProviderResponse, SubmitResult } from '../provider.js';
import {
  builtInRequestSchema,
  capabilitiesFromSchema,
  OXEN_MODEL,
  OXEN_RETIRED_EDIT_MODEL,
} from './capabilities.js';
import { findRequestSchema, oxenErrorOfKind, oxenFailure, readOxenError } from './errors.js';
import {
  OXEN_EDIT_PATH,
  OXEN_GENERATE_PATH,
  OXEN_MODELS_PATH,
  OXEN_QUEUE_PATH,
  oxenGenerationSchema,
  oxenImageResponseSchema,
  oxenQueueSubmitResponseSchema,
} from './wire-schema.js';
import { OXEN_SETTINGS } from './settings.js';
import { readOxenPricing, servedUsdPerImage, type OxenServedPricing } from './served-pricing.js';

/** Headers Oxen.ai names a request in (providers.md §3). */
const OXEN_REQUEST_ID_HEADERS = ['x-request-id', 'x-oxen-request-id'] as const;

/** Settings the adapter needs (its part of ./settings.ts; `mode` defaults to `queue`). */
export type OxenSettings = Pick<z.output<typeof OXEN_SETTINGS.schema>, 'apiKey' | 'baseUrl' | 'timeoutMs'> & {
  mode?: 'queue' | 'sync';
};

/** A model's request schema, compiled, with what it lets rows ask for. */
interface ModelSchema {
  validate: ValidateFunction;
  capabilities: ModelCapabilities;
  source: 'host' | 'built-in';
}

const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: false });

/** The Oxen.ai provider. */
export class OxenProvider extends ProviderClient<OxenSettings> {
  readonly name = 'oxen' as const;
  protected readonly keyVariable = OXEN_SETTINGS.keyVariable;
  /** gpt-image-2's `quality` defaults to `high` (models/gpt-image-2.mdx). */
  readonly defaultQuality: Quality = 'high';
  readonly asynchronous: boolean;
  private readonly schemas = new Map<string, ModelSchema>();
  /** Models the host answered "not found" for. */
  private readonly retired = new Set<string>();
  /** The `pricing` object the host served with gpt-image-2, when it had a per-image figure (./served-pricing.ts). */
  private served: OxenServedPricing | undefined;

  constructor(settings: OxenSettings) {
    super(settings);
    this.asynchronous = (settings.mode ?? 'queue') === 'queue';
  }

  /**
   * The model a request goes to: the row's (the current one in place of a retired one); else `gpt-image-2`, except
   * for an edit on a host whose `gpt-image-2` schema takes no `input_image` (the seed's host: its generate schema has
   * none, shared/seeds/oxen-gpt-image-2-generate.txt), which goes to `gpt-image-2-edit` unless that is retired there.
   */
  modelFor(request: ImageRequest): string {
    const model = request.model ?? this.defaultModel(request.operation);
    return model === OXEN_RETIRED_EDIT_MODEL && this.retired.has(model) ? OXEN_MODEL : model;
  }

  /** The model of an operation when the row names none: what the host serves for it (see {@link modelFor}). */
  private defaultModel(operation: ImageRequest['operation']): string {
    if (operation !== 'edit' || this.retired.has(OXEN_RETIRED_EDIT_MODEL)) return OXEN_MODEL;
    const current = this.schemaFor(OXEN_MODEL)?.capabilities.operations ?? [];
    return current.includes('edit') ? OXEN_MODEL : OXEN_RETIRED_EDIT_MODEL;
  }

  /** The models as this adapter knows them now (from the host's schemas where read). */
  modelTable(): ProviderModels {
    return {
      label: 'Oxen.ai',
      defaultModel: (operation) => this.defaultModel(operation),
      models: [OXEN_MODEL, OXEN_RETIRED_EDIT_MODEL].map((model) => this.schemaFor(model)!.capabilities),
    };
  }

  override checkRequest(request: ImageRequest): FieldError[] {
    const routed = { ...request, model: this.modelFor(request) };
    const errors = capabilityProblems(this.modelTable(), routed, this.tierBook);
    if (errors.length === 0 && this.schemaFor(routed.model) !== undefined) {
      const problem = this.schemaProblem(routed, this.placeholderParameters(routed));
      if (problem !== undefined) errors.push(problem);
    }
    return errors;
  }

  override capabilitiesFor(request: ImageRequest): ModelCapabilities | undefined {
    return this.schemaFor(this.modelFor(request))?.capabilities;
  }

  /**
   * Read the request schema of each model from the host; keep the built-in one where that fails. A model the host does
   * not know is retired (its rows go to `gpt-image-2`).
   */
  async prepare(context: CallContext): Promise<void> {
    if (this.settings.apiKey === undefined) return;
    for (const model of [OXEN_MODEL, OXEN_RETIRED_EDIT_MODEL]) {
      try {
        const response = await getOnce(
          this.url(`${OXEN_MODELS_PATH}/${encodeURIComponent(model)}`),
          this.callOptions(context),
        );
        if (response.status === 404 && model !== OXEN_MODEL) {
          this.retired.add(model);
          context.log.info({ model, instead: OXEN_MODEL }, 'Oxen.ai no longer serves this model');
          continue;
        }
        const schema = findRequestSchema(response.body);
        if (response.status !== 200 || schema === undefined) throw new Error(`HTTP ${response.status}`);
        this.schemas.set(model, this.compile(model, schema, 'host'));
        if (model === OXEN_MODEL) this.served = readOxenPricing(response.body);
        context.log.info({ model, pricing: this.served ?? null }, 'read the request schema Oxen.ai serves');
      } catch (error) {
        context.log.warn(
          { model, reason: (error as Error).message },
          'could not read the Oxen.ai request schema; using the built-in one',
        );
      }
    }
  }

  /**
   * USD per image the host's `pricing` object gives for `request` (its resolution tier and quality, else the default),
   * once `prepare` read it; undefined when it served none.
   */
  servedPrice(request: ImageRequest): number | undefined {
    if (this.served === undefined) return undefined;
    // A model of listed sizes has no tier: its rows take the flat `cost_per_image`.
    const tier = this.sizeParameters(request)?.resolution ?? '';
    return servedUsdPerImage(this.served, tier, request.quality ?? this.defaultQuality);
  }

  /** `GET /api/ai/models/gpt-image-2` (free): the parameters and pricing the host serves now. */
  check(context: CallContext): Promise<ProviderCheck> {
    return this.checkWith(this.url(`${OXEN_MODELS_PATH}/${OXEN_MODEL}`), context, (body) => {
      const schema = findRequestSchema(body);
      const parameters = Object.keys(recordOf(schema?.properties));
      const pricing = recordOf(body).pricing;
      return {
        summary:
          `key works; ${OXEN_MODEL} takes ${parameters.join(', ') || 'no published parameters'}` +
          `; pricing ${JSON.stringify(pricing ?? null)}`,
        details: { request_schema: schema ?? null, pricing: pricing ?? null },
      };
    });
  }

  private compile(
    model: string,
    schema: Record<string, unknown>,
    source: ModelSchema['source'],
  ): ModelSchema {
    return {
      validate: ajv.compile(schema),
      capabilities: capabilitiesFromSchema(model, schema, {
        sync: !this.asynchronous,
        source:
          source === 'host' ? `${this.settings.baseUrl}${OXEN_MODELS_PATH}/${model}` : 'built-in schema',
      }),
      source,
    };
  }

  private schemaFor(model: string): ModelSchema | undefined {
    let schema = this.schemas.get(model);
    if (schema === undefined) {
      const builtIn = builtInRequestSchema(model);
      if (builtIn === undefined) return undefined;
      schema = this.compile(model, builtIn, 'built-in');
      this.schemas.set(model, schema);
    }
    return schema;
  }

  /** The parameters of `request` with stand-ins for its images (enqueue-time checks read no files). */
  private placeholderParameters(request: ImageRequest): Record<string, unknown> {
    const stand = 'https://example.invalid/input.png';
    return this.sizedParameters(request, {
      ...(request.operation === 'edit' ? { input_image: request.inputImages.map(() => stand) } : {}),
      ...(request.mask === undefined ? {} : { mask_url: stand }),
    });
  }

  /** The model parameters of `request` in its schema's form, with the given image fields. */
  private sizedParameters(request: ImageRequest, images: Record<string, unknown>): Record<string, unknown> {
    const parameters: Record<string, unknown> = { prompt: request.prompt, ...images };
    parameters.resolution = request.resolution;
    Object.assign(parameters, this.sizeParameters(request) ?? {});
    if (request.quality !== undefined) parameters.quality = request.quality;
    parameters.output_format = request.outputFormat;
    const schema = this.schemaFor(this.modelFor(request));
    if (schema !== undefined && hasProperty(schema, 'num_images') && !this.asynchronous)
      parameters.num_images = request.numImages;
    return parameters;
  }

  /** The schema's objection to `parameters`, as a field error, or undefined. */
  private schemaProblem(request: ImageRequest, parameters: Record<string, unknown>): FieldError | undefined {
    const schema = this.schemaFor(this.modelFor(request));
    if (schema === undefined || schema.validate(parameters)) return undefined;
    const issue = schema.validate.errors?.[0];
    const field =
      issue?.instancePath.replace(/^\//, '').split('/')[0] ||
      (issue?.params as { missingProperty?: string })?.missingProperty ||
      'body';
    const model = this.modelFor(request);
    return {
      field,
      message: `Oxen.ai's ${schema.source} schema for ${model} refuses ${field}: ${issue?.message ?? 'invalid'}`,
    };
  }

  /**
   * The model parameters for `request` (local files as data URIs), checked against the model's schema.
   * @throws BadRequestError naming the field the host would refuse (nothing sent).
   */
  async buildParameters(request: ImageRequest): Promise<Record<string, unknown>> {
    const routed = { ...request, model: this.modelFor(request) };
    const images: Record<string, unknown> = {};
    try {
      if (routed.operation === 'edit')
        images.input_image = await Promise.all(routed.inputImages.map(toFetchableImage));
      if (routed.mask !== undefined) images.mask_url = await toFetchableImage(routed.mask);
    } catch (error) {
      throw this.unsendable('image_urls', (error as Error).message);
    }
    const parameters = this.sizedParameters(routed, images);
    const problem = this.schemaProblem(routed, parameters);
    if (problem !== undefined)
      throw new BadRequestError(problem.message, { provider: this.name, requestMaybeSent: false }, [problem]);
    return parameters;
  }

  /**
   * Images one call of `request` makes: all of them in queue mode (`num_generations`) or where the model's schema takes
   * `num_images`; else one — a sync row of several images is then made by that many calls, each stored as it returns
   * (src/worker/calls-in-parts.ts), so a crash after one never pays for it again.
   */
  imagesPerCall(request: ImageRequest): number {
    if (this.asynchronous) return request.numImages;
    const schema = this.schemaFor(this.modelFor(request));
    return schema !== undefined && hasProperty(schema, 'num_images') ? request.numImages : 1;
  }

  /** The exact JSON body of a sync call for `request`. */
  async buildBody(request: ImageRequest): Promise<Record<string, unknown>> {
    return { model: this.modelFor(request), ...(await this.buildParameters(request)) };
  }

  async submit(request: ImageRequest, context: CallContext): Promise<SubmitResult> {
    try {
      return await this.submitOnce(request, context);
    } catch (error) {
      // "Model not found" is a definite answer (nothing made, nothing billed): a retired model's row goes to the
      // current one, once.
      const model = this.modelFor(request);
      if (!(error instanceof NotFoundError) || model !== OXEN_RETIRED_EDIT_MODEL) throw error;
      this.retired.add(model);
      context.log.warn(
        { model, instead: OXEN_MODEL },
        'Oxen.ai does not know this model; sending to gpt-image-2',
      );
      return this.submitOnce(request, context);
    }
  }

  private async submitOnce(request: ImageRequest, context: CallContext): Promise<SubmitResult> {
    const model = this.modelFor(request);
    if (this.asynchronous) {
      const body = { model, ...(await this.buildParameters(request)), num_generations: request.numImages };
      const response = await this.postOk(this.url(OXEN_QUEUE_PATH), body, context);
      const queued = this.read(oxenQueueSubmitResponseSchema, response, 'Oxen.ai queued nothing');
      return this.pending(
        queued.generations.map((generation) => generation.generation_id),
        model,
      );
    }
    const path = request.operation === 'edit' ? OXEN_EDIT_PATH : OXEN_GENERATE_PATH;
    const response = await this.postOk(this.url(path), await this.buildBody(request), context, {
      requestIdHeaders: OXEN_REQUEST_ID_HEADERS,
    });
    const requestId = OXEN_REQUEST_ID_HEADERS.map((name) => response.headers[name]).find(Boolean);
    const answer = this.read(oxenImageResponseSchema, response, 'Oxen.ai answered without images', requestId);
    const result: ProviderResponse = {
      model: answer.model ?? model,
      images: answer.images.map((image) =>
        'url' in image ? { kind: 'url', url: image.url } : { kind: 'base64', data: image.b64_json },
      ),
    };
    if (requestId !== undefined) result.requestId = requestId;
    return { kind: 'completed', response: result };
  }

  async poll(pending: PendingRequest, context: CallContext): Promise<PollResult> {
    const urls: string[] = [];
    for (const id of pending.requestIds) {
      const response = await this.getOk(
        this.url(`${OXEN_QUEUE_PATH}/${encodeURIComponent(id)}`),
        context,
        id,
      );
      const generation = this.read(
        oxenGenerationSchema,
        response,
        `Oxen.ai sent an unreadable status for ${id}`,
        id,
      );
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

  /** A failed generation's `error_message` as an error (see ./errors.ts). */
  failureOf(message: string, requestId: string): ProviderError {
    return oxenFailure(message, requestId);
  }

  /** Map an Oxen error answer: its credit, content-policy and not-found bodies (./errors.ts), then the status. */
  errorFor(response: HttpResponse, requestId: string | undefined): ProviderError {
    const reading = readOxenError(response);
    const details = { provider: this.name, status: response.status, requestId };
    const message = `Oxen.ai: ${this.answerText(response, reading.text.slice(0, 500))}`;
    const known = reading.kind === undefined ? undefined : oxenErrorOfKind(reading.kind, message, details);
    return known ?? this.errorByStatus(response, { message, requestId, fields: reading.fields });
  }
}

function hasProperty(schema: ModelSchema, name: string): boolean {
  const properties = (schema.validate.schema as { properties?: Record<string, unknown> }).properties;
  return properties !== undefined && name in properties;
}
