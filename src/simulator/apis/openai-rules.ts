/**
 * What the simulated OpenAI Images API accepts, rule by rule, written from openai/openai-openapi `CreateImageRequest`
 * and `CreateImageEditRequest` (@f85dbe2) unless a rule names another source; messages OpenAI does not document are
 * ours (docs/providers.md).
 */
import sharp from 'sharp';
import type { OutputFormat } from '../../shared/job-definitions.js';
import { asText } from '../http-helpers.js';
import { gptImage2SizeProblem, parseSize } from '../sizes.js';

export type Failure = { status: number; body: unknown };

export function openaiError(
  status: number,
  message: string,
  param: string | null,
  code: string | null,
): Failure {
  return { status, body: { error: { message, type: 'invalid_request_error', param, code } } };
}

/** Models served, and the qualities each takes (GPT Image 2.5 adds xhigh and max: vercel/ai#20483, Portkey#935). */
export const MODELS: Record<string, readonly string[]> = {
  'gpt-image-2': ['low', 'medium', 'high', 'auto'],
  'gpt-image-2-2026-04-21': ['low', 'medium', 'high', 'auto'],
  ...Object.fromEntries(
    ['gpt-image-2.5-flare', 'gpt-image-2.5-sunburst'].flatMap((model) => [
      [model, ['low', 'medium', 'high', 'xhigh', 'max', 'auto']],
      [`${model}-2026-09-08`, ['low', 'medium', 'high', 'xhigh', 'max', 'auto']],
    ]),
  ),
};

/** Body fields of `CreateImageRequest` (JSON). */
const GENERATE_FIELDS = [
  'model',
  'prompt',
  'n',
  'quality',
  'size',
  'output_format',
  'output_compression',
  'background',
  'moderation',
  'stream',
  'partial_images',
  'user',
  'response_format',
  'style',
  'input_fidelity',
];
/** Text fields of `CreateImageEditRequest` (multipart; no `moderation` in this schema). */
const EDIT_FIELDS = [
  'model',
  'prompt',
  'n',
  'quality',
  'size',
  'output_format',
  'output_compression',
  'background',
  'user',
  'input_fidelity',
  'stream',
  'partial_images',
  'response_format',
];

/** What a request asks for, once valid. */
export interface ImageAsk {
  model: string;
  size: { width: number; height: number };
  format: OutputFormat;
  count: number;
  quality: string;
}

/** A 400 `invalid_value` naming `param`. */
function invalid(param: string, message: string): Failure {
  return openaiError(400, message, param, 'invalid_value');
}

/** What no GPT image request may carry, and what it must: the fields of its schema, a served model, a prompt. */
function requestProblem(
  fields: Record<string, unknown>,
  operation: 'generate' | 'edit',
): Failure | undefined {
  const allowed = operation === 'edit' ? EDIT_FIELDS : GENERATE_FIELDS;
  const unknown = Object.keys(fields).find((name) => !allowed.includes(name));
  if (unknown !== undefined)
    return openaiError(400, `Unknown parameter: '${unknown}'.`, unknown, 'unknown_parameter');
  const model = typeof fields.model === 'string' ? fields.model : undefined;
  // `model` defaults to dall-e-2 (generate) and gpt-image-1.5 (edit): not what this simulator serves.
  if (model === undefined || MODELS[model] === undefined) {
    const message = `The model \`${model ?? 'dall-e-2'}\` does not exist or you do not have access to it.`;
    return openaiError(404, message, null, 'model_not_found');
  }
  if (typeof fields.prompt !== 'string' || fields.prompt === '' || fields.prompt.length > 32_000)
    return invalid('prompt', "Invalid 'prompt': a string of 1 to 32000 characters is required.");
  if ('input_fidelity' in fields) {
    const message = `The model '${model}' does not support the 'input_fidelity' parameter.`;
    const error = { message, type: 'image_generation_user_error', param: 'input_fidelity' };
    return { status: 400, body: { error: { ...error, code: 'invalid_input_fidelity_model' } } };
  }
  const unsupported = ['response_format', 'style'].find((name) => name in fields);
  if (unsupported !== undefined)
    return openaiError(
      400,
      `'${unsupported}' is not supported for GPT image models.`,
      unsupported,
      'unsupported_parameter',
    );
  return undefined;
}

