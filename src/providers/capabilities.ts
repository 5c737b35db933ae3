/**
 * What each provider's models can make: one capability table per provider × model (each provider's
 * `./<provider>/capabilities.ts`), checked when rows are enqueued, so a row its model cannot honour is rejected with the
 * provider's own limit before any paid call. Every table names its sources.
 */
import type { FieldError } from '../shared/errors.js';
import type {
  Background,
  ImageRequest,
  ModelParameter,
  Operation,
  OutputFormat,
  Quality,
} from '../shared/job-definitions.js';
import { parseResolution } from '../shared/resolution.js';
import { pixelSizeProblem, type PixelLimits } from './size-rules.js';
import { planNamedTier, planTier, type TierPlan, type TierSizeBook } from './tier-sizes.js';

/** MIME types of input images. */
export type InputImageType = 'image/png' | 'image/jpeg' | 'image/webp' | 'image/gif';

/** How a model takes an output size. */
export type SizeRule =
  /** Any `WIDTHxHEIGHT` within limits (OpenAI `size`, fal `image_size`). */
  | ({ kind: 'pixels' } & PixelLimits)
  /** Only the listed `WIDTHxHEIGHT` sizes (Replicate's `aspect_ratio` sizes, Oxen.ai's seeded schema). */
  | { kind: 'listed'; sizes: readonly string[] }
  /**
   * An aspect ratio and a resolution tier (WaveSpeedAI, Oxen.ai now): the nearest ratio and the smallest tier that
   * delivers at least the row's size (./tier-sizes.ts). `auto`: the host also takes `aspect_ratio: auto`.
   */
  | { kind: 'ratio-and-tier'; ratios: readonly string[]; tiers: readonly string[]; auto?: boolean };

/** What one model of one provider accepts. */
export interface ModelCapabilities {
  /** The model id as the row names it. */
  model: string;
  operations: readonly Operation[];
  /** Qualities the model takes (a row without one gets the provider's default). */
  qualities: readonly Quality[];
  /** Images one request may make. */
  maxImages: number;
  /** Input images one edit may take. */
  maxInputImages: number;
  /** Whether an edit may carry a mask. */
  mask: boolean;
  /** `background` values the model takes; empty when it has no such field. */
  backgrounds: readonly Background[];
  /** Output formats a transparent background needs. */
  transparentFormats: readonly OutputFormat[];
  /** Operations whose request takes `moderation`. */
  moderation: readonly Operation[];
  /** Whether `output_compression` is taken (then only with jpeg and webp output). */
  outputCompression: boolean;
  outputFormats: readonly OutputFormat[];
  /** Input image types the provider reads. */
  inputTypes: readonly InputImageType[];
  /** Model parameters (see MODEL_PARAMETERS) the model takes. */
  parameters: readonly ModelParameter[];
  sizes: SizeRule;
  /** Where each fact comes from (file or page). */
  sources: readonly string[];
}

/** A provider's models. */
export interface ProviderModels {
  /** The provider as people name it, e.g. `OpenAI`. */
  label: string;
  models: readonly ModelCapabilities[];
  /** The model a row without one is sent to. */
  defaultModel(operation: Operation): string;
}

/** Why a model refuses a parameter, as its provider says. */
const PARAMETER_REFUSALS: Record<ModelParameter, string> = {
  input_fidelity:
    'is not taken by GPT Image 2 models (OpenAI answers 400 invalid_input_fidelity_model; providers.md §1)',
  response_format:
    'is not taken by GPT Image 2 models: they always answer with image data (openai-openapi CreateImageEditRequest)',
};

/** The capabilities of `model` in `table`, or undefined when the provider serves no such model (as far as we know). */
export function findModel(table: ProviderModels, model: string): ModelCapabilities | undefined {
  return table.models.find((entry) => entry.model === model);
}

/** The capabilities of the model `request` goes to (its own, else the provider's default), or undefined. */
export function capabilitiesOf(table: ProviderModels, request: ImageRequest): ModelCapabilities | undefined {
  return findModel(table, request.model ?? table.defaultModel(request.operation));
}

/** MIME type of a `data:` URI, or undefined for anything else. */
export function dataUriType(reference: string): string | undefined {
  return /^data:([a-z]+\/[a-z0-9+.-]+);base64,/i.exec(reference)?.[1]?.toLowerCase();
}

/**
 * Every way `request` asks for more than `capabilities` of `table` allow. Empty when the model can make it.
 * A model the table does not know is one problem naming the models it does. `book`: sizes the host was seen to
 * deliver per ratio × tier (hosts that take those), which plan the row's tier.
 */
