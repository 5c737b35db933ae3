/**
 * A receiver of image-batch's events for tests: an HTTP server on loopback that keeps every POST (path, headers, raw
 * body) and can refuse the first few with a status, or every one.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One POST received. */
export interface ReceivedEvent {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** The status it was answered with. */
  status: number;
}

/** A running receiver. */
export interface EventReceiver {
  /** `http://127.0.0.1:<port><path>`. */
  url(path?: string): string;
  /** Every POST so far, in order. */
  received: ReceivedEvent[];
  /** The parsed bodies answered 2xx, in order. */
  accepted(): Array<{ type: string; data: Record<string, any>; text: string; timestamp: string }>;
  /** Answer the next `count` POSTs with `status` (count Infinity: every one). */
  refuse(count: number, status: number): void;
  /** Resolves once a POST of event `type` was answered 2xx (at most `limitMs`). */
  waitFor(type: string, limitMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** Start a receiver on a free loopback port. */
export async function startEventReceiver(): Promise<EventReceiver> {
  const received: ReceivedEvent[] = [];
  let refusals = 0;
  let refusalStatus = 500;
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const status = refusals > 0 ? refusalStatus : 204;
      if (refusals > 0) refusals -= 1;
      received.push({
        path: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        status,
      });
      response.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const accepted = () =>
    received
      .filter((event) => event.status < 300)
      .map((event) => JSON.parse(event.body) as ReturnType<EventReceiver['accepted']>[number]);
  return {
    url: (path = '/events') => `http://127.0.0.1:${port}${path}`,
    received,
    accepted,
    refuse(count, status) {
      refusals = count;
      refusalStatus = status;
    },
    async waitFor(type, limitMs = 30_000) {
      const deadline = Date.now() + limitMs;
      while (!accepted().some((event) => event.type === type)) {
        if (Date.now() > deadline)
          throw new Error(`no ${type} event; received: ${received.map((event) => event.body).join('\n')}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