/** What the output settings may be: `output_compression` with webp/jpeg only, transparency with png/webp. */
function outputProblem(fields: Record<string, unknown>, format: string): Failure | undefined {
  if (!['png', 'jpeg', 'webp'].includes(format))
    return invalid('output_format', "Invalid value for 'output_format'.");
  if (fields.output_compression !== undefined) {
    const compression = Number(fields.output_compression);
    if (!Number.isInteger(compression) || compression < 0 || compression > 100)
      return invalid('output_compression', "Invalid 'output_compression': 0 to 100.");
    // "only supported for the GPT image models with the webp or jpeg output formats"
    if (format === 'png')
      return invalid(
        'output_compression',
        "'output_compression' is only supported with output_format webp or jpeg.",
      );
  }
  const background = fields.background;
  if (background !== undefined && !['transparent', 'opaque', 'auto'].includes(asText(background)))
    return invalid('background', "Invalid value for 'background'.");
  // "When using `transparent`, set the output format to `png` or `webp`."
  if (background === 'transparent' && format === 'jpeg')
    return invalid('background', 'Transparent backgrounds need output_format png or webp.');
  if (fields.moderation !== undefined && !['low', 'auto'].includes(asText(fields.moderation)))
    return invalid('moderation', "Invalid value for 'moderation'.");
  return undefined;
}

/** Check the fields of a request. @returns the ask, or the 400/404 OpenAI would answer. */
export function validate(
  fields: Record<string, unknown>,
  operation: 'generate' | 'edit',
): ImageAsk | Failure {
  const problem = requestProblem(fields, operation);
  if (problem !== undefined) return problem;
  const model = fields.model as string;
  const quality = fields.quality === undefined ? 'auto' : asText(fields.quality);
  if (!MODELS[model]!.includes(quality))
    return invalid('quality', `Invalid value for 'quality': '${quality}' is not supported by ${model}.`);
  const count = fields.n === undefined ? 1 : Number(fields.n);
  if (!Number.isInteger(count) || count < 1 || count > 10)
    return invalid('n', "Invalid 'n': must be between 1 and 10.");
  const format = (fields.output_format ?? 'png') as OutputFormat;
  const formatProblem = outputProblem(fields, format);
  if (formatProblem !== undefined) return formatProblem;
  const sizeText = fields.size === undefined ? 'auto' : asText(fields.size);
  const size = sizeText === 'auto' ? { width: 1024, height: 1024 } : parseSize(sizeText);
  const sizeProblem = size === undefined ? 'must be auto or WIDTHxHEIGHT' : gptImage2SizeProblem(size);
  if (size === undefined || sizeProblem !== undefined)
    return invalid('size', `Invalid value for 'size': ${sizeProblem ?? ''}.`);
  return { model, size, format, count, quality };
}

/** PNG, JPEG or WebP by magic bytes ("each image should be a png, webp, or jpg file less than 50MB"). */
function imageKind(bytes: Buffer): string | undefined {
  if (bytes.subarray(0, 4).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47]))) return 'png';
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return 'jpeg';
  if (
    bytes.subarray(0, 4).toString('latin1') === 'RIFF' &&
    bytes.subarray(8, 12).toString('latin1') === 'WEBP'
  )
    return 'webp';
  return undefined;
}

/**
 * Check the edit's files: 1–16 images of png/webp/jpg under 50 MB; a mask that is a PNG with an alpha channel, under
 * 4 MB, the size of the first image ("fully transparent areas … indicate where `image` should be edited").
 * @returns the mask turned white-where-edited for the image maker, or the failure.
 */
export async function checkEditFiles(
  images: Buffer[],
  mask: Buffer | undefined,
): Promise<Buffer | undefined | Failure> {
  if (images.length === 0)
    return openaiError(400, "Missing required parameter: 'image'.", 'image', 'missing_required_parameter');
  if (images.length > 16)
    return openaiError(400, 'You can provide up to 16 images.', 'image', 'invalid_value');
  for (const image of images) {
    if (imageKind(image) === undefined || image.length >= 50 * 1024 * 1024)
      return openaiError(
        400,
        'Invalid image file: each image must be a png, webp, or jpg file less than 50MB.',
        'image',
        'invalid_image_format',
      );
  }
  if (mask === undefined) return undefined;
  if (imageKind(mask) !== 'png' || mask.length >= 4 * 1024 * 1024)
    return openaiError(
      400,
      'Invalid mask: must be a valid PNG file less than 4MB.',
      'mask',
      'invalid_image_format',
    );
  const [maskMeta, imageMeta] = await Promise.all([sharp(mask).metadata(), sharp(images[0]).metadata()]);
  if (maskMeta.hasAlpha !== true)
    return openaiError(
      400,
      "Invalid input image - format must be in ['RGBA', 'LA', 'L'], got RGB.",
      'mask',
      'invalid_image_format',
    );
  if (maskMeta.width !== imageMeta.width || maskMeta.height !== imageMeta.height)
    return openaiError(
      400,
      'Invalid mask image: mask size does not match image size.',
      'mask',
      'invalid_value',
    );
  return sharp(mask).ensureAlpha().extractChannel(3).negate().png().toBuffer();
}
