/**
 * A private Redis Cluster from the `redis-server` and `redis-cli` on PATH (no Docker): masters started with
 * `--cluster-enabled yes`, joined with `redis-cli --cluster create` (https://redis.io/docs/latest/operate/oss_and_stack/management/scaling/),
 * stopped by their own pids. Used by the cluster test project's global setup and the cluster benchmark.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';

const run = promisify(execFile);

/** How to get the cluster's programs, for the error when they are missing. */
export const HOW_TO_GET_REDIS_CLUSTER =
  'the Redis Cluster tests start a local cluster from `redis-server` and `redis-cli` on PATH: install them ' +
  '(Debian/Ubuntu: `apt-get install redis-server`, macOS: `brew install redis`) — Redis 7 or newer.';

/** A running cluster. */
export interface RedisCluster {
  /** `redis+cluster://127.0.0.1:<port>,…` (src/shared/redis.ts). */
  url: string;
  ports: number[];
  /** Stop every master (SIGKILL, by pid) and remove its data folder. */
  stop(): Promise<void>;
}

/** Whether `port` can be bound on loopback now. */
async function bindable(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A port free now whose cluster bus port (port + 10000) is free too. */
async function clusterPort(taken: Set<number>): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const port = 20_000 + Math.floor(Math.random() * 30_000);
    if (taken.has(port) || taken.has(port + 10_000)) continue;
    if ((await bindable(port)) && (await bindable(port + 10_000))) {
      taken.add(port).add(port + 10_000);
      return port;
    }
  }
  throw new Error('no free port pair for a Redis Cluster node');
}

/** Wait until every node says `cluster_state:ok` (at most 20 s). */
async function clusterReady(ports: number[]): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (const port of ports) {
    for (;;) {
      const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null });
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        if (/cluster_state:ok/.test(await probe.cluster('INFO'))) break;
      } catch {
        // not up yet
      } finally {
        probe.disconnect();
      }
      if (Date.now() > deadline) throw new Error(`Redis Cluster node ${port} is not ready`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** Wait until the node at `port` answers PING (at most 10 s). */
async function answering(port: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const { stdout } = await run('redis-cli', ['-p', String(port), 'PING']);
      if (stdout.trim() === 'PONG') return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} does not answer`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Start a cluster of `masters` (at least 3, Redis's minimum) without replicas or persistence.
 * @throws Error saying how to install Redis when `redis-server`/`redis-cli` are missing or the cluster does not form.
 */
export async function startRedisCluster(masters = 3): Promise<RedisCluster> {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'image-batch-cluster-'));
  const processes: ChildProcess[] = [];
  const stop = async (): Promise<void> => {
    for (const child of processes) child.kill('SIGKILL');
    await rm(directory, { recursive: true, force: true });
  };
  try {
    const taken = new Set<number>();
    const ports: number[] = [];
    for (let index = 0; index < masters; index += 1) ports.push(await clusterPort(taken));
    for (const port of ports) {
      const child = spawn(
        'redis-server',
        [
          ...['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
          ...['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`],
          ...['--cluster-node-timeout', '5000', '--dir', directory, '--maxmemory-policy', 'noeviction'],
        ],
        { stdio: 'ignore' },
      );
      child.on('error', () => undefined);
      processes.push(child);
    }
    for (const port of ports) await answering(port);
    await run('redis-cli', [
      '--cluster',
      'create',
      ...ports.map((port) => `127.0.0.1:${port}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ]);
    await clusterReady(ports);
    const url = `redis+cluster://${ports.map((port) => `127.0.0.1:${port}`).join(',')}`;
    return { url, ports, stop };
  } catch (error) {
    await stop();
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new Error(`could not start a local Redis Cluster (${reason}): ${HOW_TO_GET_REDIS_CLUSTER}`);
  }
}
