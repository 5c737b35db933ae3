/**
 * Private Redis servers for one test, from the `redis-server` on PATH (no Docker): a primary, replicas, and sentinels
 * watching them. Each is stopped by its own pid; nothing else is touched.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';
import { temporaryDirectory } from './files.js';
import { freePort } from './ports.js';

/** A running server. */
export interface RedisServer {
  port: number;
  process: ChildProcess;
  /** Kill it (SIGKILL: a crash, not a shutdown). */
  kill(): void;
}

const started: RedisServer[] = [];

/** Wait until the server at `port` answers PING (at most 10 s). */
async function answering(port: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      if ((await probe.ping()) === 'PONG') return;
    } catch {
      if (Date.now() > deadline) throw new Error(`redis-server on port ${port} does not answer`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    } finally {
      probe.disconnect();
    }
  }
}

async function launch(args: string[], port: number): Promise<RedisServer> {
  const child = spawn('redis-server', args, { stdio: 'ignore' });
  const server: RedisServer = { port, process: child, kill: () => child.kill('SIGKILL') };
  started.push(server);
  await answering(port);
  return server;
}

/** A Redis server without persistence; `replicaOf`: the port of the primary it replicates. */
export async function startRedisServer(replicaOf?: number): Promise<RedisServer> {
  const port = await freePort();
  const directory = await temporaryDirectory();
  return launch(
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      directory,
      ...(replicaOf === undefined ? [] : ['--replicaof', '127.0.0.1', String(replicaOf)]),
    ],
    port,
  );
}

/** A Redis server on its append-only file (fsync always) that can be restarted on the same port and file. */
export interface PersistentRedisServer {
  port: number;
  /** Stop it (SIGTERM, waiting for its exit), leave it down `downMs` (default 0), and start it again on its file. */
  restart(downMs?: number): Promise<void>;
}

/** Start a {@link PersistentRedisServer}. */
export async function startPersistentRedisServer(): Promise<PersistentRedisServer> {
  const port = await freePort();
  const directory = await temporaryDirectory();
  const args = [
    ...['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', directory],
    ...['--appendonly', 'yes', '--appendfsync', 'always', '--maxmemory-policy', 'noeviction'],
  ];
  let server = await launch(args, port);
  return {
    port,
    async restart(downMs = 0) {
      const exited = new Promise((resolve) => server.process.once('exit', resolve));
      server.process.kill('SIGTERM');
      await exited;
      await new Promise((resolve) => setTimeout(resolve, downMs));
      server = await launch(args, port);
    },
  };
}

/** A sentinel watching the primary at `primaryPort` as `name` (quorum 2, down after 1 s). */
export async function startSentinel(primaryPort: number, name = 'mymaster'): Promise<RedisServer> {
  const port = await freePort();
  const directory = await temporaryDirectory();
  const file = path.join(directory, 'sentinel.conf');
  await writeFile(
    file,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${directory}`,
      `sentinel monitor ${name} 127.0.0.1 ${primaryPort} 2`,
      `sentinel down-after-milliseconds ${name} 1000`,
      `sentinel failover-timeout ${name} 5000`,
      `sentinel parallel-syncs ${name} 1`,
      '',
    ].join('\n'),
  );
  return launch([file, '--sentinel'], port);
}

/** Stop every server this test file started, by pid. */
export function stopRedisServers(): void {
  for (const server of started.splice(0)) server.process.kill('SIGKILL');
}
