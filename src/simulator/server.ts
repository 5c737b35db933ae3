/**
 * The provider simulator: a local HTTP server that speaks Oxen.ai's image API as documented (same paths, Bearer
 * auth check, body validation with the documented enums, the documented error bodies) and returns real images of the
 * requested size and format, served at URLs like the real service. Latency and faults (429 with Retry-After, 5xx,
 * hangs, refusals) are injected on demand, in-process ({@link ProviderSimulator.injectFaults}) or over HTTP
 * (`POST /__simulator/faults`), for tests, the demo and benchmarks.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { OXEN_EDIT_PATH, OXEN_GENERATE_PATH, oxenImageRequestSchema } from '../providers/oxen/wire-schema.js';
import type { OutputFormat } from '../shared/job-definitions.js';
import { parseResolution } from '../shared/resolution-tier.js';
import { makeEditedImage, makeGeneratedImage } from './image-maker.js';

/** One injected fault, consumed by the next matching paid request(s). */
export interface FaultRule {
  /** Which endpoint it applies to. Default: any. */
  operation?: 'generate' | 'edit' | 'any';
  /** How many requests it applies to. Default 1. */
  times?: number;
  /** HTTP status to answer with (429, 500, 503, 400, 401, 402, ...). Ignored with `hang`. */
  status?: number;
  /** Retry-After header in seconds, for 429/503. */
  retryAfterSeconds?: number;
  /** Accept the request and never answer. */
  hang?: boolean;
  /** Error body; default: Oxen's documented error body for the status. */
  body?: unknown;
}

/** Options of the simulator. */
export interface SimulatorOptions {
  /** Port to listen on; 0 (default) picks a free one. */
  port?: number;
  /** Default `127.0.0.1`. */
  host?: string;
  /** When set, only this Bearer token is accepted; otherwise any non-empty token is. */
  apiKey?: string;
  /** Delay before each paid answer, in ms. Default 0. */
  latencyMs?: number;
  /** Output images kept for download (oldest dropped first). Default 2000. */
  maxStoredImages?: number;
}

/** One paid request as the simulator received it (data URIs shortened), for tests that check the wire format. */
export interface RecordedRequest {
  path: string;
  authorization: string | undefined;
  body: unknown;
  status: number;
}

const faultsControlSchema = z.object({
  faults: z
    .array(
      z.object({
        operation: z.enum(['generate', 'edit', 'any']).optional(),
        times: z.number().int().positive().optional(),
        status: z.number().int().min(100).max(599).optional(),
        retryAfterSeconds: z.number().nonnegative().optional(),
        hang: z.boolean().optional(),
        body: z.unknown().optional(),
      }),
    )
    .default([]),
  latencyMs: z.number().int().nonnegative().optional(),
});

const MODELS: Record<'generate' | 'edit', readonly string[]> = {
  generate: ['gpt-image-2'],
  edit: ['gpt-image-2-edit', 'gpt-image-2'],
};

const CONTENT_TYPES: Record<OutputFormat, string> = {
  png: 'image/png',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
};
const EXTENSIONS: Record<OutputFormat, string> = { png: 'png', jpeg: 'jpg', webp: 'webp' };

/** The simulator server. */
export class ProviderSimulator {
  /** Every paid request answered or hung, by path. */
  readonly paidRequestCounts = new Map<string, number>();
  /** The last 200 paid requests. */
  readonly recordedRequests: RecordedRequest[] = [];
  private readonly server: Server;
  private readonly faults: Array<Required<Pick<FaultRule, 'times'>> & FaultRule> = [];
  private readonly images = new Map<string, { bytes: Buffer; contentType: string }>();
  private latencyMs: number;
  private origin = '';

  constructor(private readonly options: SimulatorOptions = {}) {
    this.latencyMs = options.latencyMs ?? 0;
    this.server = createServer((request, response) => {
      this.handle(request, response).catch((error: unknown) => {
        if (!response.headersSent)
          sendJson(response, 500, { error: { message: String(error) }, status: 'error' });
        else response.destroy();
      });
    });
  }

