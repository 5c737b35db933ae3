/**
 * What hosts that take an aspect ratio and a resolution tier (Oxen.ai, WaveSpeedAI) were seen to deliver: per host,
 * `ratio@tier` -> the smallest `WIDTHxHEIGHT` delivered (`<prefix>:provider:<name>:tier-sizes`). Neither host
 * publishes its tier sizes (src/providers/tier-sizes.ts), so workers record each delivered image here and producers and
 * workers plan later rows from it: a row then goes at the smallest tier that was seen to deliver its size.
 */
import type { RedisConnection } from '../shared/redis.js';
import type { ProviderName } from '../shared/config.js';
import { providerKey } from '../shared/keys.js';
import { LuaCommands } from '../shared/lua-commands.js';
import type { Resolution } from '../shared/resolution.js';
import { tierSizeKey } from '../providers/tier-sizes.js';

const SCRIPTS = new LuaCommands(new URL('./lua/', import.meta.url), {
  learn: { file: 'learn-tier-size.lua', numberOfKeys: 1 },
});

/** The delivered tier sizes of every host under one prefix. */
export class TierSizeRecords {
  constructor(
    private readonly redis: RedisConnection,
    private readonly prefix: string,
  ) {}

  /** Every `ratio@tier` -> `WIDTHxHEIGHT` recorded for `provider` (empty when none). */
  async read(provider: ProviderName): Promise<Record<string, string>> {
    return this.redis.hgetall(providerKey(this.prefix, provider, 'tier-sizes'));
  }

  /**
   * Record that `provider` delivered `size` for `aspectRatio` at `tier` (the smallest seen is kept).
   * @returns true when this made the entry new or smaller.
   */
  async record(
    provider: ProviderName,
    aspectRatio: string,
    tier: string,
    size: Resolution,
  ): Promise<boolean> {
    const changed = await SCRIPTS.run(
      this.redis,
      'learn',
      providerKey(this.prefix, provider, 'tier-sizes'),
      tierSizeKey(aspectRatio, tier),
      size.width,
      size.height,
    );
    return changed === 1;
  }
}
