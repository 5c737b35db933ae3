/**
 * The manifest row schema (zod): turns the raw fields of one CSV/JSONL row into a validated {@link ManifestRow}, or
 * into field errors a person understands. CSV cells arrive as strings and are coerced; JSONL values keep their types.
 */
import path from 'node:path';
import { z } from 'zod';
import {
  blankToUndefined,
  imageListField,
  optionalBoolean,
  optionalEnum,
  optionalText,
} from './manifest-fields.js';
import { PROVIDER_NAMES, type ProviderName } from '../shared/config.js';
import type { FieldError } from '../shared/errors.js';
import {
  BACKGROUNDS,
  MODEL_PARAMETERS,
  MODERATIONS,
  DELIVERIES,
  OUTPUT_FORMATS,
  QUALITIES,
  ROUTE_POLICIES,
  type Background,
  type ModelParameter,
  type Moderation,
  type Delivery,
  type Operation,
  type OutputFormat,
  type Quality,
  type RoutePolicy,
} from '../shared/job-definitions.js';
import { formatResolution, parseResolution, resolutionProblem } from '../shared/resolution.js';

/** A validated manifest row. Image references are http(s)/data URLs or absolute paths of local files. */
export interface ManifestRow {
  /** The manifest's `id`, when given. */
  id?: string;
  prompt: string;
  mode: Operation;
  imageUrls: string[];
  maskUrl?: string;
  /** `WIDTHxHEIGHT`. Default `1024x1024`. */
  resolution: string;
  quality?: Quality;
  /** 1–10 (each provider's limit is checked at enqueue). Default 1. */
  numImages: number;
  /** Default `png`. */
  outputFormat: OutputFormat;
  provider?: ProviderName;
  /**
   * Several hosts the row may go to (`fal|openai` in CSV, an array in JSONL), or every host that can take it
   * (`auto`): the row is routed when a worker is free to send it (src/worker/router.ts).
   */
  candidates?: ProviderName[] | 'auto';
  /** How this row picks among its candidate hosts (`cheapest`, `fastest`), over the batch's `--route`. */
  route?: RoutePolicy;
  model?: string;
  background?: Background;
  moderation?: Moderation;
  /** 0–100. */
  outputCompression?: number;
  /** `input_fidelity`, `response_format` when given (refused for models that do not take them). */
  modelParameters?: Partial<Record<ModelParameter, string>>;
  /** `realtime` or `batch` (OpenAI's Batch API) when given. */
  delivery?: Delivery;
  /** `reuse: true`: copy an earlier output of the same request instead of paying for a new one (src/worker/reuse.ts). */
  reuse?: true;
  /** `a:b` or `auto`, for hosts that take an aspect ratio and a tier (Oxen.ai, WaveSpeedAI), when given. */
  aspectRatio?: string;
  /** `1K`, `2K` or `4K` for such hosts, when given. */
  resolutionTier?: string;
}

/** Every field name a manifest may use. `mask_image_url` is fal's spelling of `mask_url`. */
export const MANIFEST_FIELDS = [
  'id',
  'prompt',
  'mode',
  'image_urls',
  'mask_url',
  'mask_image_url',
  'resolution',
  'quality',
  'num_images',
  'output_format',
  'provider',
  'route',
  'model',
  'background',
  'moderation',
  'output_compression',
  'delivery',
  'reuse',
  'aspect_ratio',
  'resolution_tier',
  ...MODEL_PARAMETERS,
] as const;

/** Most images one row may ask for (OpenAI `n` and Replicate `number_of_images` go to 10; providers cap lower). */
export const MAX_IMAGES_PER_ROW = 10;

const MAX_PROMPT_CHARACTERS = 32_000;

const imageList = imageListField(16);

