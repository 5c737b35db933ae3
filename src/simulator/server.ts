/**
 * The provider simulator: one local HTTP server that speaks every supported provider's API as documented — Oxen.ai,
 * fal.ai, OpenAI, Replicate and WaveSpeedAI: same paths, auth header forms, body validation with each provider's
 * enums and error bodies, async state machines with status and result URLs — and returns real images of the requested
 * size and format. It counts submissions (per provider and per prompt) so tests can prove nothing was paid twice, and
 * injects latency and faults (429 with Retry-After, 5xx, hangs, refusals, out of credit, failed tasks) on demand,
 * in-process ({@link ProviderSimulator.injectFaults}) or over HTTP (`POST /__simulator/faults`).
 *
 * All providers share one origin: point `OXEN_BASE_URL`, `FAL_QUEUE_URL`, `FAL_REST_URL` and `WAVESPEED_BASE_URL` at
 * it, `OPENAI_BASE_URL` at `<origin>/v1`, `REPLICATE_BASE_URL` at `<origin>/replicate/v1` and `FAL_PLATFORM_URL` at
 * `<origin>/fal-platform/v1` (see {@link simulatorBaseUrls}). Below those bases every path is the provider's own.
 *
 * The simulator is written from the providers' published references, independently of the adapters: it imports
 * nothing from src/providers, so an adapter that misreads an API fails against it.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { PROVIDER_NAMES, type ProviderName } from '../shared/config.js';
import { batchWorldOf, type BatchWorld } from './apis/openai-batch.js';
import { webhookSenderOf, type WebhookSender } from './webhooks.js';
import { C2paImageSigner, type C2paSigningIdentity } from './c2pa-signer.js';
import { SimulatorCore, type ProviderRoutes, type RecordedRequest } from './core.js';
import type { FaultRule } from './faults.js';
import type { HostConditions } from './host-conditions.js';
import { parseJson, readBody, sendJson } from './http-helpers.js';
import { falRoutes } from './apis/fal.js';
import { openaiRoutes } from './apis/openai.js';
import { oxenRoutes } from './apis/oxen.js';
import { replicateRoutes } from './apis/replicate.js';
import { wavespeedRoutes } from './apis/wavespeed.js';

export type { RecordedRequest } from './core.js';
export type { FaultRule } from './faults.js';
export type { HostConditions } from './host-conditions.js';

/** Options of the simulator. */
export interface SimulatorOptions {
  /** Port to listen on; 0 (default) picks a free one. */
  port?: number;
  /** Default `127.0.0.1`. */
  host?: string;
  /** When set, only this API key is accepted (in each provider's header form); otherwise any non-empty key is. */
  apiKey?: string;
  /** Delay before each synchronous answer, and running time of each async task, in ms. Default 0. */
  latencyMs?: number;
  /** Output images kept for download (oldest dropped first). Default 5000. */
  maxStoredImages?: number;
  /** Rate limit every provider enforces, requests per minute (429 with Retry-After past it). Default: none. */
  rateLimitPerMinute?: number;
  /** Sign every output image with a C2PA manifest under this identity (./c2pa-signer.ts). Default: unsigned images. */
  c2pa?: C2paSigningIdentity;
}

const faultsControlSchema = z.object({
  faults: z
    .array(
      z.object({
        provider: z.enum(PROVIDER_NAMES).optional(),
        operation: z.enum(['generate', 'edit', 'any']).optional(),
        times: z.number().int().positive().optional(),
        status: z.number().int().min(100).max(599).optional(),
        retryAfterSeconds: z.number().nonnegative().optional(),
        retryAfterForm: z.enum(['seconds', 'http-date', 'milliseconds']).optional(),
        hang: z.boolean().optional(),
        taskFailure: z.string().optional(),
        body: z.unknown().optional(),
        output: z.enum(['truncated', 'bomb']).optional(),
      }),
    )
    .default([]),
  latencyMs: z.number().int().nonnegative().optional(),
  rateLimitPerMinute: z.number().positive().nullable().optional(),
  /** Each named host's own conditions (./host-conditions.ts); times of `outage` are ms from now. */
  hosts: z
    .record(
      z.enum(PROVIDER_NAMES),
      z.object({
        rateLimitPerMinute: z.number().positive().optional(),
        latencyMs: z.number().int().nonnegative().optional(),
        startDelayMs: z.number().int().nonnegative().optional(),
        outage: z.object({ fromMs: z.number(), untilMs: z.number() }).optional(),
        creditSubmissions: z.number().int().nonnegative().optional(),
      }),
    )
    .optional(),
});

const ROUTES: ProviderRoutes[] = [oxenRoutes, falRoutes, openaiRoutes, replicateRoutes, wavespeedRoutes];

/** Base URL settings that point every provider at a simulator at `origin`. */
export function simulatorBaseUrls(
  origin: string,
): Record<
  ProviderName,
  { baseUrl: string; restUrl?: string; platformUrl?: string; webhookJwksUrl?: string }
