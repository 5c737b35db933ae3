/**
 * The reuse key of a request (issue 31): a digest of everything that shapes the image — operation, model, prompt,
 * every input image and the mask by the SHA-256 of their content, size, quality, output format, background,
 * compression, moderation, image count and input fidelity — so two requests share a key only when they ask for the
 * same image. The host is not in it: every host serves the same GPT Image model. Image models are not deterministic,
 * so a key is used only when the row asks for reuse (`--reuse`, manifest `reuse: true`).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fetchUserUrl } from '../providers/url-guard.js';
import type { ImageRequest } from '../shared/job-definitions.js';

/** Bumped when the key's recipe changes: keys of another version never match. */
const REUSE_KEY_VERSION = 1;

/** The content digests of a request's inputs: one per input image, in order, and the mask's. */
export interface InputDigests {
  inputs: string[];
  mask?: string | undefined;
}

/** The reuse key of `request` with its inputs' content digests: 32 hex characters (128 bits of SHA-256). */
export function reuseKey(request: ImageRequest, digests: InputDigests): string {
  // A JSON array of the fields in a fixed order: unambiguous (strings are escaped) and stable.
  const fields = [
    REUSE_KEY_VERSION,
    request.operation,
    request.model ?? null,
    request.prompt,
    digests.inputs,
    digests.mask ?? null,
    request.resolution,
    request.quality ?? null,
    request.outputFormat,
    request.background ?? null,
    request.outputCompression ?? null,
    request.moderation ?? null,
    request.numImages,
    request.modelParameters?.input_fidelity ?? null,
  ];
  return createHash('sha256').update(JSON.stringify(fields)).digest('hex').slice(0, 32);
}

/** How {@link inputDigestsOf} reaches http(s) inputs. */
export interface InputFetch {
  maxBytes: number;
  timeoutMs: number;
  allowedHosts: readonly string[];
  signal?: AbortSignal;
}

/**
 * The content digests of `request`'s inputs: local files read, data URIs decoded, http(s) URLs fetched (through the
 * guard of user URLs) when `fetch` is given.
 * @returns undefined when an input is a URL and `fetch` is not given (its content is not known without a download).
 * @throws Error naming the input when it cannot be read or fetched.
 */
export async function inputDigestsOf(
  request: ImageRequest,
  fetch?: InputFetch,
): Promise<InputDigests | undefined> {
  const digestOf = async (reference: string): Promise<string | undefined> => {
    let bytes: Buffer;
    if (reference.startsWith('data:'))
      bytes = Buffer.from(reference.slice(reference.indexOf(',') + 1), 'base64');
    else if (path.isAbsolute(reference)) bytes = await readFile(reference);
    else if (fetch === undefined) return undefined;
    else bytes = await fetchUserUrl(reference, fetch);
    return createHash('sha256').update(bytes).digest('hex');
  };
  const inputs: string[] = [];
  for (const reference of request.inputImages) {
    const digest = await digestOf(reference);
    if (digest === undefined) return undefined;
    inputs.push(digest);
  }
  if (request.mask === undefined) return { inputs };
  const mask = await digestOf(request.mask);
  return mask === undefined ? undefined : { inputs, mask };
}

/** The reuse key of `request` when its inputs are known without a download (none, local files, data URIs), else undefined. */
export async function knownReuseKey(request: ImageRequest): Promise<string | undefined> {
  const digests = await inputDigestsOf(request).catch(() => undefined);
  return digests === undefined ? undefined : reuseKey(request, digests);
}
