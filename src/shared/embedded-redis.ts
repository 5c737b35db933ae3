/**
 * A private Redis for `run` (and the tests) when no shared one is given: the `redis-server` found on PATH, started on
 * a free loopback port with its data in a folder of ours (AOF on, so an interrupted `run` continues where it stopped
 * when run again), and stopped when we are done.
 *
 * Only a `redis-server` on PATH is used. npm packages that "manage the binary" (redis-memory-server 0.17.1,
 * `lib/util/RedisBinaryDownload.js`) download Redis's source from download.redis.io and build it with `make` on first
 * use: they need the internet and a C toolchain, so they cannot help on a machine without either; a clear message
 * names the ways to get Redis instead.
 */
import { spawn } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { ConfigurationError } from './errors.js';
import { redisProblem } from './redis.js';

/** A running private Redis. */
export interface EmbeddedRedis {
  /** `redis://127.0.0.1:<port>`. */
  url: string;
  /** Process id of the `redis-server`. */
  pid: number;
  /** Folder of its data (AOF) and log. */
  directory: string;
  /** True when it was left running by an interrupted earlier run and taken over. */
  adopted: boolean;
  /** Stop it (SIGTERM: Redis writes its AOF and exits), waiting at most 10 s before SIGKILL. */
  stop(): Promise<void>;
}

/** What we remember of the server in its folder, to take it over after a crash. */
interface ServerRecord {
  pid: number;
  port: number;
}

const RECORD_FILE = 'embedded-redis.json';

/** How to get a Redis when none can be started here. */
export const HOW_TO_GET_REDIS =
  'install Redis (`apt-get install redis-server`, `brew install redis`) so that `redis-server` is on PATH, or run one (`docker compose up -d redis`, or any Redis 7) and set REDIS_URL to it';

/** The path of `redis-server` on PATH (`environment.PATH`), or undefined. */
export async function findRedisServer(
  environment: NodeJS.ProcessEnv = process.env,
): Promise<string | undefined> {
  for (const folder of (environment.PATH ?? '').split(path.delimiter)) {
    if (folder === '') continue;
    const candidate = path.join(folder, 'redis-server');
    const runnable = await access(candidate, fsConstants.X_OK).then(
      () => true,
      () => false,
    );
    if (runnable) return candidate;
  }
  return undefined;
}

/** Whether a Redis answers PING at `url` within `timeoutMs`. Never throws. */
export async function redisAnswers(url: string, timeoutMs = 1000): Promise<boolean> {
  return (await redisProblem(url, timeoutMs)) === undefined;
}

/** A free TCP port on 127.0.0.1 (asked of the kernel, then released). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address !== null
          ? resolve(address.port)
          : reject(new Error('no port was given')),
      );
    });
  });
}

/** Whether process `pid` exists (signal 0). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stop `pid` with SIGTERM, then SIGKILL after `graceMs`. */
async function stopProcess(pid: number, graceMs = 10_000): Promise<void> {
  if (!isAlive(pid)) return;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
}

/** The server an interrupted run left running on `directory`, when it still answers. */
async function leftRunning(directory: string): Promise<ServerRecord | undefined> {
  const text = await readFile(path.join(directory, RECORD_FILE), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const record = JSON.parse(text) as ServerRecord;
  if (!isAlive(record.pid)) return undefined;
  return (await redisAnswers(`redis://127.0.0.1:${record.port}`)) ? record : undefined;
}

function running(directory: string, record: ServerRecord, adopted: boolean): EmbeddedRedis {
  return {
    url: `redis://127.0.0.1:${record.port}`,
    pid: record.pid,
    directory,
    adopted,
    stop: async () => {
      await stopProcess(record.pid);
      await rm(path.join(directory, RECORD_FILE), { force: true });
    },
  };
}

/**
 * Start a private Redis with its data in `directory` (created), or take over the one an interrupted run left there.
 * @throws ConfigurationError when no `redis-server` is on PATH, or it does not start (with the end of its log).
 */
export async function startEmbeddedRedis(directory: string): Promise<EmbeddedRedis> {
  await mkdir(directory, { recursive: true });
  const previous = await leftRunning(directory);
  if (previous !== undefined) return running(directory, previous, true);
  const redisServer = await findRedisServer();
  if (redisServer === undefined)
    throw new ConfigurationError(
      `no Redis answers and no redis-server is on PATH to start one: ${HOW_TO_GET_REDIS}`,
    );
  const port = await freePort();
  const child = spawn(
    redisServer,
    [
      '--bind',
      '127.0.0.1',
      '--port',
      String(port),
      '--dir',
      directory,
      '--appendonly',
      'yes',
      '--save',
      '',
      '--maxmemory-policy',
      'noeviction',
      '--logfile',
      'redis.log',
      '--daemonize',
      'no',
    ],
    // Its own process group: Ctrl-C reaches `run`, which drains its workers and then stops this server.
    { stdio: 'ignore', detached: true },
  );
  child.unref();
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  child.once('error', () => undefined);
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  while (!(await redisAnswers(url, 500))) {
    const stopped = await Promise.race([
      exited,
      new Promise((resolve) => setTimeout(() => resolve('running'), 100)),
    ]);
    if (stopped !== 'running' || Date.now() > deadline) {
      if (child.pid !== undefined) await stopProcess(child.pid, 1000);
      const log = await readFile(path.join(directory, 'redis.log'), 'utf8').catch(() => '');
      throw new ConfigurationError(
        `${redisServer} did not start in ${directory}: ${log.trim().split('\n').slice(-3).join(' | ') || 'no log'}. ` +
          `Or ${HOW_TO_GET_REDIS}`,
      );
    }
  }
  const record = { pid: child.pid!, port };
  await writeFile(path.join(directory, RECORD_FILE), JSON.stringify(record));
  return running(directory, record, false);
}
