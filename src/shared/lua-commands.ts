/**
 * Redis Lua scripts kept as `.lua` files beside the code that runs them, read once and defined on each connection
 * with ioredis `defineCommand` (as bullmq does with its `src/commands/*.lua`), so a script is read as Lua, not as a
 * string, and runs by its SHA1 (EVALSHA), sent in full only when the server does not know it yet.
 */
import { readFileSync } from 'node:fs';
import type { RedisConnection } from './redis.js';

/** A script file and how many of its arguments are keys. */
export interface LuaScriptFile {
  /** File name in the scripts folder, e.g. `record-outcome.lua`. */
  file: string;
  /** Omitted when the number varies: the caller passes it before the keys (as EVAL takes it). */
  numberOfKeys?: number;
}

type CommandFunction = (...keysAndArguments: Array<string | number>) => Promise<unknown>;

/**
 * A set of scripts read from `folder` (a `file:` URL, usually `new URL('./lua/', import.meta.url)`).
 * @throws Error naming the file when a script cannot be read (a broken install), at construction.
 */
export class LuaCommands<Name extends string> {
  private readonly sources: Record<Name, { lua: string; numberOfKeys?: number }>;
  private readonly defined = new WeakSet<RedisConnection>();
  private readonly prefix: string;

  constructor(folder: URL, scripts: Record<Name, LuaScriptFile>) {
    this.sources = {} as Record<Name, { lua: string; numberOfKeys?: number }>;
    for (const [name, script] of Object.entries(scripts) as Array<[Name, LuaScriptFile]>) {
      this.sources[name] = {
        lua: readFileSync(new URL(script.file, folder), 'utf8'),
        ...(script.numberOfKeys === undefined ? {} : { numberOfKeys: script.numberOfKeys }),
      };
    }
    // Command names are per connection: a prefix from the folder keeps two sets of scripts apart.
    this.prefix = `ib_${folder.pathname.split('/').filter(Boolean).slice(-2).join('_').replace(/\W/g, '_')}_`;
  }

  /**
   * Run script `name` on `redis` with its keys, then its other arguments (as EVAL takes them).
   * @returns the script's reply. @throws the script's or the connection's error.
   */
  async run(
    redis: RedisConnection,
    name: Name,
    ...keysAndArguments: Array<string | number>
  ): Promise<unknown> {
    if (!this.defined.has(redis)) {
      for (const [scriptName, source] of Object.entries(this.sources) as Array<
        [Name, { lua: string; numberOfKeys?: number }]
      >) {
        redis.defineCommand(`${this.prefix}${scriptName}`, source);
      }
      this.defined.add(redis);
    }
    const command = (redis as unknown as Record<string, CommandFunction>)[`${this.prefix}${name}`]!;
    return command.apply(redis, keysAndArguments);
  }
}
