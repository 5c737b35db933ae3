/**
 * The webhook receiver (`image-batch webhooks`): takes the providers' deliveries at `POST /webhooks/<provider>`,
 * verifies each where the provider signs (Replicate: Standard Webhooks; fal: ED25519 with its JWKS), deduplicates by
 * request id, and makes the request due for its status poll at once (src/batch/parked-requests.ts); it answers within
 * a Redis round trip, so providers do not retry for want of an answer. The poller then reads the outcome from the
 * provider itself and the collection job stores the images: a lost delivery is caught by the slow reconciliation poll,
 * a duplicate or out-of-order one changes nothing, a forged one costs one early poll at most.
 *
 * While it runs it announces its public URL through Redis (src/batch/webhook-endpoint.ts); workers then ask for
 * webhooks on new submissions. Without a receiver, nothing changes.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RedisConnection } from '../shared/redis.js';
import { ParkedRequests } from '../batch/parked-requests.js';
import { ANNOUNCEMENT_MS, WebhookEndpoint } from '../batch/webhook-endpoint.js';
import { createWebhookVerifier, hostsOfAll, type Config } from '../providers/configuration.js';
import type { WebhookVerifier } from '../providers/webhooks.js';
import { PROVIDER_NAMES } from '../shared/config.js';
import type { HostName } from '../shared/hosts.js';
import type { Logger } from '../shared/logger.js';

/** Largest delivery read, bytes (a delivery holds a prediction or a result's URLs, not images). */
const MAX_BODY_BYTES = 1024 * 1024;
/** How long a request id's delivery is remembered for deduplication, ms (fal retries for 2 hours). */
const REMEMBER_MS = 3 * 3600_000;

/** Options of {@link startWebhookReceiver}. */
export interface WebhookReceiverOptions {
  config: Config;
  redis: RedisConnection;
  /** Port to listen on (0: any free one). */
  port: number;
  /** Address to listen on. */
  host: string;
  /**
   * Where the providers reach this receiver, e.g. `https://hooks.example.com` (deliveries go to `/webhooks/<name>`);
   * default: its own local URL (providers on this machine, such as the simulator).
   */
  publicUrl?: string;
  log: Logger;
}

/** Deliveries so far. */
export interface DeliveryCounts {
  /** First delivery of a finished request: its request was made due. */
  accepted: number;
  /** Another delivery for a request already announced. */
  duplicates: number;
  /** Authentic, but not a final state (e.g. a start event): nothing to do. */
  unfinished: number;
  /** Refused: bad signature, unreadable body, unknown provider, too large. */
  rejected: number;
}

/** A running receiver. */
export interface WebhookReceiver {
  /** Where it listens locally, e.g. `http://127.0.0.1:8791`. */
  url: string;
  counts: DeliveryCounts;
  /** Stop listening and withdraw the announcement. */
  close(): Promise<void>;
}

/** Start the receiver and announce it. @throws the listen error (port in use). */
export async function startWebhookReceiver(options: WebhookReceiverOptions): Promise<WebhookReceiver> {
  const { config, redis, log } = options;
  // One per host: each account of a provider signs with its own secret, and its deliveries come to its own path.
  const verifiers = new Map<string, { host: HostName; verifier: WebhookVerifier }>();
  for (const host of hostsOfAll(config, PROVIDER_NAMES)) {
    const verifier = createWebhookVerifier(host, config);
    if (verifier !== undefined) verifiers.set(host, { host, verifier });
  }
  const parked = new ParkedRequests(redis, config.queuePrefix);
  const counts: DeliveryCounts = { accepted: 0, duplicates: 0, unfinished: 0, rejected: 0 };
  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      log.error({ err: error }, 'webhook delivery failed');
      if (!response.headersSent) response.writeHead(500).end();
    });
  });

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const match = /^\/webhooks\/([a-z]+(?:@[0-9]+)?)\/?(?:\?.*)?$/.exec(request.url ?? '');
    const found = match === null ? undefined : verifiers.get(match[1]!);
    if (request.method !== 'POST' || found === undefined) {
      counts.rejected += 1;
      return void response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
    const body = await readLimited(request);
    if (body === undefined) {
      // Past the limit the connection is cut: nothing more of it is read.
      counts.rejected += 1;
      return void response.destroy();
    }
    const headers = Object.fromEntries(
      Object.entries(request.headers).map(([name, value]) => [name, Array.isArray(value) ? value[0] : value]),
    );
    const { host, verifier } = found;
    const verdict = await verifier.verify(headers, body);
    if (verdict.kind === 'rejected') {
      counts.rejected += 1;
      log.warn({ provider: host, reason: verdict.reason }, 'webhook delivery refused');
      return void response
        .writeHead(verdict.status, { 'content-type': 'text/plain' })
        .end(`${verdict.reason}\n`);
    }
    if (!verdict.finished) {
      counts.unfinished += 1;
    } else if ((await parked.noteDelivery(host, verdict.requestId, REMEMBER_MS, verdict.images)) === 'new') {
      counts.accepted += 1;
      log.debug({ provider: host, requestId: verdict.requestId }, 'request announced finished');
    } else {
      counts.duplicates += 1;
    }
    response.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host.replace(/^\[(.*)\]$/, '$1'), () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  const publicUrl = options.publicUrl ?? url;
  const endpoint = new WebhookEndpoint(redis, config.queuePrefix);
  await endpoint.announce(publicUrl);
  const renewal = setInterval(() => {
    endpoint.announce(publicUrl).catch((error: unknown) => {
      log.warn({ err: error }, 'could not renew the webhook announcement');
    });
  }, ANNOUNCEMENT_MS / 3);
  return {
    url,
    counts,
    async close() {
      clearInterval(renewal);
      await endpoint.withdraw(publicUrl).catch(() => undefined);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The request body, or undefined when it exceeds {@link MAX_BODY_BYTES} (then the request is destroyed, unread). */
async function readLimited(request: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) {
      request.destroy();
      return undefined;
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
