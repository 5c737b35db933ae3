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
 */
import type { Redis } from 'ioredis';

/** How often the primary's replica count is read again, ms. */
const REPLICAS_READ_EVERY_MS = 5000;

/** Confirms that earlier writes are on a replica, on a connection of its own (WAIT blocks its connection). */
export class Durability {
  private readonly connection: Redis;
  private replicas: { at: number; count: Promise<number> } | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  /**
   * @param redis a connection to the primary; a duplicate of it is opened for WAIT (close with {@link close}).
   * @param waitMs the longest wait for a replica, ms.
   */
  constructor(
    redis: Redis,
    private readonly key: string,
    private readonly waitMs: number,
  ) {
    this.connection = redis.duplicate();
    this.connection.on('error', () => undefined);
  }

  /** Replicas connected to the primary (INFO replication `connected_slaves`), read at most every 5 s; 0 on error. */
  private replicaCount(): Promise<number> {
    if (this.replicas === undefined || Date.now() - this.replicas.at > REPLICAS_READ_EVERY_MS) {
      const count = this.connection
        .info('replication')
        .then((text) => Number(/connected_slaves:(\d+)/.exec(text)?.[1] ?? 0))
        .catch(() => 0);
      this.replicas = { at: Date.now(), count };
    }
    return this.replicas.count;
  }

  /**
   * Whether every write made before this call is on at least one replica — or the primary has none.
   * Never throws (Redis trouble: false).
   */
  async confirm(): Promise<boolean> {
    if ((await this.replicaCount()) === 0) return true;
    const turn = this.queue.then(async () => {
      await this.connection.incr(this.key);
      return (await this.connection.wait(1, this.waitMs)) >= 1;
    });
    this.queue = turn.catch(() => undefined);
    return turn.catch(() => false);
  }

  close(): void {
    this.connection.disconnect();
  }
}