const rowSchema = z.object({
  id: optionalText(200),
  prompt: z.preprocess(
    blankToUndefined,
    z
      .string({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be text') })
      // Not trimmed: spaces the user wrote are part of the prompt they pay for (issue 18.4).
      .max(MAX_PROMPT_CHARACTERS, `must be at most ${MAX_PROMPT_CHARACTERS} characters`),
  ),
  mode: optionalEnum(['generate', 'edit']),
  image_urls: imageList,
  mask_url: optionalText(20_000_000),
  mask_image_url: optionalText(20_000_000),
  resolution: z.preprocess(
    (value) => blankToUndefined(value) ?? '1024x1024',
    z.string({ error: 'must be text like 1024x1024' }).transform((value, context) => {
      const resolution = parseResolution(value.trim().toLowerCase());
      if (resolution === undefined) {
        context.addIssue({ code: 'custom', message: `"${value}" is not WIDTHxHEIGHT (e.g. 1024x1024)` });
        return z.NEVER;
      }
      const problem = resolutionProblem(resolution);
      if (problem !== undefined) {
        context.addIssue({ code: 'custom', message: `${formatResolution(resolution)}: ${problem}` });
        return z.NEVER;
      }
      return formatResolution(resolution);
    }),
  ),
  quality: optionalEnum(QUALITIES),
  num_images: z.preprocess(
    (value) => {
      const blank = blankToUndefined(value);
      return typeof blank === 'string' && /^\s*\d+\s*$/.test(blank) ? Number(blank) : (blank ?? 1);
    },
    z
      .number({ error: `must be a whole number from 1 to ${MAX_IMAGES_PER_ROW}` })
      .int(`must be a whole number from 1 to ${MAX_IMAGES_PER_ROW}`)
      .min(1, `must be from 1 to ${MAX_IMAGES_PER_ROW}`)
      .max(MAX_IMAGES_PER_ROW, `must be from 1 to ${MAX_IMAGES_PER_ROW}`),
  ),
  output_format: z.preprocess(
    (value) => {
      const blank = blankToUndefined(value);
      return typeof blank === 'string' ? blank.trim().toLowerCase() : (blank ?? 'png');
    },
    z.enum(OUTPUT_FORMATS, { error: `must be one of: ${OUTPUT_FORMATS.join(', ')}` }),
  ),
  provider: z.preprocess(
    (value) => {
      const blank = blankToUndefined(value);
      if (typeof blank === 'string') {
        const names = blank
          .split('|')
          .map((part) => part.trim().toLowerCase())
          .filter((part) => part !== '');
        return names.length === 1 ? names[0] : names;
      }
      if (!Array.isArray(blank)) return blank;
      return (blank as unknown[]).map((name) =>
        typeof name === 'string' ? name.trim().toLowerCase() : name,
      );
    },
    z
      .union(
        [z.literal('auto'), z.enum(PROVIDER_NAMES), z.array(z.enum(PROVIDER_NAMES)).min(1, 'names no host')],
        {
          error: (issue) =>
            `must be auto, or one of ${PROVIDER_NAMES.join(', ')}, or several (CSV: separated by |; JSONL: an array)` +
            (typeof issue.input === 'string' || Array.isArray(issue.input)
              ? `; got ${JSON.stringify(issue.input)}`
              : ''),
        },
      )
      .optional(),
  ),
  route: optionalEnum(ROUTE_POLICIES),
  model: optionalText(200),
  background: optionalEnum(BACKGROUNDS),
  moderation: optionalEnum(MODERATIONS),
  delivery: optionalEnum(DELIVERIES),
  reuse: optionalBoolean,
  output_compression: z.preprocess(
    (value) => {
      const blank = blankToUndefined(value);
      return typeof blank === 'string' && /^\s*\d+\s*$/.test(blank) ? Number(blank) : blank;
    },
    z
      .number({ error: 'must be a whole number from 0 to 100' })
      .int('must be a whole number from 0 to 100')
      .min(0, 'must be from 0 to 100')
      .max(100, 'must be from 0 to 100')
      .optional(),
  ),
  input_fidelity: optionalText(20),
  response_format: optionalText(20),
  aspect_ratio: z.preprocess(
    (value) => {
      const blank = blankToUndefined(value);
      return typeof blank === 'string' ? blank.trim().toLowerCase() : blank;
    },
    z
      .string({ error: 'must be text like 16:9' })
      .regex(/^(auto|[1-9]\d{0,2}:[1-9]\d{0,2})$/, 'must be WIDTH:HEIGHT (e.g. 16:9) or auto')
      .optional(),
  ),
  resolution_tier: z.preprocess(
    (value) => {
      const blank = blankToUndefined(value);
      return typeof blank === 'string' ? blank.trim().toUpperCase() : blank;
    },
    z.enum(['1K', '2K', '4K'], { error: 'must be one of: 1K, 2K, 4K' }).optional(),
  ),
});

/** The outcome of validating one row. */
export type RowValidation =
  | { ok: true; row: ManifestRow; unknownFields: string[] }
  | { ok: false; errors: FieldError[]; unknownFields: string[] };

/**
 * Validate the raw fields of one row. Relative image paths are resolved against `manifestDirectory`.
 * Does not touch the file system (see {@link checkLocalImages}).
 */
export function validateRow(fields: Record<string, unknown>, manifestDirectory: string): RowValidation {
  const unknownFields = Object.keys(fields).filter(
    (name) => !(MANIFEST_FIELDS as readonly string[]).includes(name),
  );
  const parsed = rowSchema.safeParse(fields);
  if (!parsed.success) {
    const errors = parsed.error.issues.map((issue) => ({
      field: issue.path.map(String).join('.') || 'row',
      message: issue.message,
    }));
    return { ok: false, errors, unknownFields };
  }
  const data = parsed.data;
  const errors: FieldError[] = [];
  if (data.prompt === '') errors.push({ field: 'prompt', message: 'is required' });

  const maskText = data.mask_url ?? data.mask_image_url;
  const imageUrls: string[] = [];
  for (const reference of data.image_urls ?? []) {
    const resolved = resolveImageReference(reference, manifestDirectory);
    if (typeof resolved === 'string') imageUrls.push(resolved);
    else errors.push({ field: 'image_urls', message: resolved.problem });
  }
  let maskUrl: string | undefined;
  if (maskText !== undefined) {
    const resolved = resolveImageReference(maskText, manifestDirectory);
    if (typeof resolved === 'string') maskUrl = resolved;
    else errors.push({ field: 'mask_url', message: resolved.problem });
  }

  const mode: Operation =
    (data.mode as Operation | undefined) ?? ((data.image_urls ?? []).length > 0 ? 'edit' : 'generate');
  if (mode === 'edit' && (data.image_urls ?? []).length === 0) {
    errors.push({ field: 'image_urls', message: 'mode "edit" needs at least one input image' });
  }
  if (mode === 'generate' && (data.image_urls ?? []).length > 0) {
    errors.push({ field: 'image_urls', message: 'mode "generate" takes no input images: use mode "edit"' });
  }
  if (mode === 'generate' && maskText !== undefined) {
    errors.push({ field: 'mask_url', message: 'a mask only applies to mode "edit"' });
  }
  if (errors.length > 0) return { ok: false, errors, unknownFields };

  const row: ManifestRow = {
    prompt: data.prompt,
    mode,
    imageUrls,
    resolution: data.resolution,
    numImages: data.num_images,
    outputFormat: data.output_format,
  };
  if (data.id !== undefined && data.id !== '') row.id = data.id;
  if (maskUrl !== undefined) row.maskUrl = maskUrl;
  if (data.quality !== undefined) row.quality = data.quality;
  const hostProblem = setHosts(row, data.provider, data.route);
  if (hostProblem !== undefined) errors.push(hostProblem);
  if (errors.length > 0) return { ok: false, errors, unknownFields };
  if (data.model !== undefined && data.model !== '') row.model = data.model;
  if (data.background !== undefined) row.background = data.background;
  if (data.moderation !== undefined) row.moderation = data.moderation;
  if (data.delivery !== undefined) row.delivery = data.delivery;
  if (data.reuse === true) row.reuse = true;
  if (data.output_compression !== undefined) row.outputCompression = data.output_compression;
  if (data.aspect_ratio !== undefined) row.aspectRatio = data.aspect_ratio;
  if (data.resolution_tier !== undefined) row.resolutionTier = data.resolution_tier;
  const modelParameters: Partial<Record<ModelParameter, string>> = {};
  for (const name of MODEL_PARAMETERS) {
    const value = data[name];
    if (value !== undefined && value !== '') modelParameters[name] = value;
  }
  if (Object.keys(modelParameters).length > 0) row.modelParameters = modelParameters;
  return { ok: true, row, unknownFields };
}

/**
 * Turn an image reference from a manifest into what a job holds: an http(s) URL, a `data:image/...` URL, or the
 * absolute path of a local file (relative paths are relative to the manifest's folder).
 * @returns the reference, or `{ problem }` for schemes we refuse and URLs with credentials (they would be stored in Redis).
 */
export function resolveImageReference(
  reference: string,
  manifestDirectory: string,
): string | { problem: string } {
  const text = reference.trim();
  if (/^data:image\/[a-z+.-]+;base64,/i.test(text)) return text;
  if (/^[a-z][a-z0-9+.-]*:/i.test(text) && !/^[a-z]:[\\/]/i.test(text)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      return { problem: `"${truncate(text)}" is not a valid URL` };
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      return { problem: `"${url.protocol}" URLs are not accepted: use http(s) URLs or file paths` };
    }
    if (url.username !== '' || url.password !== '') {
      return {
        problem: 'URLs with a user name or password are not accepted (they would be stored in Redis)',
      };
    }
    return url.toString();
  }
  return path.resolve(manifestDirectory, text);
}

/** True when an image reference names a local file (an absolute path after {@link validateRow}). */
export function isLocalImage(reference: string): boolean {
  return path.isAbsolute(reference);
}

function truncate(text: string): string {
  return text.length > 60 ? `${text.slice(0, 59)}…` : text;
}

/**
 * Set the row's host: one (`provider`), several or `auto` (`candidates`), and its own route policy among several.
 * @returns the problem of a `route` on a row pinned to one host.
 */
function setHosts(
  row: ManifestRow,
  provider: ProviderName | ProviderName[] | 'auto' | undefined,
  route: RoutePolicy | undefined,
): FieldError | undefined {
  if (provider === 'auto') row.candidates = 'auto';
  else if (Array.isArray(provider)) {
    const names = [...new Set(provider)];
    if (names.length === 1) row.provider = names[0]!;
    else row.candidates = names;
  } else if (provider !== undefined) row.provider = provider;
  if (route === undefined) return undefined;
  if (row.provider !== undefined)
    return {
      field: 'route',
      message: 'picks among several candidate hosts, and provider names one: name several, or auto',
    };
  row.route = route;
  return undefined;
}
