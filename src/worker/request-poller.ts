/**
 * The poller of one provider in one worker process: it follows every parked request of the provider (accepted async
 * requests whose collection jobs wait without a worker slot; src/batch/parked-requests.ts) within the provider's poll
 * budget, shared by every process through Redis (./poll-budget.ts). Due requests are claimed earliest-due first — the
 * oldest poll first, which is also the nearest result expiry — a few at a time, so one process follows thousands of
 * requests with flat memory. A request whose signed webhook delivery carried its images is handed over without a
 * status call. A finished request's finding is stored and its collection job promoted to store the
 * images; a failed or overdue one is handed to its job to settle by the error policy; one still queued at its start
 * deadline is cancelled and handed over as never started (./start-deadline.ts). A 429 on a poll holds every
 * poller of the provider back; it never costs a row an attempt.
 */
import { Job, type Queue } from 'bullmq';
import type {
  ClaimedRequest,
  ParkedRequest,
  ParkedRequests,
  ParkedFinding,
} from '../batch/parked-requests.js';
import type { HostName } from '../shared/hosts.js';
import type { ImageProvider, ProviderImage, ProviderResponse } from '../providers/provider.js';
import { NotStartedError, ProviderError, RateLimitedError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { sleep, type PollBudget } from './poll-budget.js';
import { pollKeepingStartDeadline } from './start-deadline.js';

/** Polls one process keeps in flight per provider (the budget, not this, sets the pace). */
const POLLS_IN_FLIGHT = 16;
/** Longest pause between two looks at the schedule while nothing is due, ms (a webhook makes a request due at once). */
const IDLE_MS = 250;
/** How long a claimed request is left to its poller before others may take it, ms. */
const CLAIM_LEASE_MS = 15_000;
/** Result lifetime assumed where the provider publishes none, ms. */
const DEFAULT_RESULT_LIFETIME_MS = 60 * 60_000;

/** What a poller needs. */
export interface RequestPollerOptions {
  /** The host polled (a provider, or one of its accounts: src/shared/hosts.ts): its parked requests and poll budget. */
  host: HostName;
  /** The adapter of that host (its account's key). */
  provider: ImageProvider;
  parked: ParkedRequests;
  budget: PollBudget;
  /** The provider's collect queue (collection jobs are promoted there). */
  collectQueue: Queue;
  /** Wait between two polls of one request, ms. */
  intervalMs: number;
  /** Wait between two polls of a request whose end a webhook will announce (the slow reconciliation poll), ms. */
  reconcileIntervalMs: number;
  /** Deadline of one status call, ms. */
  timeoutMs: number;
  /** Aborted when the worker shuts down. */
  signal: AbortSignal;
  log: Logger;
}

/** Follows the parked requests of one provider until `signal` aborts. */
export class RequestPoller {
  private readonly inFlight = new Set<Promise<void>>();
  private running: Promise<void> | undefined;
  private lastLagWarning = 0;

  constructor(private readonly options: RequestPollerOptions) {}

  /** Start following (once). */
  start(): void {
    this.running ??= this.loop().catch((error: unknown) =>
      this.options.log.error({ err: error }, 'request poller stopped'),
    );
  }

  /** Wait for the loop and the polls in flight to end (after the shutdown signal aborted). */
  async close(): Promise<void> {
    await this.running;
    await Promise.all(this.inFlight);
  }

  private async loop(): Promise<void> {
    const { parked, signal, log } = this.options;
    // A claim is leased briefly: a poller killed mid-poll delays its requests by the lease only. A poll outlasting it
    // may meet a second poll of the same request, which is harmless (a status read is free, a finding idempotent).
    const leaseMs = CLAIM_LEASE_MS;
    while (!signal.aborted) {
      try {
        const room = POLLS_IN_FLIGHT - this.inFlight.size;
        if (room <= 0) {
          await Promise.race(this.inFlight);
          continue;
        }
        const now = Date.now();
        const claimed = await parked.claimDue(this.options.host, now, room, leaseMs);
        if (claimed.length === 0) {
          await sleep(IDLE_MS, signal);
          continue;
        }
        this.warnWhenBehind(claimed, now);
        const delivered = await parked.deliveredImages(this.options.host, claimed);
        for (const entry of claimed) {
          const images = delivered.get(entry.jobId);
          const polling: Promise<void> = (
            images === undefined ? this.follow(entry) : this.collectDelivered(entry, images)
          ).finally(() => this.inFlight.delete(polling));
          this.inFlight.add(polling);
        }
      } catch (error) {
        log.warn({ err: error, provider: this.options.host }, 'request poller: Redis unavailable; retrying');
        await sleep(1000, signal);
      }
    }
  }

  /** Poll one parked request once and act on the answer. Never throws. */
  private async follow(entry: ParkedRequest): Promise<void> {
    const { parked, provider, budget, signal, log } = this.options;
    try {
      if (Date.now() > entry.deadlineAt) return await this.handOver(entry, { kind: 'check' });
      await budget.take(this.options.host, signal);
      if (signal.aborted) return;
      const polled = await pollKeepingStartDeadline(provider, entry.request, {
        signal: AbortSignal.any([signal, AbortSignal.timeout(this.options.timeoutMs)]),
        log,
      });
      if (polled.kind === 'completed')
        return await this.handOver(entry, { kind: 'completed', response: polled.response });
      await parked.reschedule(this.options.host, entry.jobId, Date.now() + this.intervalOf(entry));
    } catch (error) {
      await this.afterFailedPoll(entry, error).catch((followUp: unknown) =>
        log.warn({ err: followUp, jobId: entry.jobId }, 'request poller could not record a poll'),
      );
    }
  }

  /** A signed webhook delivery carried the request's images: hand them over without a status call. Never throws. */
  private async collectDelivered(entry: ParkedRequest, images: ProviderImage[]): Promise<void> {
    const response: ProviderResponse = {
      images,
      model: entry.request.model,
      requestId: entry.request.requestIds.join(','),
    };
    await this.handOver(entry, { kind: 'completed', response }).catch((error: unknown) =>
      this.options.log.warn(
        { err: error, jobId: entry.jobId },
        'request poller could not hand over a delivery',
      ),
    );
  }

  /**
   * A poll threw: a 429 holds every poller back and the request is due again at once; a failure without an answer or a
   * server error is tried again at the next interval; anything else (the request failed) goes to the job to settle.
   */
  private async afterFailedPoll(entry: ParkedRequest, error: unknown): Promise<void> {
    const { parked, budget, log } = this.options;
    if (error instanceof NotStartedError)
      return this.handOver(entry, { kind: 'not-started', reason: error.message });
    if (error instanceof RateLimitedError) {
      await budget.backOff(this.options.host, error.retryAfterMs ?? this.options.intervalMs);
      log.info({ retryAfterMs: error.retryAfterMs }, 'status poll throttled; polls of this provider wait');
      await parked.reschedule(this.options.host, entry.jobId, Date.now());
      return;
    }
    if (!(error instanceof ProviderError) || error.mayRetry) {
      log.debug({ err: error, jobId: entry.jobId }, 'status poll failed; polling again later');
      await parked.reschedule(this.options.host, entry.jobId, Date.now() + this.intervalOf(entry));
      return;
    }
    await this.handOver(entry, { kind: 'check' });
  }

  private intervalOf(entry: ParkedRequest): number {
    return entry.request.webhook === true ? this.options.reconcileIntervalMs : this.options.intervalMs;
  }

  /** Record the finding and promote the collection job (it may already be running: then it finds the finding). */
  private async handOver(entry: ParkedRequest, finding: ParkedFinding): Promise<void> {
    const { parked, provider, collectQueue } = this.options;
    await parked.finish(
      this.options.host,
      entry.jobId,
      finding,
      provider.resultLifetimeMs ?? DEFAULT_RESULT_LIFETIME_MS,
    );
    // Promoting needs only the job's id: no need to read the whole job back.
    await new Job(collectQueue, 'collect', {}, {}, entry.jobId).promote().catch(() => undefined);
  }

  /** Warn (at most once a minute) when due requests wait longer than half their result lifetime for a poll. */
  private warnWhenBehind(claimed: readonly ClaimedRequest[], now: number): void {
    const lifetime = this.options.provider.resultLifetimeMs ?? DEFAULT_RESULT_LIFETIME_MS;
    const lateMs = now - Math.min(...claimed.map((entry) => entry.dueAt));
    if (lateMs < lifetime / 2 || now - this.lastLagWarning < 60_000) return;
    this.lastLagWarning = now;
    this.options.log.warn(
      { provider: this.options.host, lateMs, resultLifetimeMs: lifetime },
      'parked requests wait long for a poll; raise the poll budget or use webhooks before results expire',
    );
  }
}
