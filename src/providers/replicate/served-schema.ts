/**
 * What Replicate's `openai/gpt-image-2` takes, read from the model the host serves: `GET /models/openai/gpt-image-2`
 * answers the model with `latest_version.openapi_schema` (replicate-javascript `models.get`, `index.d.ts` ModelVersion),
 * whose `components.schemas.Input.properties` list every input with its enum and bounds. Three published mirrors of the
 * model's page disagree on `aspect_ratio`, `number_of_images` (1 or 1–10) and a transparent `background`
 * (shared/reference/providers.md, Corrections 2026-12-02): the live schema is the authority, read by the adapter at
 * worker start and before rows are checked; the built-in table (./capabilities.ts) stands in when it cannot be read.
 */
import type { Background, Quality } from '../../shared/job-definitions.js';
import type { ModelCapabilities } from '../capabilities.js';
import { recordOf } from '../check.js';
import { REPLICATE_CLASSIC_RATIOS } from './capabilities.js';

/** The `Input` properties of a served model object, or undefined when it carries none. */
export function servedInputProperties(model: unknown): Record<string, Record<string, unknown>> | undefined {
  const version = recordOf(recordOf(model).latest_version);
  const schemas = recordOf(recordOf(recordOf(version.openapi_schema).components).schemas);
  const properties = recordOf(schemas.Input).properties;
  if (typeof properties !== 'object' || properties === null) return undefined;
  return Object.fromEntries(Object.entries(properties).map(([name, value]) => [name, recordOf(value)]));
}

/**
 * What the served `Input` properties let a row ask for, on top of `builtIn` (what the schema does not say stays as
 * built in): sizes from `aspect_ratio` (explicit `WIDTHxHEIGHT` values, and 1:1, 3:2, 2:3 as their sizes), images per
 * request from `number_of_images` (absent: one), backgrounds, qualities and output formats from their enums, and
 * whether `moderation`, `output_compression` and `input_images` (edits) exist.
 */
export function capabilitiesFromInput(
  properties: Record<string, Record<string, unknown>>,
  builtIn: ModelCapabilities,
  source: string,
): ModelCapabilities {
  const strings = (name: string): string[] | undefined => {
    const values = properties[name]?.enum;
    return Array.isArray(values)
      ? values.filter((value): value is string => typeof value === 'string')
      : undefined;
  };
  const ratios = strings('aspect_ratio') ?? [];
  const classic = Object.entries(REPLICATE_CLASSIC_RATIOS)
    .filter(([, ratio]) => ratios.includes(ratio))
    .map(([size]) => size);
  const sizes = [...new Set([...ratios.filter((value) => /^\d+x\d+$/.test(value)), ...classic])];
  const count = properties.number_of_images;
  const backgrounds = (strings('background') ?? []).filter((value): value is Background =>
    ['auto', 'transparent', 'opaque'].includes(value),
  );
  const qualities = strings('quality')?.filter((value): value is Quality =>
    ['low', 'medium', 'high', 'xhigh', 'max'].includes(value),
  );
  const formats = strings('output_format')?.filter(
    (value): value is ModelCapabilities['outputFormats'][number] => ['png', 'jpeg', 'webp'].includes(value),
  );
  return {
    ...builtIn,
    operations: properties.input_images === undefined ? ['generate'] : ['generate', 'edit'],
    qualities: qualities ?? builtIn.qualities,
    maxImages:
      count === undefined ? 1 : typeof count.maximum === 'number' ? count.maximum : builtIn.maxImages,
    backgrounds,
    transparentFormats: backgrounds.includes('transparent') ? builtIn.transparentFormats : [],
    moderation: properties.moderation === undefined ? [] : ['generate', 'edit'],
    outputCompression: properties.output_compression !== undefined,
    outputFormats: formats ?? builtIn.outputFormats,
    sizes: sizes.length === 0 ? builtIn.sizes : { kind: 'listed', sizes },
    sources: [source],
  };
}