  /** Start listening. @returns the base URL, e.g. `http://127.0.0.1:40123`. */
  async start(): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port ?? 0, this.options.host ?? '127.0.0.1', () => resolve());
    });
    const address = this.server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    this.origin = `http://${host}:${address.port}`;
    return this.origin;
  }

  /** Base URL, once started. */
  get url(): string {
    return this.origin;
  }

  /** Stop listening and drop every open connection (hung requests included). */
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Queue faults: each rule answers the next `times` matching paid requests. */
  injectFaults(rules: FaultRule[]): void {
    for (const rule of rules) this.faults.push({ ...rule, times: rule.times ?? 1 });
  }

  /** Delay before each paid answer, in ms. */
  setLatency(latencyMs: number): void {
    this.latencyMs = latencyMs;
  }

  /** Paid requests received so far (all paths). */
  get paidRequestTotal(): number {
    let total = 0;
    for (const count of this.paidRequestCounts.values()) total += count;
    return total;
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://simulator');
    if (request.method === 'GET' && url.pathname.startsWith('/files/')) {
      const image = this.images.get(url.pathname.slice('/files/'.length));
      if (image === undefined) return sendJson(response, 404, { error: { message: 'file not found' } });
      response.writeHead(200, { 'content-type': image.contentType, 'content-length': image.bytes.length });
      response.end(image.bytes);
      return;
    }
    if (url.pathname === '/__simulator/faults' && request.method === 'POST') {
      const parsed = faultsControlSchema.safeParse(parseJson(await readBody(request)));
      if (!parsed.success) return sendJson(response, 400, { error: parsed.error.issues });
      this.injectFaults(parsed.data.faults as FaultRule[]);
      if (parsed.data.latencyMs !== undefined) this.setLatency(parsed.data.latencyMs);
      return sendJson(response, 200, { queued: this.faults.length, latencyMs: this.latencyMs });
    }
    if (url.pathname === '/__simulator/stats' && request.method === 'GET') {
      return sendJson(response, 200, { paidRequests: Object.fromEntries(this.paidRequestCounts) });
    }
    if (
      request.method === 'POST' &&
      (url.pathname === OXEN_GENERATE_PATH || url.pathname === OXEN_EDIT_PATH)
    ) {
      return this.handleOxenImages(request, response, url.pathname === OXEN_EDIT_PATH ? 'edit' : 'generate');
    }
    sendJson(
      response,
      404,
      oxenError('resource_not_found', 'Not found', `no route for ${request.method} ${url.pathname}`),
    );
  }

  private async handleOxenImages(
    request: IncomingMessage,
    response: ServerResponse,
    operation: 'generate' | 'edit',
  ): Promise<void> {
    const path = request.url ?? '';
    const text = await readBody(request);
    const body = parseJson(text);
    this.paidRequestCounts.set(path, (this.paidRequestCounts.get(path) ?? 0) + 1);
    const record: RecordedRequest = {
      path,
      authorization: request.headers.authorization,
      body: shortenDataUris(body),
      status: 0,
    };
    this.recordedRequests.push(record);
    if (this.recordedRequests.length > 200) this.recordedRequests.shift();
    const reply = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      record.status = status;
      sendJson(response, status, payload, { 'x-request-id': `sim-${randomUUID()}`, ...headers });
    };

    const token = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
    if (token === undefined || (this.options.apiKey !== undefined && token !== this.options.apiKey)) {
      return reply(401, oxenError('unauthorized', 'Unauthorized', 'missing or invalid API key'));
    }

    const fault = this.takeFault(operation);
    if (this.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, this.latencyMs));
    if (fault?.hang === true) {
      record.status = -1;
      return; // never answer; the connection is dropped by the client's timeout or stop()
    }
    if (fault?.status !== undefined) {
      const headers: Record<string, string> = {};
      if (fault.retryAfterSeconds !== undefined) headers['retry-after'] = String(fault.retryAfterSeconds);
      return reply(fault.status, fault.body ?? defaultFaultBody(fault.status), headers);
    }

    if (body === undefined)
      return reply(400, oxenError('invalid_params', 'Invalid JSON', 'body is not valid JSON'));
    const parsed = oxenImageRequestSchema.safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const field =
        issue.path.join('.') || (issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : 'body');
      return reply(400, oxenError('invalid_params', 'Invalid parameters', `${field}: ${issue.message}`));
    }
    const input = parsed.data;
    if (!MODELS[operation].includes(input.model)) {
      return reply(404, { error: { message: `Model not found: ${input.model}` } });
    }
    if (operation === 'edit' && input.input_image === undefined) {
      return reply(400, oxenError('invalid_params', 'Invalid parameters', 'input_image: is required'));
    }
    if (operation === 'generate' && (input.input_image !== undefined || input.mask_url !== undefined)) {
      return reply(
        400,
        oxenError(
          'invalid_params',
          'Invalid parameters',
          'input_image: not accepted by the generate endpoint',
        ),
      );
    }
    if (/\[simulate:refuse\]/i.test(input.prompt)) {
      return reply(
        400,
        oxenError(
          'content_policy',
          'Content policy',
          'Your request was rejected by the safety system (simulated).',
        ),
      );
    }

    const size = parseResolution(input.resolution ?? '1024x1024')!;
    const format: OutputFormat = input.output_format ?? 'png';
    const count = input.num_images ?? 1;
    let inputs: Buffer[] = [];
    let mask: Buffer | undefined;
    if (operation === 'edit') {
      try {
        inputs = await Promise.all((input.input_image ?? []).map(fetchInputImage));
        mask = input.mask_url === undefined ? undefined : await fetchInputImage(input.mask_url);
      } catch (error) {
        return reply(
          400,
          oxenError('invalid_params', 'Invalid parameters', `input_image: ${(error as Error).message}`),
        );
      }
    }
    const images: Array<{ url: string } | { b64_json: string }> = [];
    for (let index = 0; index < count; index += 1) {
      const prompt = count > 1 ? `${input.prompt} (#${index + 1})` : input.prompt;
      let bytes: Buffer;
      try {
        bytes =
          operation === 'edit'
            ? await makeEditedImage(prompt, inputs, mask, size, format)
            : await makeGeneratedImage(prompt, size, format);
      } catch (error) {
        return reply(
          400,
          oxenError(
            'invalid_params',
            'Invalid parameters',
            `input_image: not a readable image (${(error as Error).message})`,
          ),
        );
      }
      if (input.response_format === 'b64_json') images.push({ b64_json: bytes.toString('base64') });
      else images.push({ url: `${this.origin}/files/${this.storeImage(bytes, format)}` });
    }
    reply(200, { model: input.model, created: Math.floor(Date.now() / 1000), images });
  }

  private takeFault(operation: 'generate' | 'edit'): FaultRule | undefined {
    const index = this.faults.findIndex(
      (rule) => (rule.operation ?? 'any') === 'any' || rule.operation === operation,
    );
    if (index < 0) return undefined;
    const rule = this.faults[index]!;
    rule.times -= 1;
    if (rule.times <= 0) this.faults.splice(index, 1);
    return rule;
  }

  private storeImage(bytes: Buffer, format: OutputFormat): string {
    const name = `${randomUUID()}.${EXTENSIONS[format]}`;
    this.images.set(name, { bytes, contentType: CONTENT_TYPES[format] });
    const limit = this.options.maxStoredImages ?? 2000;
    while (this.images.size > limit) this.images.delete(this.images.keys().next().value!);
    return name;
  }
}

