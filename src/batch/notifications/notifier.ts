/**
 * Sending a batch's events (docs/notifications.md): each event once per batch, whichever process sees it first (taken
 * in Redis, ../lua/take-notification.lua), signed per Standard Webhooks with the signing secret, posted with retries
 * and backoff to the target the batch was enqueued with (kept sealed, ./sealed-target.ts). A process that dies while
 * sending leaves the event to be taken over once its lease runs out (./batch-watch.ts). Sending never throws and
 * never waits on a row: a receiver that is down costs a log line, not a job.
 */
import { createHash } from 'node:crypto';
import { request } from 'undici';
import type { KernelConfig } from '../../shared/config.js';
import type { Logger } from '../../shared/logger.js';
import type { RedisConnection } from '../../shared/redis.js';
import type { HostName } from '../../shared/hosts.js';
import { batchKeys, notifyingBatchesKey, providerKey } from '../../shared/keys.js';
import { LuaCommands } from '../../shared/lua-commands.js';
import { signedHeaders } from '../../shared/standard-webhooks.js';
import type { EventBody, EventType } from './events.js';
import { openTarget, sealTarget } from './sealed-target.js';

const SCRIPTS = new LuaCommands(new URL('../lua/', import.meta.url), {
  takeNotification: { file: 'take-notification.lua', numberOfKeys: 1 },
});

/** Field of a batch's notifications hash holding its sealed target. */
const TARGET_FIELD = 'target';

/** Options of a {@link Notifier}. */
export interface NotifierOptions {
  redis: RedisConnection;
  prefix: string;
  /** The signing secret (`whsec_…`); it also opens the batches' sealed targets. */
  secret: string;
  log: Logger;
  /** Tries per event. Default 6. */
  attempts?: number;
  /** Wait before the second try, ms; doubles with each try (with jitter), at most 30 s. Default 1000. */
  backoffMs?: number;
  /** Time one try may take, ms. Default 10 000. */
  timeoutMs?: number;
  /** An event a process took and did not finish sending is taken over after this long, ms. Default 5 minutes. */
  leaseMs?: number;
}

/** Sends the events of batches; one per process (a worker pool, `run`, `enqueue`). */
export class Notifier {
  private readonly inFlight = new Set<Promise<void>>();
  private readonly targets = new Map<string, { url: string | undefined; until: number }>();
  /** Batches whose target this process cannot open (said once each). */
  private readonly unopened = new Set<string>();
  /** An event a process took longer ago than this and did not finish is taken over (its sender died), ms. */
  readonly leaseMs: number;

  constructor(private readonly options: NotifierOptions) {
    this.leaseMs = options.leaseMs ?? 300_000;
  }

  private keyOf(batchId: string): string {
    return batchKeys(this.options.prefix, batchId).notifications;
  }

  /** Send the batch's events to `url` (kept sealed), and watch the batch for the events workers see. */
  async setTarget(batchId: string, url: string): Promise<void> {
    await this.options.redis.hset(this.keyOf(batchId), TARGET_FIELD, sealTarget(url, this.options.secret));
    await this.options.redis.sadd(notifyingBatchesKey(this.options.prefix), batchId);
    this.targets.delete(batchId);
  }

  /** The batch's target, or undefined when it has none this process can open (cached for 30 s). */
  async targetOf(batchId: string): Promise<string | undefined> {
    const cached = this.targets.get(batchId);
    if (cached !== undefined && cached.until > Date.now()) return cached.url;
    const sealed = await this.options.redis.hget(this.keyOf(batchId), TARGET_FIELD);
    const url = sealed === null ? undefined : openTarget(sealed, this.options.secret);
    if (sealed !== null && url === undefined && !this.unopened.has(batchId)) {
      this.unopened.add(batchId);
      this.options.log.warn(
        { batchId },
        "the batch's notification target was sealed with another IMAGE_BATCH_NOTIFY_SECRET; its events are not sent from here",
      );
    }
    this.targets.set(batchId, { url, until: Date.now() + 30_000 });
    return url;
  }

  /**
   * Send `body` as the batch's event of its type, unless some process already took it (or it is under way and its
   * lease has not run out). Returns at once; {@link settled} waits for the sending.
   */
  send(batchId: string, body: EventBody): void {
    this.track(this.sendOnce(batchId, body.type, JSON.stringify(body)));
  }

  /** Send again an event a process took and did not finish (its lease ran out). */
  resume(batchId: string, type: EventType, body: string): void {
    this.track(this.sendOnce(batchId, type, body));
  }

  /**
   * Send `body` (a `provider.paused` event seen by a row of `batchId`) to that batch's target, once per pause of the
   * host: a later pause of the same host is told again once this one's `pauseMs` (at least a minute) has passed.
   */
  sendProviderPaused(batchId: string, host: HostName, body: EventBody, pauseMs: number | undefined): void {
    const work = async () => {
      const url = await this.targetOf(batchId);
      if (url === undefined) return;
      const key = providerKey(this.options.prefix, host, 'paused-notified');
      const hold = Math.max(60_000, pauseMs ?? 3_600_000);
      if ((await this.options.redis.set(key, '1', 'PX', hold, 'NX')) !== 'OK') return;
      await this.deliver(url, `${host}:${body.timestamp}`, body.type, JSON.stringify(body));
    };
    this.track(work());
  }

