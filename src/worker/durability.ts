/**
 * Writes that guard money, made durable before the next paid step (issue 26: Redis failover). Sentinel and managed
 * Redis replicate asynchronously: a write the primary acknowledged — a job's "sent" mark, the id of an accepted async
 * request — can vanish when a replica is promoted, and the row would then be sent again. So, while the primary has
 * replicas, a worker asks Redis to `WAIT` for one of them to hold every earlier write before it sends a paid call
 * (https://redis.io/docs/latest/commands/wait/). WAIT counts this connection's writes; the replication stream is one
 * ordered stream, so a small write of ours made after BullMQ's covers BullMQ's too.
 *
 * When no replica confirms within `IMAGE_BATCH_REPLICA_WAIT_MS`, the paid call is not sent: the row waits and tries
 * again, without using an attempt (money before availability). A primary without replicas (a single Redis) is not
 * waited for: there is nothing to fail over to.
 *
 * On a Redis Cluster every master has its own replication stream, so the wait is made on each master that has
 * replicas, after a write there to a key of a slot that master serves.
 */
import calculateSlot from 'cluster-key-slot';
import type { Cluster, Redis } from 'ioredis';
import { isCluster, type RedisConnection } from '../shared/redis.js';

/** How often the primary's replica count is read again, ms. */
const REPLICAS_READ_EVERY_MS = 5000;

/** A master to wait on: its connection and a key of a slot it serves. */
interface Primary {
  connection: Redis;
  key: string;
}

/** Confirms that earlier writes are on a replica, on a connection of its own (WAIT blocks its connection). */
export class Durability {
  private readonly connection: RedisConnection;
  private replicated: { at: number; primaries: Promise<Primary[]> } | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  /**
   * @param redis a connection to the primary (or a cluster); a duplicate of it is opened for WAIT (close with
   *   {@link close}).
   * @param key the key written before each WAIT (on a cluster, one per master: `<key>{<n>}`).
   * @param waitMs the longest wait for a replica, ms.
   */
  constructor(
    redis: RedisConnection,
    private readonly key: string,
    private readonly waitMs: number,
  ) {
    this.connection = isCluster(redis) ? redis.duplicate() : redis.duplicate();
    this.connection.on('error', () => undefined);
  }

  /**
   * The primaries with replicas connected (INFO replication `connected_slaves`), read at most every 5 s; none on
   * error.
   */
  private primariesWithReplicas(): Promise<Primary[]> {
    if (this.replicated === undefined || Date.now() - this.replicated.at > REPLICAS_READ_EVERY_MS) {
      const connection = this.connection;
      const candidates = isCluster(connection)
        ? connection
            .nodes('master')
            .map((node) => ({ connection: node, key: this.keyServedBy(connection, node) }))
        : [{ connection, key: this.key }];
      const primaries = Promise.all(
        candidates.map(async (candidate) => {
          const text = await candidate.connection.info('replication');
          return Number(/connected_slaves:(\d+)/.exec(text)?.[1] ?? 0) > 0 ? [candidate] : [];
        }),
      )
        .then((found) => found.flat())
        .catch(() => []);
      this.replicated = { at: Date.now(), primaries };
    }
    return this.replicated.primaries;
  }

  /** `<key>{<n>}` with the smallest n whose slot `node` serves (Redis Cluster key slots: CRC16 of the hash tag). */
  private keyServedBy(cluster: Cluster, node: Redis): string {
    const name = `${node.options.host}:${node.options.port}`;
    for (let n = 0; n < 100_000; n += 1) {
      const key = `${this.key}{${n}}`;
      if (cluster.slots[calculateSlot(key)]?.[0] === name) return key;
    }
    return this.key;
  }

  /**
   * Whether every write made before this call is on at least one replica of its primary — or no primary has one.
   * Never throws (Redis trouble: false).
   */
  async confirm(): Promise<boolean> {
    const primaries = await this.primariesWithReplicas();
    if (primaries.length === 0) return true;
    const turn = this.queue.then(async () => {
      const confirmed = await Promise.all(
        primaries.map(async ({ connection, key }) => {
          await connection.incr(key);
          return (await connection.wait(1, this.waitMs)) >= 1;
        }),
      );
      return confirmed.every(Boolean);
    });
    this.queue = turn.catch(() => undefined);
    return turn.catch(() => false);
  }

  close(): void {
    this.connection.disconnect();
  }
}
