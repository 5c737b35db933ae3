/**
 * Parked requests: accepted asynchronous provider requests whose jobs wait without holding a worker slot. A job that
 * submitted an async request saves it (as before), moves itself to BullMQ's delayed set until its deadline, and parks
 * the request here; a poller per provider per worker process (src/worker/request-poller.ts) claims due entries within
 * the provider's shared poll budget, and once a request has finished stores what it found and promotes the job, which
 * then stores the images. A webhook (src/worker/webhook-receiver.ts) makes its request due at once.
 *
 * Redis records of each provider (src/shared/keys.ts): a sorted set of job id -> next poll time (ms), a hash of job
 * id -> parked request, a hash of request id -> job id, and per job a short-lived `finished` key. Every request of a
 * provider is polled at the same interval and its result kept for the same time after it finishes (fal: 6 minutes for
 * payloads ≥ 10 KB, Replicate: 1 hour), so serving due entries earliest-due first is also earliest-expiry first: the
 * request polled longest ago is the one whose result, if it finished right after that poll, expires soonest.
 */
import type { RedisConnection } from '../shared/redis.js';
import type { ProviderImage, ProviderResponse } from '../providers/provider.js';
import type { HostName } from '../shared/hosts.js';
import type { SavedProviderRequest } from '../shared/job-definitions.js';
import { providerItemKey, providerKey } from '../shared/keys.js';
import { LuaCommands } from '../shared/lua-commands.js';

const SCRIPTS = new LuaCommands(new URL('./lua/', import.meta.url), {
  claimParked: { file: 'claim-parked.lua', numberOfKeys: 2 },
});

/** Largest finished response kept for its job, bytes of JSON; a larger one (inline images) the job fetches itself. */
const MAX_KEPT_RESPONSE_BYTES = 256 * 1024;

/** One parked request, as stored. */
export interface ParkedRequest {
  jobId: string;
  request: SavedProviderRequest;
  /** When the job gives up waiting (submission time + the provider's longest wait), ms since the epoch. */
  deadlineAt: number;
}

/** A claimed entry and when it was due, ms (how late it is polled). */
export interface ClaimedRequest extends ParkedRequest {
  dueAt: number;
}

/**
 * What the poller found for a parked job: the finished response, or `check` — the request ended some other way (it
 * failed, it ran out of time, its response was too large to keep) and the job polls once itself to settle it.
 */
export type ParkedFinding =
  | { kind: 'completed'; response: ProviderResponse }
  | { kind: 'check' }
  /** The host never started it: cancelled while queued at its start deadline (src/worker/start-deadline.ts). */
  | { kind: 'not-started'; reason: string };

/** The parked requests of every provider under one key prefix. */
export class ParkedRequests {
  constructor(
    private readonly redis: RedisConnection,
    private readonly prefix: string,
  ) {}

  /**
   * Park `entry`, first due at `dueAt` (ms) — at once when a webhook for it already arrived (it may finish before the
   * job parks it).
   */
  async park(provider: HostName, entry: ParkedRequest, dueAt: number): Promise<void> {
    const keys = this.keys(provider);
    const delivered = entry.request.requestIds.map((id) =>
      providerItemKey(this.prefix, provider, 'delivered', id),
    );
    // Separate commands, sent back to back on the one connection (a MULTI builds an ioredis Pipeline, which copies
    // every script defined on the connection: a measurable cost at thousands of rows a minute). The request hash
    // and the schedule are written before the delivery is looked at, so a webhook arriving meanwhile is not missed.
    await Promise.all([
      this.redis.hset(keys.requests, entry.jobId, JSON.stringify(entry)),
      this.redis.zadd(keys.due, dueAt, entry.jobId),
      ...entry.request.requestIds.map((id) => this.redis.hset(keys.byRequest, id, entry.jobId)),
    ]);
    if ((await this.redis.exists(...delivered)) > 0) await this.redis.zadd(keys.due, 'XX', 0, entry.jobId);
  }

  /** Remove a job's parked request (the job runs again and owns it); its finding, if any, is returned and removed. */
  async unpark(
    provider: HostName,
    jobId: string,
    requestIds: readonly string[],
  ): Promise<ParkedFinding | undefined> {
    const keys = this.keys(provider);
    const [finding] = await Promise.all([
      this.redis.getdel(providerItemKey(this.prefix, provider, 'finished', jobId)),
      this.redis.zrem(keys.due, jobId),
      this.redis.hdel(keys.requests, jobId),
      ...(requestIds.length > 0 ? [this.redis.hdel(keys.byRequest, ...requestIds)] : []),
    ]);
    return typeof finding === 'string' ? (JSON.parse(finding) as ParkedFinding) : undefined;
  }