> {
  return {
    oxen: { baseUrl: origin },
    fal: {
      baseUrl: origin,
      restUrl: origin,
      platformUrl: `${origin}/fal-platform/v1`,
      webhookJwksUrl: `${origin}/.well-known/jwks.json`,
    },
    openai: { baseUrl: `${origin}/v1` },
    replicate: { baseUrl: `${origin}/replicate/v1` },
    wavespeed: { baseUrl: origin },
  };
}

/** Status calls of the async providers (GETs of a request's state), by provider: what a poll budget limits. */
const STATUS_CALLS: ReadonlyArray<[ProviderName, RegExp]> = [
  ['fal', /^\/[^?]+\/requests\/[^/]+(\/status)?$/],
  ['replicate', /^\/replicate\/v1\/predictions\/[^/]+$/],
  ['wavespeed', /^\/api\/v3\/predictions\/[^/]+(\/result)?$/],
  ['oxen', /^\/api\/ai\/queue\/[^/]+$/],
];

function statusCallOf(pathname: string): ProviderName | undefined {
  return STATUS_CALLS.find(([, pattern]) => pattern.test(pathname))?.[0];
}

/** The simulator server. */
export class ProviderSimulator {
  private readonly core: SimulatorCore;
  private readonly server: Server;

  constructor(private readonly options: SimulatorOptions = {}) {
    this.core = new SimulatorCore(options.latencyMs ?? 0, options.maxStoredImages ?? 5000);
    this.core.rateLimitPerMinute = options.rateLimitPerMinute;
    this.core.c2paSigner = options.c2pa === undefined ? undefined : new C2paImageSigner(options.c2pa);
    this.server = createServer((request, response) => {
      const url = new URL(request.url ?? '/', 'http://simulator');
      this.route(request, response, url).catch((error: unknown) => {
        if (!response.headersSent) sendJson(response, 500, { error: { message: String(error) } });
        else response.destroy();
      });
    });
  }

  private async route(
    request: Parameters<ProviderRoutes>[0]['request'],
    response: Parameters<ProviderRoutes>[0]['response'],
    url: URL,
  ) {
    if (request.method === 'GET' && url.pathname.startsWith('/files/')) {
      const file = this.core.file(url.pathname.slice('/files/'.length));
      if (file === undefined) return sendJson(response, 404, { error: { message: 'file not found' } });
      response.writeHead(200, { 'content-type': file.contentType, 'content-length': file.bytes.length });
      if (file.truncated) {
        response.write(file.bytes.subarray(0, Math.floor(file.bytes.length / 2)), () => response.destroy());
        return;
      }
      response.end(file.bytes);
      return;
    }
    if (url.pathname === '/__simulator/faults' && request.method === 'POST') {
      const parsed = faultsControlSchema.safeParse(parseJson((await readBody(request)).toString('utf8')));
      if (!parsed.success) return sendJson(response, 400, { error: parsed.error.issues });
      this.injectFaults(parsed.data.faults as FaultRule[]);
      if (parsed.data.latencyMs !== undefined) this.setLatency(parsed.data.latencyMs);
      if (parsed.data.rateLimitPerMinute !== undefined)
        this.setRateLimit(parsed.data.rateLimitPerMinute ?? undefined);
      for (const [name, conditions] of Object.entries(parsed.data.hosts ?? {})) {
        const { outage, ...rest } = conditions;
        const now = Date.now();
        const given = Object.fromEntries(Object.entries(rest).filter(([, value]) => value !== undefined));
        this.setHostConditions(name as ProviderName, {
          ...(given as HostConditions),
          ...(outage === undefined
            ? {}
            : { outage: { fromMs: now + outage.fromMs, untilMs: now + outage.untilMs } }),
        });
      }
      return sendJson(response, 200, { latencyMs: this.core.latencyMs });
    }
    if (url.pathname === '/__simulator/stats' && request.method === 'GET') {
      return sendJson(response, 200, {
        submissionsByProvider: Object.fromEntries(this.core.submissionsByProvider),
        submissionsByPrompt: Object.fromEntries(this.core.submissionsByPrompt),
      });
    }
    const polled = request.method === 'GET' ? statusCallOf(url.pathname) : undefined;
    if (polled !== undefined && this.core.statusCallThrottled(polled)) {
      // Replicate's throttling answer (providers.md §4), with a Retry-After; the others answer 429 alike.
      return sendJson(
        response,
        429,
        { detail: 'Request was throttled. Your rate limit resets in ~1s.' },
        { 'retry-after': '1' },
      );
    }
    const context = { core: this.core, request, response, url, apiKey: this.options.apiKey };
    for (const routes of ROUTES) if (await routes(context)) return;
    sendJson(response, 404, { error: { message: `no route for ${request.method} ${url.pathname}` } });
  }

