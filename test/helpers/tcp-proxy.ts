/**
 * A TCP proxy for tests that can cut one process off from a server without closing anything: while black-holed, bytes
 * are neither forwarded nor refused (no RST, no FIN) — a network partition as a worker sees it, not a crash.
 */
import { createServer, connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/** A running proxy. */
export interface TcpProxy {
  /** The port it listens on (127.0.0.1). */
  port: number;
  /** Start (true) or end (false) the partition: held bytes flow again when it ends. */
  blackhole(on: boolean): void;
  stop(): Promise<void>;
}

/** Start a proxy on a free loopback port in front of `host:port`. */
export async function startTcpProxy(host: string, port: number): Promise<TcpProxy> {
  const pairs = new Set<{ client: Socket; server: Socket }>();
  let holding = false;
  const server = createServer((client) => {
    const upstream = connect(port, host);
    const pair = { client, server: upstream };
    pairs.add(pair);
    const relay = (from: Socket, to: Socket) => {
      from.on('data', (chunk) => {
        to.write(chunk);
      });
    };
    relay(client, upstream);
    relay(upstream, client);
    if (holding) {
      client.pause();
      upstream.pause();
    }
    const close = () => {
      client.destroy();
      upstream.destroy();
      pairs.delete(pair);
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    blackhole(on) {
      holding = on;
      for (const pair of pairs) {
        if (on) {
          pair.client.pause();
          pair.server.pause();
        } else {
          pair.client.resume();
          pair.server.resume();
        }
      }
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const pair of pairs) {
          pair.client.destroy();
          pair.server.destroy();
        }
        server.close(() => resolve());
      }),
  };
}