  /**
   * Claim up to `limit` entries due by `now` (ms), earliest due first, leased for `leaseMs`: no other poller takes them
   * until the lease runs out (a poller that dies mid-poll only delays them).
   */
  async claimDue(provider: HostName, now: number, limit: number, leaseMs: number): Promise<ClaimedRequest[]> {
    const keys = this.keys(provider);
    const flat = (await SCRIPTS.run(
      this.redis,
      'claimParked',
      keys.due,
      keys.requests,
      now,
      limit,
      leaseMs,
    )) as string[];
    const claimed: ClaimedRequest[] = [];
    for (let index = 0; index < flat.length; index += 2)
      claimed.push({ ...(JSON.parse(flat[index]!) as ParkedRequest), dueAt: Number(flat[index + 1]) });
    return claimed;
  }

  /**
   * Poll the entry again at `dueAt` (ms), unless it was removed meanwhile or made due sooner (a webhook arrived during
   * the poll: `ZADD XX LT`).
   */
  async reschedule(provider: HostName, jobId: string, dueAt: number): Promise<void> {
    await this.redis.zadd(this.keys(provider).due, 'XX', 'LT', dueAt, jobId);
  }

  /**
   * Record what was found for a parked job and take its entry out of the schedule; the job (promoted by the caller)
   * reads it with {@link unpark}. Kept for `keepMs` (the provider's result lifetime) at most.
   */
  async finish(provider: HostName, jobId: string, finding: ParkedFinding, keepMs: number): Promise<void> {
    let serialized = JSON.stringify(finding);
    if (serialized.length > MAX_KEPT_RESPONSE_BYTES) serialized = JSON.stringify({ kind: 'check' });
    await Promise.all([
      this.redis.set(
        providerItemKey(this.prefix, provider, 'finished', jobId),
        serialized,
        'PX',
        Math.max(1000, keepMs),
      ),
      this.redis.zrem(this.keys(provider).due, jobId),
    ]);
  }

  /**
   * A webhook for `requestId` arrived: make its parked request due now, keeping the images a signed delivery carried
   * (the poller then needs no status call). Deduplicated: only the first delivery within `rememberMs` counts.
   * @returns `new` for the first delivery, `duplicate` for a repeat.
   */
  async noteDelivery(
    provider: HostName,
    requestId: string,
    rememberMs: number,
    images?: ProviderImage[],
  ): Promise<'new' | 'duplicate'> {
    const carried = images === undefined ? '1' : JSON.stringify({ images });
    const first = await this.redis.set(
      providerItemKey(this.prefix, provider, 'delivered', requestId),
      carried.length > MAX_KEPT_RESPONSE_BYTES ? '1' : carried,
      'PX',
      rememberMs,
      'NX',
    );
    if (first === null) return 'duplicate';
    const keys = this.keys(provider);
    const jobId = await this.redis.hget(keys.byRequest, requestId);
    if (jobId !== null) await this.redis.zadd(keys.due, 'XX', 0, jobId);
    return 'new';
  }

  /**
   * The images signed webhook deliveries carried for `entries` (by their first request id), by job id; entries without
   * such a delivery are absent.
   */
  async deliveredImages(
    provider: HostName,
    entries: readonly ParkedRequest[],
  ): Promise<Map<string, ProviderImage[]>> {
    const found = new Map<string, ProviderImage[]>();
    if (entries.length === 0) return found;
    const values = await this.redis.mget(
      entries.map((entry) =>
        providerItemKey(this.prefix, provider, 'delivered', entry.request.requestIds[0]!),
      ),
    );
    values.forEach((value, index) => {
      if (value === null || value === '1') return;
      const images = (JSON.parse(value) as { images?: ProviderImage[] }).images;
      if (images !== undefined && images.length > 0) found.set(entries[index]!.jobId, images);
    });
    return found;
  }

  /** How many requests of `provider` are parked, and the earliest due time (ms; undefined when none). */
  async overview(provider: HostName): Promise<{ parked: number; nextDueAt: number | undefined }> {
    const keys = this.keys(provider);
    const [parked, first] = await Promise.all([
      this.redis.zcard(keys.due),
      this.redis.zrange(keys.due, '0', '0', 'WITHSCORES'),
    ]);
    return { parked, nextDueAt: first.length === 2 ? Number(first[1]) : undefined };
  }

  private keys(provider: HostName) {
    return {
      due: providerKey(this.prefix, provider, 'parked'),
      requests: providerKey(this.prefix, provider, 'parked-requests'),
      byRequest: providerKey(this.prefix, provider, 'parked-by-request'),
    };
  }
}
