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
import { openUserUrl, UserUrlError } from '../providers/url-guard.js';
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

/** Where and how a posted manifest is kept. */
export interface ManifestSpoolOptions {
  root: string;
  name: string;
  format: ManifestFormat | undefined;
  maxBytes: number;
  /** Hosts a manifest URL may name although private (IMAGE_BATCH_ALLOWED_PRIVATE_HOSTS). */
  allowedHosts: readonly string[];
}

/**
 * The manifest of a `POST /api/batches` (or `/api/estimates`): the body spooled to a file (CSV or JSONL, streamed), or
 * the location a JSON body names — an S3 object, read where it is, or an http(s) URL, fetched (SSRF-checked:
 * src/providers/url-guard.ts) and spooled. @returns its path or URL, or undefined after answering 400, 413, 415 or 507.
 */
export async function manifestOf(
  request: Request,
  response: Response,
  options: ManifestSpoolOptions,
): Promise<string | undefined> {
  const type = request.get('content-type') ?? '';
  if (/^application\/json\b/i.test(type)) {
    const location = parsed(manifestLocationSchema, request.body, response)?.manifest;
    if (location === undefined || location.startsWith('s3://')) return location;
    const format = options.format ?? formatOfPath(new URL(location).pathname);
    if (format === undefined)
      return void response
        .status(400)
        .json({ error: 'say ?format=csv|jsonl: the URL does not end in .csv or .jsonl' });
    return spooled(response, { ...options, format }, async (spool) => {
      const fetchOptions = {
        maxBytes: options.maxBytes,
        timeoutMs: 60_000,
        allowedHosts: options.allowedHosts,
      };
      const opened = await openUserUrl(location, fetchOptions);
      try {
        return await spool(opened.body);
      } finally {
        await opened.close();
      }
    });
  }
  const format = options.format ?? BODY_FORMATS.find(([pattern]) => pattern.test(type))?.[1];
  if (format === undefined)
    return void response.status(415).set('connection', 'close').json({
      error: 'send the manifest as text/csv or application/x-ndjson (or say ?format=csv|jsonl)',
    });
  return spooled(response, { ...options, format }, (spool) => spool(request));
}

/** `csv` or `jsonl` from a path's extension. */
function formatOfPath(pathname: string): ManifestFormat | undefined {
  return /\.csv$/i.test(pathname) ? 'csv' : /\.jsonl$/i.test(pathname) ? 'jsonl' : undefined;
}

/**
 * Spool what `read` hands the spool, answering the failures a client can act on: 413 (too large), 507 (no room), 400
 * (an empty manifest, a URL refused or failing). @returns the spooled file's path, or undefined after answering.
 */
async function spooled(
  response: Response,
  options: ManifestSpoolOptions & { format: ManifestFormat },
  read: (spool: (content: AsyncIterable<Uint8Array | string>) => Promise<string>) => Promise<string>,
): Promise<string | undefined> {
  try {
    return await read(async (content) => (await spoolManifest(content, options)).path);
  } catch (error) {
    // The rest of a body refused half-way is not read: the connection closes after the answer, so a client's next
    // request does not land on a socket with unread bytes.
    response.set('connection', 'close');
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT')
      return void response.status(507).json({ error: 'no room on the server to keep the manifest' });
    if (error instanceof UsageError || error instanceof UserUrlError)
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
    ...(query.priority === undefined ? {} : { priority: query.priority }),
    ...(query.weight === undefined ? {} : { weight: query.weight }),
    ...(query.finish_by === undefined ? {} : { finishBy: query.finish_by }),
    ...(query.reuse === 'true' ? { reuse: true } : {}),
    ...(query.sidecar === 'true' ? { sidecar: true } : {}),
  };
}
