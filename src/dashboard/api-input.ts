/**
 * Reading the HTTP API's input (docs/api.md): query options and JSON bodies parsed with the zod schemas of
 * ./api-schemas.ts (a 400 naming each field otherwise), and the manifest of a new batch — the body spooled to disk,
 * streamed, or the S3 location a JSON body names.
 */
import type { Request, Response } from 'express';
import type { z } from 'zod';
import { spoolManifest, type ManifestFormat } from '../library/manifest-spool.js';
import { PROVIDER_NAMES, type ProviderName } from '../shared/config.js';
import { UsageError } from '../shared/errors.js';
import { manifestLocationSchema, type newBatchQuerySchema } from './api-schemas.js';

/** Content types of a manifest body, by format. */
const BODY_FORMATS: ReadonlyArray<[RegExp, ManifestFormat]> = [
  [/^text\/csv\b/i, 'csv'],
  [/^application\/(x-ndjson|jsonl|x-jsonlines|json-lines)\b/i, 'jsonl'],
];

/** `value` parsed by `schema`, or undefined after answering 400 with each field's problem. */
export function parsed<T extends z.ZodType>(
  schema: T,
  value: unknown,
  response: Response,
): z.output<T> | undefined {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  response.status(400).json({
    error: 'invalid request',
    issues: result.error.issues.map((issue) => ({
      field: issue.path.join('.') || '(body)',
      message: issue.message,
    })),
  });
  return undefined;
}

/**
 * The manifest of a `POST /api/batches`: the body spooled to a file (CSV or JSONL, streamed), or the S3 location a
 * JSON body names. @returns its path or URL, or undefined after answering 400, 413, 415 or 507.
 */
export async function manifestOf(
  request: Request,
  response: Response,
  options: { root: string; name: string; format: ManifestFormat | undefined; maxBytes: number },
): Promise<string | undefined> {
  const type = request.get('content-type') ?? '';
  if (/^application\/json\b/i.test(type)) {
    const location = parsed(manifestLocationSchema, request.body, response);
    return location?.manifest;
  }
  const format = options.format ?? BODY_FORMATS.find(([pattern]) => pattern.test(type))?.[1];
  if (format === undefined)
    return void response.status(415).json({
      error: 'send the manifest as text/csv or application/x-ndjson (or say ?format=csv|jsonl)',
    });
  try {
    return (await spoolManifest(request, { ...options, format })).path;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT')
      return void response.status(507).json({ error: 'no room on the server to keep the manifest' });
    if (error instanceof UsageError)
      return void response
        .status(/larger than/.test(error.message) ? 413 : 400)
        .json({ error: error.message });
    throw error;
  }
}

/** The library's batch options of the query. */
export function optionsOf(query: z.output<typeof newBatchQuerySchema>) {
  const providers =
    query.providers === undefined
      ? undefined
      : query.providers === 'auto'
        ? ('auto' as const)
        : (query.providers.split(',') as ProviderName[]);
  const unknown = Array.isArray(providers) ? providers.filter((name) => !PROVIDER_NAMES.includes(name)) : [];
  if (unknown.length > 0) throw new UsageError(`unknown provider(s) in providers: ${unknown.join(', ')}`);
  return {
    ...(query.provider === undefined ? {} : { provider: query.provider }),
    ...(providers === undefined ? {} : { providers }),
    ...(query.route === undefined ? {} : { route: query.route }),
    ...(query.max_premium === undefined ? {} : { maxPremium: query.max_premium }),
    ...(query.delivery === undefined ? {} : { delivery: query.delivery }),
    ...(query.budget_usd === undefined ? {} : { budgetUsd: query.budget_usd }),
    ...(query.canary === undefined ? {} : { canary: query.canary }),
    ...(query.window === undefined ? {} : { window: query.window }),
  };
}
