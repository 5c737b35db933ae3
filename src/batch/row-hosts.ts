/**
 * Which host holds each row with several candidate hosts (`<prefix>:batch:<id>:hosts`): a provider name while the row
 * is on that host's queue, `route` while it waits in the route queue for one (src/worker/router.ts). Only the holder's
 * job may send the row (the admission script checks it, src/worker/lua/admit.lua), and a row changes holder only from
 * the holder named (a compare-and-set in Lua), so a row is in flight on at most one host even when a job left behind
 * on another host's queue (a crash between steps, a paused queue) runs later.
 */
import type { RedisConnection } from '../shared/redis.js';
import { batchKeys } from '../shared/keys.js';
import { LuaCommands } from '../shared/lua-commands.js';

/** The holder of a row waiting for a host. */
export const ROUTE_HOLDER = 'route';

const SCRIPTS = new LuaCommands(new URL('./lua/', import.meta.url), {
  move: { file: 'move-row-host.lua', numberOfKeys: 2 },
});

/** The holders of every batch's routed rows under one prefix. */
export class RowHosts {
  constructor(
    private readonly redis: RedisConnection,
    private readonly prefix: string,
  ) {}

  /** The holder of `rowKey` now, or undefined before any host held it. */
  async holder(batchId: string, rowKey: string): Promise<string | undefined> {
    return (await this.redis.hget(batchKeys(this.prefix, batchId).hosts, rowKey)) ?? undefined;
  }

  /**
   * Give `rowKey` to `to` if `from` holds it (`''`: no one has yet; `*`: whoever does).
   * @returns false when another holder has it (then it is theirs to move).
   */
  async move(batchId: string, rowKey: string, from: string, to: string): Promise<boolean> {
    const keys = batchKeys(this.prefix, batchId);
    const moved = await SCRIPTS.run(this.redis, 'move', keys.hosts, keys.routedTo, rowKey, from, to);
    return moved === 1;
  }

  /** Routed rows handed to each host so far in batch `batchId` (moves included). */
  async handedPerHost(batchId: string): Promise<Partial<Record<string, number>>> {
    const counts = await this.redis.hgetall(batchKeys(this.prefix, batchId).routedTo);
    return Object.fromEntries(Object.entries(counts).map(([host, count]) => [host, Number(count)]));
  }
}