  /** Start listening. @returns the origin, e.g. `http://127.0.0.1:40123`. */
  async start(): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port ?? 0, this.options.host ?? '127.0.0.1', () => resolve());
    });
    const address = this.server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    this.core.origin = `http://${host}:${address.port}`;
    return this.core.origin;
  }

  /** The origin, once started. */
  get url(): string {
    return this.core.origin;
  }

  /** Stop listening and drop every open connection (hung requests included). */
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    batchWorldOf(this.core).close();
  }

  /** OpenAI's simulated Batch API: batches created, request lines by `custom_id`, and its behaviour (tests set it). */
  get openaiBatches(): BatchWorld {
    return batchWorldOf(this.core);
  }

  /** Queue faults: each rule answers the next `times` matching paid submissions. */
  injectFaults(rules: FaultRule[]): void {
    this.core.injectFaults(rules);
  }

  /** Drop every queued fault not yet used up (a test that injects "many" cleans up after itself). */
  clearFaults(): void {
    this.core.clearFaults();
  }

  /** Delay before each synchronous answer and running time of each async task, ms. */
  setLatency(latencyMs: number): void {
    this.core.latencyMs = latencyMs;
  }

  /** How long an async task stays queued before it runs, ms (tests that cancel queued requests lengthen it). */
  setQueueDelay(queueDelayMs: number): void {
    this.core.queueDelayMs = queueDelayMs;
  }

  /** When true, a cancel arriving for a queued task finds it just started (a cancel racing the start). */
  set cancelRacesStart(races: boolean) {
    this.core.cancelRacesStart = races;
  }

  /** Requests removed from the queue by a cancel before they started (never run, never billed), by provider. */
  get cancelledBeforeStartByProvider(): ReadonlyMap<ProviderName, number> {
    return this.core.cancelledBeforeStartByProvider;
  }

  /** Paid submissions so far, all providers. */
  get paidRequestTotal(): number {
    let total = 0;
    for (const count of this.core.submissionsByProvider.values()) total += count;
    return total;
  }

  /** Paid submissions so far, by provider. */
  get submissionsByProvider(): ReadonlyMap<ProviderName, number> {
    return this.core.submissionsByProvider;
  }

  /** The simulated webhook deliveries: their signing secret, counts, and how they misbehave (tests set it). */
  get webhooks(): WebhookSender {
    return webhookSenderOf(this.core);
  }

  /** Most async requests of a provider in flight (submitted, not yet finished) at one time. */
  get peakInFlightByProvider(): ReadonlyMap<ProviderName, number> {
    return this.core.peakInFlightByProvider;
  }

  /** Status calls (polls) so far, by provider. */
  get statusCallsByProvider(): ReadonlyMap<ProviderName, number> {
    return this.core.statusCalls;
  }

  /** Status calls (polls) answered 429 by the simulated status-call limit, by provider. */
  get throttledStatusCallsByProvider(): ReadonlyMap<ProviderName, number> {
    return this.core.throttledStatusCalls;
  }

  /**
   * Status calls per minute every provider allows (Replicate publishes 3,000 for non-creation endpoints), answered
   * 429 with `retry-after: 1` past it; undefined for none.
   */
  setStatusRateLimit(perMinute: number | undefined): void {
    this.core.statusRateLimitPerMinute = perMinute;
  }

  /**
   * Give `provider` its own rate limit, latency, start delay, outage window (ms since the epoch) or credit limit,
   * replacing what it had (./host-conditions.ts); the others keep theirs.
   */
  setHostConditions(provider: ProviderName, conditions: HostConditions): void {
    this.core.hosts.set(provider, conditions);
  }

  /** Drop every host's own conditions. */
  clearHostConditions(): void {
    this.core.hosts.clear();
  }

  /** Revoke `key` on every host: from now on it is answered 401, as a wrong key is. */
  revokeKey(key: string): void {
    this.core.keys.revoke(key);
  }

  /** Accept `key` too (another account's), besides the simulator's own `apiKey`; it is no longer revoked. */
  acceptKey(key: string): void {
    this.core.keys.accept(key);
  }

  /**
   * Requests the hosts accepted and never started (cancelled while queued, aborted at their start deadline), by
   * prompt: accepted, never billed.
   */
  get unbilledByPrompt(): ReadonlyMap<string, number> {
    return this.core.unbilledByPrompt;
  }

  /** Rate limit every provider enforces (requests/min), or undefined for none. */
  setRateLimit(perMinute: number | undefined): void {
    this.core.rateLimitPerMinute = perMinute;
  }

  /** Submissions answered 429 by the simulated rate limit, by provider. */
  get throttledByProvider(): ReadonlyMap<ProviderName, number> {
    return this.core.throttledByProvider;
  }

  /** Submissions that arrived while a Retry-After sent by the simulator was still running, by provider. */
  get earlySubmissionsByProvider(): ReadonlyMap<ProviderName, number> {
    return this.core.earlySubmissionsByProvider;
  }

  /** Paid submissions so far, by prompt. */
  get submissionsByPrompt(): ReadonlyMap<string, number> {
    return this.core.submissionsByPrompt;
  }

  /** The last 5000 paid submissions. */
  get recordedRequests(): readonly RecordedRequest[] {
    return this.core.recordedRequests;
  }

  /** Hex SHA-256 of each image delivered, by the row prompt it was made for (the last 5000 prompts). */
  get deliveredSha256ByPrompt(): ReadonlyMap<string, readonly string[]> {
    return this.core.delivered.sha256ByPrompt;
  }
}