export function capabilityProblems(
  table: ProviderModels,
  request: ImageRequest,
  book: TierSizeBook = new Map(),
): FieldError[] {
  const model = request.model ?? table.defaultModel(request.operation);
  const capabilities = capabilitiesOf(table, request);
  const name = `${table.label} ${model}`;
  if (capabilities === undefined) {
    const known = table.models.map((entry) => entry.model).join(', ');
    return [
      {
        field: 'model',
        message: `${table.label} serves no model "${model}" that image-batch knows (${known})`,
      },
    ];
  }
  const errors: FieldError[] = [];
  const add = (field: string, message: string) => errors.push({ field, message: `${name}: ${message}` });
  if (!capabilities.operations.includes(request.operation)) add('mode', `does not ${request.operation}`);
  if (request.quality !== undefined && !capabilities.qualities.includes(request.quality))
    add('quality', `quality is one of ${capabilities.qualities.join(', ')} (got ${request.quality})`);
  if (request.numImages > capabilities.maxImages)
    add('num_images', `makes at most ${capabilities.maxImages} image(s) per request`);
  if (request.inputImages.length > capabilities.maxInputImages)
    add('image_urls', `takes at most ${capabilities.maxInputImages} input images`);
  if (request.mask !== undefined && !capabilities.mask) add('mask_url', 'takes no mask');
  checkFormats(capabilities, request, add);
  for (const reference of [...request.inputImages, ...(request.mask === undefined ? [] : [request.mask])]) {
    const type = dataUriType(reference);
    if (type !== undefined && !(capabilities.inputTypes as readonly string[]).includes(type))
      add(reference === request.mask ? 'mask_url' : 'image_urls', `does not read ${type} input images`);
  }
  for (const parameter of Object.keys(request.modelParameters ?? {}) as ModelParameter[]) {
    if (!capabilities.parameters.includes(parameter))
      add(parameter, `${parameter} ${PARAMETER_REFUSALS[parameter]}`);
  }
  const plan = planRequestSize(capabilities.sizes, request, book);
  if (plan !== undefined && 'problem' in plan) add(plan.field, plan.problem);
  else if (plan === undefined) {
    const sizeProblem = sizeRuleProblem(capabilities.sizes, request.resolution);
    if (sizeProblem !== undefined) add('resolution', sizeProblem);
  }
  return errors;
}

/**
 * The aspect ratio and tier `request` goes with on a host whose models take those (`rule.kind` `ratio-and-tier`):
 * as the row names them (`aspect_ratio`, `resolution_tier`), else the nearest ratio and the smallest tier that
 * delivers at least its `resolution` (./tier-sizes.ts). A problem when the host cannot honour it — also when a row
 * names a ratio or tier for a host that takes pixels. Undefined for such hosts otherwise.
 */
export function planRequestSize(
  rule: SizeRule,
  request: ImageRequest,
  book: TierSizeBook,
): TierPlan | { problem: string; field: string } | undefined {
  const named = request.aspectRatio !== undefined || request.resolutionTier !== undefined;
  if (rule.kind !== 'ratio-and-tier') {
    if (!named) return undefined;
    return {
      field: request.aspectRatio !== undefined ? 'aspect_ratio' : 'resolution_tier',
      problem: 'takes a size in pixels (resolution), not an aspect ratio and resolution tier',
    };
  }
  const size = parseResolution(request.resolution);
  if (size === undefined)
    return { field: 'resolution', problem: `"${request.resolution}" is not WIDTHxHEIGHT` };
  if (named) {
    return planNamedTier(
      size,
      {
        ...(request.aspectRatio === undefined ? {} : { aspectRatio: request.aspectRatio }),
        ...(request.resolutionTier === undefined ? {} : { tier: request.resolutionTier }),
      },
      rule,
      book,
    );
  }
  const plan = planTier(size, rule, book);
  return 'problem' in plan ? { ...plan, field: 'resolution' } : plan;
}

function checkFormats(
  capabilities: ModelCapabilities,
  request: ImageRequest,
  add: (field: string, message: string) => void,
): void {
  if (!capabilities.outputFormats.includes(request.outputFormat))
    add('output_format', `output format is one of ${capabilities.outputFormats.join(', ')}`);
  if (request.background !== undefined) {
    if (!capabilities.backgrounds.includes(request.background)) {
      add(
        'background',
        capabilities.backgrounds.length === 0
          ? 'has no background setting'
          : `background is one of ${capabilities.backgrounds.join(', ')}`,
      );
    } else if (
      request.background === 'transparent' &&
      !capabilities.transparentFormats.includes(request.outputFormat)
    ) {
      add(
        'background',
        `a transparent background needs output_format ${capabilities.transparentFormats.join(' or ')}`,
      );
    }
  }
  if (request.moderation !== undefined && !capabilities.moderation.includes(request.operation))
    add('moderation', `has no moderation setting for ${request.operation}`);
  if (request.outputCompression !== undefined) {
    if (!capabilities.outputCompression) add('output_compression', 'has no output_compression setting');
    else if (request.outputFormat === 'png')
      add('output_compression', 'output_compression applies to jpeg and webp output only, not png');
  }
}

/** Why `resolution` does not fit `rule`, or undefined. */
export function sizeRuleProblem(rule: SizeRule, resolution: string): string | undefined {
  const size = parseResolution(resolution);
  if (size === undefined) return `"${resolution}" is not WIDTHxHEIGHT`;
  if (rule.kind === 'pixels') {
    const problem = pixelSizeProblem(size, rule);
    return problem === undefined ? undefined : `size ${resolution}: ${problem}`;
  }
  if (rule.kind === 'listed' && !rule.sizes.includes(resolution))
    return `makes only ${rule.sizes.join(', ')} (got ${resolution})`;
  return undefined;
}
