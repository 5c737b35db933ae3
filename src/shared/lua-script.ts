/**
 * A Redis Lua script sent by its SHA1 (EVALSHA), and in full only when the server does not know it yet (NOSCRIPT:
 * first use, a restart, SCRIPT FLUSH). Saves sending and hashing the script text on every call.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/** One Lua script. */
export class LuaScript {
  private readonly sha: string;

  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  /**
   * Run the script, with the arguments of EVAL: the number of keys, then the keys, then the other arguments.
   * @returns the script's reply. @throws the script's or the connection's error.
   */
  async run(
    redis: Redis,
    numberOfKeys: number,
    ...keysAndArguments: Array<string | number>
  ): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, numberOfKeys, ...keysAndArguments);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return redis.eval(this.source, numberOfKeys, ...keysAndArguments);
    }
  }
}