/** Oxen's documented error body. */
function oxenError(type: string, title: string, detail: string): unknown {
  return { error: { type, title, detail }, status: 'error', status_message: type };
}

function defaultFaultBody(status: number): unknown {
  if (status === 429)
    return oxenError('rate_limited', 'Too Many Requests', 'rate limit exceeded, retry later');
  if (status === 401) return oxenError('unauthorized', 'Unauthorized', 'missing or invalid API key');
  if (status === 402) return { error: { message: 'Insufficient credits' }, status: 'error' };
  if (status >= 500) return oxenError('internal_error', 'Internal Server Error', 'simulated server failure');
  return oxenError('invalid_params', 'Invalid parameters', 'prompt: simulated permanent rejection');
}

/** Read an input image: data URIs decoded; http(s) URLs fetched only from this machine (no traffic leaves it). */
async function fetchInputImage(reference: string): Promise<Buffer> {
  const dataUri = /^data:image\/[a-z+.-]+;base64,(.*)$/is.exec(reference);
  if (dataUri !== null) return Buffer.from(dataUri[1]!, 'base64');
  const url = new URL(reference);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) {
    throw new Error(`cannot download ${url.origin} from the simulator (only data URIs and loopback URLs)`);
  }
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!response.ok) throw new Error(`download failed with HTTP ${response.status}`);
  return Buffer.from(await response.arrayBuffer());
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function sendJson(
  response: ServerResponse,
  status: number,
  payload: unknown,
  headers: Record<string, string> = {},
) {
  const text = JSON.stringify(payload);
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(text);
}

function shortenDataUris(value: unknown): unknown {
  if (typeof value === 'string') return value.startsWith('data:') ? `${value.slice(0, 40)}…` : value;
  if (Array.isArray(value)) return value.map(shortenDataUris);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, child]) => [key, shortenDataUris(child)]));
  }
  return value;
}
