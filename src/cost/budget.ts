/**
 * Budget caps: a batch's cap in USD and the reservations of paid calls in flight, kept in Redis so that the cap holds
 * with any number of workers. Before each paid call a worker reserves the row's estimate (in its admission script,
 * worker/lua/admit.lua, with its other checks in one round trip); the reservation is given back here when nothing was
 * billed, and settled to the spent amount when the row's outcome is recorded (batch/lua/record-outcome.lua).
 */
import type { RedisConnection } from '../shared/redis.js';
import { batchKeys } from '../shared/keys.js';
import { LuaCommands } from '../shared/lua-commands.js';

const SCRIPTS = new LuaCommands(new URL('./lua/', import.meta.url), {
  release: { file: 'release.lua', numberOfKeys: 2 },
});

/** The budget records of every batch under one key prefix. */
export class BudgetLedger {
  constructor(
    private readonly redis: RedisConnection,
    private readonly prefix: string,
  ) {}

  /** Give a row's reservation back: its call was not made, or not billed (e.g. a 429 or 5xx). */
  async release(batchId: string, rowKey: string): Promise<void> {
    const keys = batchKeys(this.prefix, batchId);
    await SCRIPTS.run(this.redis, 'release', keys.budget, keys.reservations, rowKey);
  }

  /** Set (or remove, with undefined) the batch's budget cap in USD; clears `budget_reached` so workers retry. */
  async setBudget(batchId: string, usd: number | undefined): Promise<void> {
    const key = batchKeys(this.prefix, batchId).meta;
    if (usd === undefined) await this.redis.hdel(key, 'budget_usd', 'state');
    else await this.redis.multi().hset(key, 'budget_usd', String(usd)).hdel(key, 'state').exec();
  }
}
