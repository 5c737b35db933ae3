/**
 * Redis connections — one Redis, Redis behind Sentinel, or a Redis Cluster, each named by a URL: a clear error when
 * Redis is unreachable, and warnings when its setup can lose jobs or capacity.
 */
import { Cluster, Redis } from 'ioredis';
import { ConfigurationError } from './errors.js';
import type { Logger } from './logger.js';

/**
 * A Redis behind Sentinel (issue 26): `redis+sentinel://[:password@]host:port[,host:port…]/<master name>[/<db>]` —
 * the sentinels to ask, the name of the master they watch, the password of the Redis servers (not of the sentinels)
 * and the database number. ioredis asks the sentinels for the master and follows a failover
 * (https://github.com/redis/ioredis#sentinel).
 */
const SENTINEL_URL = /^redis\+sentinel:\/\/(?:([^@/]*)@)?([^/]+)\/([^/?]+)(?:\/(\d+))?\/?$/;

/** What a `redis+sentinel://` URL says, as ioredis takes it (`sentinels`, `name`, `password`, `db`). */
export interface SentinelSettings {
  sentinels: Array<{ host: string; port: number }>;
  name: string;
  password?: string;
  db?: number;
}

/** Options of an ioredis connection (ioredis's own option names). */
export type ConnectionSettings = Record<string, unknown>;

/**
 * A connection to one Redis (plain or behind Sentinel) or to a Redis Cluster. Both answer the same commands and run
 * the same scripts; on a cluster each script and transaction must touch keys of one hash slot (src/shared/keys.ts).
 */
export type RedisConnection = Redis | Cluster;

/**
 * A Redis Cluster (issue 27): `redis+cluster://[[user]:password@]host:port[,host:port…]` — some of its nodes (ioredis
 * asks them for the rest, https://github.com/redis/ioredis#cluster), `rediss+cluster://` for TLS (managed services).
 * A cluster has only database 0, so no database number.
 */
const CLUSTER_URL = /^(rediss?)\+cluster:\/\/(?:([^@/]*)@)?([^/?@,:]+(?::\d+)?(?:,[^/?@,:]+(?::\d+)?)*)\/?$/;

/** What a `redis+cluster://` URL says: the nodes to start from and the options of every node's connection. */
export interface ClusterSettings {
  nodes: Array<{ host: string; port: number }>;
  redisOptions: { username?: string; password?: string; tls?: Record<string, never> };
}

/** The ioredis Cluster settings of a `redis+cluster://` URL, or undefined for any other URL. */
export function clusterSettingsOf(url: string): ClusterSettings | undefined {
  const match = CLUSTER_URL.exec(url);
  if (match === null) return undefined;
  const [, scheme, credentials, hosts] = match;
  const nodes = hosts!.split(',').map((entry) => {
    const [host, port] = entry.split(':');
    return { host: host!, port: Number(port ?? 6379) };
  });
  // `user:password`, `:password` or `user`; the password may hold a colon of its own.
  const colon = credentials?.indexOf(':') ?? -1;
  const user = credentials === undefined ? undefined : credentials.slice(0, colon === -1 ? undefined : colon);
  const password = colon === -1 ? undefined : credentials!.slice(colon + 1);
  return {
    nodes,
    redisOptions: {
      ...(user === undefined || user === '' ? {} : { username: decodeURIComponent(user) }),
      ...(password === undefined || password === '' ? {} : { password: decodeURIComponent(password) }),
      ...(scheme === 'rediss' ? { tls: {} } : {}),
    },
  };
}

/** The ioredis options of a `redis+sentinel://` URL, or undefined for any other URL. */
export function sentinelOptionsOf(url: string): SentinelSettings | undefined {
  const match = SENTINEL_URL.exec(url);
  if (match === null) return undefined;
  const [, credentials, hosts, name, db] = match;
  const sentinels = hosts!.split(',').map((entry) => {
    const [host, port] = entry.split(':');
    return { host: host!, port: Number(port ?? 26379) };
  });
  const password = credentials === undefined ? '' : decodeURIComponent(credentials.replace(/^[^:]*:/, ''));
  return {
    sentinels,
    name: decodeURIComponent(name!),
    ...(password === '' ? {} : { password }),
    ...(db === undefined ? {} : { db: Number(db) }),
  };
}

/** Whether `url` is a URL ioredis can open (`redis://`, `rediss://`…) or a `redis+sentinel://`/`redis+cluster://` one. */
export function isRedisUrl(url: string): boolean {
  if (sentinelOptionsOf(url) !== undefined || clusterSettingsOf(url) !== undefined) return true;
  try {
    return !new URL(url).protocol.startsWith('redis+');
  } catch {
    return false;
  }
}

/**
 * A connection to the Redis at `url` (a plain URL, Sentinel's or a cluster's) with `options`. For a cluster, the
 * options apply to every node's connection, except `enableOfflineQueue` and `retryStrategy`, which ioredis takes for
 * the cluster as a whole (`clusterRetryStrategy`).
 */
