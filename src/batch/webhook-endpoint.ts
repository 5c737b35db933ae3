/**
 * Where a running webhook receiver (`image-batch webhooks`) can be reached from the internet, shared through Redis: the
 * receiver announces its public URL and renews it while it runs; workers read it before each submission and ask the
 * provider to announce the request's end there (`<public URL>/webhooks/<provider>`). Once the receiver stops, the
 * announcement runs out and workers poll as before. The URL is not a secret (every provider is sent it); deliveries
 * are authenticated by their signatures.
 */
import type { RedisConnection } from '../shared/redis.js';
import type { HostName } from '../shared/hosts.js';

/** How long an announcement lasts without renewal, ms; the receiver renews it every third of that. */
export const ANNOUNCEMENT_MS = 30_000;
/** How long a worker uses the URL it read before reading it again, ms. */
const READ_AGAIN_MS = 5_000;

/** The announced webhook endpoint under one key prefix. */
export class WebhookEndpoint {
  private readonly key: string;
  private cached: { at: number; url: Promise<string | null> } | undefined;

  constructor(
    private readonly redis: RedisConnection,
    prefix: string,
  ) {
    this.key = `${prefix}:webhooks:public-url`;
  }

  /** Announce (or renew) `publicUrl` for {@link ANNOUNCEMENT_MS}. */
  async announce(publicUrl: string): Promise<void> {
    await this.redis.set(this.key, publicUrl, 'PX', ANNOUNCEMENT_MS);
  }

  /** Withdraw the announcement of `publicUrl` (another receiver's stays). */
  async withdraw(publicUrl: string): Promise<void> {
    if ((await this.redis.get(this.key)) === publicUrl) await this.redis.del(this.key);
  }

  /**
   * The URL at which `provider` should announce a request's end, or undefined when no receiver runs. Read from Redis at
   * most every 5 s. Never throws (Redis trouble: no webhook).
   */
  async urlFor(provider: HostName): Promise<string | undefined> {
    if (this.cached === undefined || Date.now() - this.cached.at > READ_AGAIN_MS)
      this.cached = { at: Date.now(), url: this.redis.get(this.key).catch(() => null) };
    const base = await this.cached.url;
    return base === null ? undefined : `${base.replace(/\/+$/, '')}/webhooks/${provider}`;
  }
}
