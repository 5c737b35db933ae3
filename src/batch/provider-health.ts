/**
 * Per-provider health shared by every worker through Redis: a circuit breaker (consecutive failed calls open it; the
 * provider's queue then pauses, doubling while probes fail) and the reason a provider's queue was paused for its
 * account (authentication failed, credit out). Keys: `<prefix>:provider:<name>:{failures,opens,paused-reason}`.
 */
import type { RedisConnection } from '../shared/redis.js';
import type { HostName } from '../shared/hosts.js';
import { providerKey, type ProviderRecord } from '../shared/keys.js';
import { LuaCommands } from '../shared/lua-commands.js';

/** Breaker settings. */
export interface BreakerSettings {
  /** Consecutive failures that open the breaker. */
  threshold: number;
  /** Pause when it opens, ms; doubles with each consecutive opening, up to 16×. */
  openMs: number;
}

const SCRIPTS = new LuaCommands(new URL('./lua/', import.meta.url), {
  recordFailure: { file: 'record-failure.lua', numberOfKeys: 3 },
});

/** Health records of every provider under one prefix. */
export class ProviderHealth {
  constructor(
    private readonly redis: RedisConnection,
    private readonly prefix: string,
    private readonly breaker: BreakerSettings,
  ) {}

  private key(provider: HostName, record: ProviderRecord): string {
    return providerKey(this.prefix, provider, record);
  }

  /** A call succeeded: close the breaker. */
  async recordSuccess(provider: HostName): Promise<void> {
    await this.redis.del(
      this.key(provider, 'failures'),
      this.key(provider, 'opens'),
      this.key(provider, 'open-until'),
    );
  }

  /**
   * A call failed in a way that may be an outage (5xx, timeout, network). The breaker opens at the threshold of
   * consecutive failures; while the provider is failing (opened since its last success) every such failure keeps it
   * open — one inside the current pause at that pause, one after it (a failed probe) at the next, doubled.
   * @returns the pause in ms when the breaker is open after this failure, else undefined (still closed).
   */
  async recordFailure(provider: HostName): Promise<number | undefined> {
    const [, opens, pauseMs] = (await SCRIPTS.run(
      this.redis,
      'recordFailure',
      this.key(provider, 'failures'),
      this.key(provider, 'opens'),
      this.key(provider, 'open-until'),
      String(this.breaker.threshold),
      String(this.breaker.openMs),
    )) as [number, number, number];
    return opens === 0 ? undefined : Number(pauseMs);
  }

  /** Whether the breaker has opened since the provider's last successful call (it is failing: probe it one row at a time). */
  async failing(provider: HostName): Promise<boolean> {
    return (await this.opens(provider)) > 0;
  }

  /** How often the breaker opened since the provider's last successful call (0: it is not failing). */
  async opens(provider: HostName): Promise<number> {
    return Number((await this.redis.get(this.key(provider, 'opens'))) ?? 0);
  }

  /** Note that the provider asked us to wait `ms` (a 429's Retry-After), for every worker to see. */
  async noteRetryAfter(provider: HostName, ms: number): Promise<void> {
    await this.redis.set(this.key(provider, 'retry-after'), '1', 'PX', Math.max(1, Math.ceil(ms)));
  }

  /** How much of the provider's last Retry-After is left, ms (0 when none). */
  async retryAfterRemainingMs(provider: HostName): Promise<number> {
    return Math.max(0, await this.redis.pttl(this.key(provider, 'retry-after')));
  }

  /** Note why the provider's queue was paused (shown by `run` and `status`). */
  async setPauseReason(provider: HostName, reason: string): Promise<void> {
    await this.redis.set(this.key(provider, 'paused-reason'), reason);
  }

  /** Why the provider's queue was paused, if it was paused for its account. */
  async pauseReason(provider: HostName): Promise<string | undefined> {
    return (await this.redis.get(this.key(provider, 'paused-reason'))) ?? undefined;
  }

  async clearPauseReason(provider: HostName): Promise<void> {
    await this.redis.del(this.key(provider, 'paused-reason'));
  }
}
