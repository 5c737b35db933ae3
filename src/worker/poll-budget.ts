/**
 * The status-poll budget of each provider, shared by every worker through Redis (./lua/take-poll.lua): at most
 * `<P>_POLLS_PER_MINUTE` status calls a minute across all processes, with a second of burst, so a thousand requests in
 * flight do not poll a provider past its published limit (Replicate: 3,000 non-creation requests a minute). A 429
 * answered to a poll holds every poller of that provider back for its Retry-After; it never costs the row an attempt.
 */
import type { RedisConnection } from '../shared/redis.js';
import type { HostName } from '../shared/hosts.js';
import { providerKey } from '../shared/keys.js';
import { LuaCommands } from '../shared/lua-commands.js';

const SCRIPTS = new LuaCommands(new URL('./lua/', import.meta.url), {
  takePoll: { file: 'take-poll.lua', numberOfKeys: 2 },
});

/** Headroom under the configured rate: a sliding minute may span 61 one-second buckets. */
const HEADROOM = 0.98;

/** The shared poll budget of every provider. */
export class PollBudget {
  constructor(
    private readonly redis: RedisConnection,
    private readonly prefix: string,
    /** Polls per minute of a provider; 0: no limit. */
    private readonly perMinuteOf: (provider: HostName) => number,
  ) {}

  /**
   * Wait until `provider` may be polled once — its budget allows it and no poll Retry-After runs (without a budget,
   * only the Retry-After holds it) — or `signal` aborts.
   */
  async take(provider: HostName, signal: AbortSignal): Promise<void> {
    const perMinute = this.perMinuteOf(provider);
    while (!signal.aborted) {
      const waitMs = (await SCRIPTS.run(
        this.redis,
        'takePoll',
        providerKey(this.prefix, provider, 'poll-bucket'),
        providerKey(this.prefix, provider, 'poll-retry-after'),
        String(Math.max(0, perMinute * HEADROOM)),
      )) as number;
      if (waitMs <= 0) return;
      // Spread the wakers: the budget refills one poll at a time.
      await sleep(Math.min(5_000, waitMs + Math.random() * waitMs), signal);
    }
  }

  /** Hold every poller of `provider` back for `ms` (a 429 answered to a poll); a longer hold already set is kept. */
  async backOff(provider: HostName, ms: number): Promise<void> {
    const key = providerKey(this.prefix, provider, 'poll-retry-after');
    const hold = Math.max(1, Math.ceil(ms));
    await this.redis.multi().set(key, '1', 'PX', hold, 'NX').pexpire(key, hold, 'GT').exec();
  }
}

/** Sleep `ms`, ending early when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