  /** Wait until every event this process is sending was delivered or given up. */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  private track(work: Promise<unknown>): void {
    const tracked = work.then(
      () => undefined,
      (error: unknown) => this.options.log.warn({ err: error }, 'could not send an event'),
    );
    this.inFlight.add(tracked);
    void tracked.finally(() => this.inFlight.delete(tracked));
  }

  private async sendOnce(batchId: string, type: EventType, body: string): Promise<void> {
    const url = await this.targetOf(batchId);
    if (url === undefined) return;
    const now = Date.now();
    const taken = (await SCRIPTS.run(
      this.options.redis,
      'takeNotification',
      this.keyOf(batchId),
      type,
      `sending|${now}|${body}`,
      String(now),
      String(this.leaseMs),
    )) as number;
    if (taken !== 1) return;
    const outcome = await this.deliver(url, `${batchId}:${type}`, type, body);
    await this.options.redis.hset(
      this.keyOf(batchId),
      type,
      outcome === undefined ? `delivered|${Date.now()}` : `failed|${Date.now()}|${outcome}`,
    );
  }

  /** Post `body` until the target takes it or the tries run out. @returns undefined when delivered, else why not. */
  private async deliver(
    url: string,
    message: string,
    type: EventType,
    body: string,
  ): Promise<string | undefined> {
    const { log, secret } = this.options;
    const attempts = this.options.attempts ?? 6;
    // The same id on every try and every process: a receiver drops a repeat by it (Standard Webhooks, "webhook-id").
    const id = `msg_${createHash('sha256').update(`${this.options.prefix}\n${message}`).digest('hex').slice(0, 32)}`;
    const payload = slackCompatible(url)
      ? JSON.stringify({ text: (JSON.parse(body) as EventBody).text })
      : body;
    let why = '';
    for (let attempt = 1; attempt <= attempts; attempt += 1) {
      const headers = signedHeaders(secret, id, Math.floor(Date.now() / 1000), payload);
      const result = await postOnce(url, payload, headers, this.options.timeoutMs ?? 10_000);
      if (result.ok) {
        log.info({ event: type, target: hostOf(url), attempt }, 'event sent');
        return undefined;
      }
      why = result.why;
      log.warn({ event: type, target: hostOf(url), attempt, why }, 'event not taken by its receiver');
      if (!result.retry || attempt === attempts) break;
      const backoff = Math.min(30_000, (this.options.backoffMs ?? 1000) * 2 ** (attempt - 1));
      await sleep(result.retryAfterMs ?? backoff * (0.5 + Math.random() / 2));
    }
    return why;
  }
}

/**
 * The notifier of a process configured by `config` (its key prefix and `notify` settings), or undefined without a
 * signing secret (nothing can be signed, and no batch's target opened).
 */
export function notifierFor(
  config: Pick<KernelConfig, 'queuePrefix' | 'notify'>,
  redis: RedisConnection,
  log: Logger,
): Notifier | undefined {
  const { secret, attempts } = config.notify;
  return secret === undefined
    ? undefined
    : new Notifier({ redis, prefix: config.queuePrefix, secret, log, attempts });
}

/** Whether `url` is a Slack incoming webhook (or Discord's Slack-compatible endpoint): it takes `{ "text" }` only. */
export function slackCompatible(url: string): boolean {
  const parsed = new URL(url);
  return parsed.hostname === 'hooks.slack.com' || /\/slack\/?$/.test(parsed.pathname);
}

interface PostResult {
  ok: boolean;
  retry: boolean;
  retryAfterMs?: number;
  why: string;
}

async function postOnce(
  url: string,
  payload: string,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<PostResult> {
  try {
    const response = await request(url, {
      method: 'POST',
      body: payload,
      headers: { ...headers, 'content-type': 'application/json', 'user-agent': 'image-batch' },
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.body.dump();
    if (response.statusCode >= 200 && response.statusCode < 300) return { ok: true, retry: false, why: '' };
    const retryAfter = Number(response.headers['retry-after']);
    return {
      ok: false,
      retry: [408, 425, 429].includes(response.statusCode) || response.statusCode >= 500,
      ...(Number.isFinite(retryAfter) && retryAfter > 0
        ? { retryAfterMs: Math.min(60_000, retryAfter * 1000) }
        : {}),
      why: `HTTP ${response.statusCode}`,
    };
  } catch (error) {
    // A network failure or a timeout: the message names no URL (undici's codes), so it is safe to keep.
    const code = (error as { code?: string }).code ?? (error as Error).name;
    return { ok: false, retry: true, why: code };
  }
}

/** The host of `url`: what logs say of a target (its path may hold a token). */
function hostOf(url: string): string {
  return new URL(url).host;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