export function openRedis(url: string, options: ConnectionSettings = {}): RedisConnection {
  const cluster = clusterSettingsOf(url);
  if (cluster !== undefined) {
    const { enableOfflineQueue, retryStrategy, lazyConnect, ...nodeOptions } = options;
    return new Cluster(cluster.nodes, {
      redisOptions: { ...cluster.redisOptions, ...nodeOptions },
      ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue: enableOfflineQueue as boolean }),
      ...(retryStrategy === undefined ? {} : { clusterRetryStrategy: retryStrategy as () => null }),
      ...(lazyConnect === undefined ? {} : { lazyConnect: lazyConnect as boolean }),
    });
  }
  const sentinel = sentinelOptionsOf(url);
  return sentinel === undefined ? new Redis(url, options) : new Redis({ ...sentinel, ...options });
}

/**
 * Every key matching `pattern` (a SCAN pattern; on a cluster, each master's, once the cluster knows its nodes).
 * @throws the connection's error.
 */
export async function scanKeys(redis: RedisConnection, pattern: string): Promise<string[]> {
  if (isCluster(redis) && redis.status !== 'ready')
    await new Promise((resolve) => redis.once('ready', resolve));
  const nodes = isCluster(redis) ? redis.nodes('master') : [redis];
  const keys: string[] = [];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, found] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      keys.push(...found);
    } while (cursor !== '0');
  }
  return keys;
}

/** Whether `redis` is a connection to a Redis Cluster. */
export function isCluster(redis: RedisConnection): redis is Cluster {
  return redis instanceof Cluster;
}

/** `url` with any password replaced by `***`, safe to print. */
export function redactRedisUrl(url: string): string {
  if (sentinelOptionsOf(url) !== undefined || clusterSettingsOf(url) !== undefined)
    return url.replace(/\/\/[^@/]*@/, '//***@');
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable REDIS_URL)';
  }
}

/**
 * Why Redis at `url` does not answer PING within `timeoutMs`, or undefined when it does. Never throws; opens and
 * closes one connection.
 */
export async function redisProblem(url: string, timeoutMs: number): Promise<string | undefined> {
  const probe = openRedis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG' ? undefined : 'no PONG';
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    probe.disconnect();
  }
}

/**
 * Open a connection for BullMQ and our batch records (`maxRetriesPerRequest: null`, as BullMQ workers require),
 * after checking that Redis answers within `timeoutMs` (default 3000 ms).
 * @throws ConfigurationError naming the URL (password hidden), `hint` when given, and how to start Redis.
 */
export async function connectRedis(url: string, hint?: string, timeoutMs = 3000): Promise<RedisConnection> {
  const reason = await redisProblem(url, timeoutMs);
  if (reason !== undefined) {
    throw new ConfigurationError(
      `cannot reach Redis at ${redactRedisUrl(url)} (${reason}).\n` +
        (hint === undefined ? '' : `${hint}\n`) +
        "Start one with `docker compose up -d redis`, or install your distribution's redis-server and run " +
        '`redis-server --port 6379`, or point REDIS_URL at a running Redis.',
    );
  }
  const connection = openRedis(url, { maxRetriesPerRequest: null });
  connection.on('error', () => undefined);
  return connection;
}

/**
 * Warn about a Redis set up to lose jobs or capacity: {@link warnUnlessNoEviction}, and, on a cluster, a key prefix
 * holding a hash tag (`{image-batch}`, the advice before issue 27), which puts every key in that one slot — one node
 * does all the work. Never throws.
 */
export async function warnAboutRedisSetup(
  redis: RedisConnection,
  prefix: string,
  log: Logger,
): Promise<void> {
  await warnUnlessNoEviction(redis, log);
  if (isCluster(redis) && /\{[^}]*\}/.test(prefix))
    log.warn(
      { prefix },
      `IMAGE_BATCH_QUEUE_PREFIX "${prefix}" holds a hash tag: every key lands in one slot of the cluster. ` +
        'Remove the braces; image-batch tags each queue, batch and host itself.',
    );
}

/**
 * Warn when Redis's `maxmemory-policy` is not `noeviction`, the only policy under which BullMQ cannot lose jobs
 * (BullMQ "Going to production"). Managed Redis that forbids CONFIG GET is not warned about.
 */
async function warnUnlessNoEviction(redis: RedisConnection, log: Logger): Promise<void> {
  try {
    const reply = await redis.config('GET', 'maxmemory-policy');
    const policy = reply[1];
    if (policy !== undefined && policy !== 'noeviction') {
      log.warn(
        { maxmemoryPolicy: policy },
        `Redis maxmemory-policy is "${policy}": under memory pressure Redis may evict queued jobs. Set it to "noeviction".`,
      );
    }
  } catch {
    // CONFIG is disabled on some managed services; nothing to check then.
  }
}
