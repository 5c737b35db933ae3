/**
 * An HTTP proxy for tests that stands in front of a server (s3rver, for S3 faults) and fails the requests it is told
 * to: an S3 `503 SlowDown` or `500 InternalError` answer, a connection dropped after part of the body was read (no
 * answer), a slow answer, or a whole outage. Everything else is passed through unchanged.
 */
import { createServer, request as forward, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What to do to a request. */
export type Fault = 'slowdown' | 'internal-error' | 'drop' | 'slow';

/** A running proxy. */
export interface FlakyProxy {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** Fail the next requests `matching` (default: every PUT), one fault each, in order. */
  failNext(faults: Fault[], matching?: (request: IncomingMessage) => boolean): void;
  /** While on, every PUT is answered 503 SlowDown. */
  outage(on: boolean): void;
  /** Requests failed so far, by fault. */
  readonly failed: Record<Fault, number>;
  stop(): Promise<void>;
}

const S3_ERRORS = {
  slowdown: { status: 503, code: 'SlowDown', message: 'Please reduce your request rate.' },
  'internal-error': {
    status: 500,
    code: 'InternalError',
    message: 'We encountered an internal error. Please try again.',
  },
};

/** Start a proxy in front of `target` (`http://host:port`) on a free loopback port. */
export async function startFlakyProxy(target: string): Promise<FlakyProxy> {
  const upstream = new URL(target);
  const queue: Array<{ fault: Fault; matching: (request: IncomingMessage) => boolean }> = [];
  let down = false;
  const failed: Record<Fault, number> = { slowdown: 0, 'internal-error': 0, drop: 0, slow: 0 };
  const isPut = (request: IncomingMessage) => request.method === 'PUT';

  function pass(request: IncomingMessage, response: ServerResponse): void {
    const outgoing = forward(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: request.method,
        path: request.url,
        headers: request.headers,
      },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    outgoing.on('error', () => response.destroy());
    request.pipe(outgoing);
  }

  function fail(fault: Fault, request: IncomingMessage, response: ServerResponse): void {
    failed[fault] += 1;
    if (fault === 'slow') {
      setTimeout(() => pass(request, response), 1500);
      return;
    }
    if (fault === 'drop') {
      // Read part of the body, then cut the connection without an answer: an upload broken half-way.
      request.once('data', () => request.socket.destroy());
      request.once('end', () => request.socket.destroy());
      return;
    }
    const { status, code, message } = S3_ERRORS[fault];
    request.resume();
    request.on('end', () =>
      response
        .writeHead(status, { 'content-type': 'application/xml' })
        .end(
          `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`,
        ),
    );
  }

  const server = createServer((request, response) => {
    if (down && isPut(request)) return fail('slowdown', request, response);
    const index = queue.findIndex((entry) => entry.matching(request));
    if (index >= 0) return fail(queue.splice(index, 1)[0]!.fault, request, response);
    pass(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    failNext(faults, matching = isPut) {
      for (const fault of faults) queue.push({ fault, matching });
    },
    outage(on) {
      down = on;
    },
    failed,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
