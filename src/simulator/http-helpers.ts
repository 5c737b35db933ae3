/**
 * HTTP plumbing of the simulated APIs: reading bodies, answering JSON, reading input images (data URIs, or URLs on
 * this machine only: no traffic leaves it).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ProviderName } from '../shared/config.js';

/** One paid submission as the simulator received it. */
export interface RecordedRequest {
  provider: ProviderName;
  /** The prompt it carried. */
  prompt: string;
  /** When it arrived (ms since epoch). */
  at: number;
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  /** Answer status; 0 while unanswered (a hang). */
  status: number;
}

/** Read a whole request body. */
export async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A multipart body (`raw`, of `request`'s content type) as form data (the WHATWG parser); undefined when unreadable. */
export async function parseMultipart(request: IncomingMessage, raw: Buffer): Promise<FormData | undefined> {
  return new Request('http://simulator/', {
    method: 'POST',
    headers: { 'content-type': request.headers['content-type'] ?? '' },
    body: raw,
  })
    .formData()
    .catch(() => undefined);
}

/** JSON.parse, or undefined. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A function answering a recorded submission with JSON, noting the answer's status on the record. */
export function replierFor(
  record: RecordedRequest,
  response: ServerResponse,
): (status: number, payload: unknown, headers?: Record<string, string>) => void {
  return (status, payload, headers = {}) => {
    record.status = status;
    sendJson(response, status, payload, headers);
  };
}

/** Answer with JSON. */
export function sendJson(
  response: ServerResponse,
  status: number,
  payload: unknown,
  headers: Record<string, string> = {},
): void {
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(JSON.stringify(payload));
}

/**
 * Read an input image reference: data URIs decoded; http(s) URLs fetched only from this machine (no traffic leaves
 * it). @throws Error with a reason.
 */
export async function fetchInputImage(reference: string): Promise<Buffer> {
  const dataUri = /^data:[a-z]+\/[a-z0-9+.-]+;base64,(.*)$/is.exec(reference);
  if (dataUri !== null) return Buffer.from(dataUri[1]!, 'base64');
  const url = new URL(reference);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) {
    throw new Error(`cannot download ${url.origin} from the simulator (only data URIs and loopback URLs)`);
  }
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!response.ok) throw new Error(`download failed with HTTP ${response.status}`);
  return Buffer.from(await response.arrayBuffer());
}

export function shortenDataUris(value: unknown): unknown {
  if (typeof value === 'string') return value.startsWith('data:') ? `${value.slice(0, 40)}…` : value;
  if (Array.isArray(value)) return value.map(shortenDataUris);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, child]) => [key, shortenDataUris(child)]));
  }
  return value;
}

/** A request value as text for comparisons and messages (objects as JSON, never "[object Object]"). */
export function asText(value: unknown): string {
  return typeof value === 'string' ? value : (JSON.stringify(value) ?? 'undefined');
}
