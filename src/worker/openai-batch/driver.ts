/**
 * The OpenAI Batch API driver, run by every worker that serves OpenAI (and by `run`): for each batch with Batch API
 * rows, under a per-batch lock (one driver at a time), it
 *
 * 1. builds request files from the waiting rows — once no row arrived for `settleMs`, or 50,000 wait — one file per
 *    operation, at most 50,000 requests and 200 MB (OPENAI_BATCH_LIMITS), edit inputs uploaded once per distinct
 *    content; uploads the file (purpose `batch`) and creates the batch (`completion_window: 24h`, metadata naming our
 *    batch and group), saving the group's state in Redis before each call that creates something at OpenAI;
 * 2. follows each OpenAI batch with a growing poll interval (1 s doubling to `maxPollMs`);
 * 3. collects an ended batch (./collect.ts) and deals with what it did not finish: back to waiting (`--fallback wait`)
 *    or into the ordinary OpenAI queue (`--fallback realtime`); rows of a batch OpenAI failed as a whole fail.
 *
 * After a crash: a group still `building` never reached OpenAI, so its rows go back to waiting; a group `creating`
 * may have created its batch (the answer lost), so the batch is looked up by its metadata before one is created —
 * the same rows are never submitted twice.
 */
import { randomUUID } from 'node:crypto';
import type { RedisConnection } from '../../shared/redis.js';
import type { BatchStore } from '../../batch/batch-store.js';
import type { OpenAIBatchRecords, OpenAIGroup } from '../../batch/openai-batch-records.js';
import {
  OPENAI_BATCH_LIMITS,
  type OpenAIBatchApi,
  type OpenAIBatchObject,
} from '../../providers/openai/batch-api.js';
import { OPENAI_DEFAULT_MODEL } from '../../providers/openai/capabilities.js';
import { ProviderError } from '../../shared/errors.js';
import type { ImageJobData } from '../../shared/job-definitions.js';
import type { Logger } from '../../shared/logger.js';
import { quoteRequest } from '../../cost/price-catalogue.js';
import { admitRequest } from '../admission.js';
import { collectBatch, customIdOf, failRows } from './collect.js';
import { sendToRealtime } from './realtime-fallback.js';

/** What the driver needs. */
export interface OpenAIBatchDriverOptions {
  redis: RedisConnection;
  store: BatchStore;
  queuePrefix: string;
  api: OpenAIBatchApi;
  log: Logger;
  /** How often the driver looks at the batches, ms. Default 1000. */
  tickMs?: number;
  /** Build a file once no row arrived for this long, ms. Default 2000. */
  settleMs?: number;
  /** Interval before the first status read of a new OpenAI batch, ms (then doubling). Default 500. */
  firstPollMs?: number;
  /** Longest interval between two status reads of one OpenAI batch, ms. Default 60,000. */
  maxPollMs?: number;
  /** Requests per file (at most OpenAI's 50,000). */
  maxRequestsPerFile?: number;
  maxOutputBytes: number;
  /** A PEM file of C2PA trust anchors, for the outputs' provenance. */
  c2paTrustAnchorsPath: string | undefined;
  timeoutMs: number;
  /** Attempts and backoff of rows moved to the realtime queue. */
  attempts: number;
  backoffDelayMs: number;
}

const TERMINAL = new Set(['completed', 'failed', 'expired', 'cancelled']);
/** How long the per-batch lock lasts without renewal, ms: a crashed driver's batches are free again after it. */
const LOCK_MS = 15_000;

/** Runs the Batch API side of the workers. */
export class OpenAIBatchDriver {
  private readonly owner = randomUUID();
  private readonly records: OpenAIBatchRecords;
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private readonly lastWaiting = new Map<string, { count: number; since: number }>();
  /** When this driver last renewed each batch's lock. */
  private readonly renewedAt = new Map<string, number>();

  constructor(private readonly options: OpenAIBatchDriverOptions) {
    this.records = options.store.openaiBatches;
  }

  /** Start ticking. */
  start(): void {
    const tick = () => {
      this.running = this.tick()
        .catch((error: unknown) =>
          this.options.log.warn({ reason: (error as Error).message }, 'OpenAI Batch API driver tick failed'),
        )
        .finally(() => {
          if (!this.controller.signal.aborted) this.timer = setTimeout(tick, this.options.tickMs ?? 1000);
        });
    };
    tick();
  }

  /** Stop after the tick in progress (a group half-built is picked up by the next driver). */
  async close(): Promise<void> {
    this.controller.abort();
    if (this.timer !== undefined) clearTimeout(this.timer);
    await this.running;
  }

  /** One look at every batch with Batch API rows. */
  async tick(): Promise<void> {
    for (const batchId of await this.records.activeBatches()) {
      if (this.controller.signal.aborted) return;
      if (!(await this.records.lock(batchId, this.owner, LOCK_MS))) continue;
      this.renewedAt.set(batchId, Date.now());
      try {
        for (const group of await this.records.groups(batchId)) await this.advance(batchId, group);
        // A paused batch, or one at its budget cap, builds nothing (the admission would hold every row back anyway).
        const state = (await this.options.store.status(batchId))?.state;
        if (state !== 'paused' && state !== 'budget_reached')
          for (const operation of ['generate', 'edit'] as const)
            await this.buildWhenSettled(batchId, operation);
        await this.records.dropIfIdle(batchId);
      } finally {
        await this.records.unlock(batchId, this.owner);
      }
    }
  }

  /** Move a group one step on from where it is. */
  private async advance(batchId: string, group: OpenAIGroup): Promise<void> {
    const signal = this.controller.signal;
    if (group.state === 'building') {
      // Only a crashed (or failed) build leaves a group `building`: it never reached OpenAI.
      await this.releaseAll(batchId, (await this.records.groupRows(batchId, group.id)).keys());
      const returned = await this.records.returnGroup(batchId, group);
      this.options.log.warn(
        { batchId, group: group.id, returned },
        'a request file was never submitted; rows wait again',
      );
      return;
    }
    if (group.state === 'creating') {
      const found = await this.options.api.findBatch('image_batch_group', group.id, signal);
      const batch =
        found ??
        (await this.options.api.createBatch(
          group.inputFileId!,
          group.operation,
          this.metadata(batchId, group),
          signal,
        ));
      await this.submitted(batchId, group, batch);
      if (found !== undefined)
        this.options.log.info(
          { batchId, openaiBatch: found.id },
          'followed an OpenAI batch created before a restart',
        );
      return;
    }
    if (group.state === 'submitted' && (group.nextPollAt ?? 0) > Date.now()) return;
    const batch = await this.options.api.retrieveBatch(group.openaiBatchId!, signal);
    const interval = Math.min(
      this.options.maxPollMs ?? 60_000,
      (group.pollIntervalMs ?? this.options.firstPollMs ?? 500) * 2,
    );
    const seen: OpenAIGroup = {
      ...group,
      openaiStatus: batch.status,
      ...(batch.request_counts === undefined || batch.request_counts === null
        ? {}
        : { counts: batch.request_counts }),
      nextPollAt: Date.now() + interval,
      pollIntervalMs: interval,
    };
    if (!TERMINAL.has(batch.status)) return this.records.saveGroup(batchId, seen);
    await this.records.saveGroup(batchId, { ...seen, state: 'collecting' });
    await this.collect(batchId, seen, batch);
  }

  private metadata(batchId: string, group: OpenAIGroup): Record<string, string> {
    return { image_batch_batch: batchId.slice(0, 512), image_batch_group: group.id };
  }

  private async submitted(batchId: string, group: OpenAIGroup, batch: OpenAIBatchObject) {
    await this.records.saveGroup(batchId, {
      ...group,
      state: 'submitted',
      openaiBatchId: batch.id,
      openaiStatus: batch.status,
      ...(batch.expires_at === undefined || batch.expires_at === null
        ? {}
        : { expiresAt: batch.expires_at * 1000 }),
      nextPollAt: Date.now() + (this.options.firstPollMs ?? 500),
      pollIntervalMs: this.options.firstPollMs ?? 500,
    });
  }

  /** Build a file of `operation` once its waiting rows stopped growing for `settleMs` (or fill a whole file). */
  private async buildWhenSettled(batchId: string, operation: 'generate' | 'edit'): Promise<void> {
    const count = await this.records.waitingCount(batchId, operation);
    const key = `${batchId} ${operation}`;
    if (count === 0) return void this.lastWaiting.delete(key);
    const max = this.options.maxRequestsPerFile ?? OPENAI_BATCH_LIMITS.requests;
    const last = this.lastWaiting.get(key);
    const now = Date.now();
    if (last === undefined || last.count !== count) this.lastWaiting.set(key, { count, since: now });
    const settled =
      last !== undefined && last.count === count && now - last.since >= (this.options.settleMs ?? 2000);
    if (count < max && !settled) return;
    this.lastWaiting.delete(key);
    await this.build(batchId, operation, max);
  }

  /** Claim rows into a group, write and upload its request file, and create its OpenAI batch. */
  private async build(batchId: string, operation: 'generate' | 'edit', max: number): Promise<void> {
    const signal = this.controller.signal;
    const group: OpenAIGroup = {
      id: randomUUID(),
      operation,
      state: 'building',
      rows: 0,
      createdAt: Date.now(),
    };
    const rows = await this.records.claimGroup(batchId, group, max);
    if (rows.length === 0) return;
    const uploads = new Map<string, string>();
    const lines: string[] = [];
    let bytes = 0;
    const unsendable: Array<{ data: ImageJobData; message: string }> = [];
    const finished: string[] = [];
    const catalogue = await this.options.store.catalogue(batchId);
    let index = 0;
    for (; index < rows.length; index += 1) {
      const data = rows[index]!;
      // Uploading many inputs takes a while: keep the batch ours, or stop before another driver takes it.
      await this.keepLock(batchId);
      const admission = await this.admit(data, quoteRequest(catalogue, 'openai', data, 'high').usd);
      if (admission === 'finished') finished.push(data.rowKey);
      if (admission === 'finished') continue;
      // Paused, or the budget cap reached: this row and the rest wait (nothing of theirs is reserved).
      if (admission === 'hold') break;
      try {
        const line = await this.options.api.requestLine(
          data,
          customIdOf(batchId, data.rowKey),
          uploads,
          signal,
        );
        if (bytes + Buffer.byteLength(line) + 1 > OPENAI_BATCH_LIMITS.bytes) {
          await this.options.store.budget.release(batchId, data.rowKey);
          break;
        }
        lines.push(line);
        bytes += Buffer.byteLength(line) + 1;
      } catch (error) {
        await this.options.store.budget.release(batchId, data.rowKey);
        if (!(error instanceof ProviderError) || error.mayRetry) throw error;
        unsendable.push({ data, message: error.message });
      }
    }
    await this.records.returnRows(
      batchId,
      group,
      rows.slice(index).map((data) => data.rowKey),
    );
    await this.records.dropRows(batchId, group.id, finished);
    await failRows(
      this.options.store,
      batchId,
      group.id,
      unsendable.map(({ data, message }) => ({ data, code: 'bad_request', message })),
    );
    if (lines.length === 0) return this.records.finishGroup(batchId, group.id);
    const inputFileId = await this.options.api.uploadFile(
      Buffer.from(`${lines.join('\n')}\n`),
      `${group.id}.jsonl`,
      'batch',
      signal,
    );
    const creating: OpenAIGroup = { ...group, state: 'creating', rows: lines.length, inputFileId };
    await this.records.saveGroup(batchId, creating);
    const batch = await this.options.api.createBatch(
      inputFileId,
      operation,
      this.metadata(batchId, creating),
      signal,
    );
    await this.submitted(batchId, creating, batch);
    this.options.log.info(
      { batchId, openaiBatch: batch.id, requests: lines.length },
      'submitted an OpenAI batch',
    );
  }

  /**
   * The admission of one row into a request file (the workers' admit.lua): `finished` when its outcome is recorded,
   * `hold` when the batch is paused, holds it for its canary or its estimate would cross the budget cap, else `go`
   * with the estimate reserved. The Batch API has its own rate-limit pool, so no realtime Retry-After holds it.
   */
  private async admit(data: ImageJobData, usd: number): Promise<'go' | 'finished' | 'hold'> {
    const { redis, queuePrefix } = this.options;
    const admission = await admitRequest(redis, queuePrefix, data, usd, { mode: 'submit' });
    if (admission.kind === 'finished') return 'finished';
    return admission.kind === 'go' ? 'go' : 'hold';
  }

  /** Give back the budget reservations of rows that go back to waiting or to the realtime queue. */
  private async releaseAll(batchId: string, rowKeys: Iterable<string>): Promise<void> {
    for (const rowKey of rowKeys) await this.options.store.budget.release(batchId, rowKey);
  }

  /** Renew the batch's lock when a third of its time has passed. @throws when another driver holds it now. */
  private async keepLock(batchId: string): Promise<void> {
    const renewedAt = this.renewedAt.get(batchId) ?? 0;
    if (Date.now() - renewedAt < LOCK_MS / 3) return;
    if (!(await this.records.lock(batchId, this.owner, LOCK_MS)))
      throw new Error(`lost the lock of batch ${batchId}`);
    this.renewedAt.set(batchId, Date.now());
  }

  /** Settle an ended batch's rows from its files, then deal with the rows it did not finish. */
  private async collect(batchId: string, group: OpenAIGroup, batch: OpenAIBatchObject) {
    const { store } = this.options;
    const outputRoot = await store.outputDirectory(batchId);
    if (outputRoot === undefined) return this.records.finishGroup(batchId, group.id);
    const rows = await this.records.groupRows(batchId, group.id);
    const settled = await collectBatch(batch, batchId, rows, {
      store,
      api: this.options.api,
      catalogue: await store.catalogue(batchId),
      outputRoot,
      modelOf: (data) => data.model ?? OPENAI_DEFAULT_MODEL,
      maxOutputBytes: this.options.maxOutputBytes,
      c2paTrustAnchorsPath: this.options.c2paTrustAnchorsPath,
      timeoutMs: this.options.timeoutMs,
      log: this.options.log,
      signal: this.controller.signal,
      keepGoing: () => this.keepLock(batchId),
    });
    await this.records.dropRows(batchId, group.id, settled);
    for (const rowKey of settled) rows.delete(rowKey);
    const left = [...rows.values()];
    if (left.length > 0 && (batch.status === 'failed' || batch.status === 'completed')) {
      // A failed batch ran nothing; a completed one that has no readable line for a row may have made (and billed)
      // it: either way the row fails rather than being sent again on a guess.
      const message =
        batch.status === 'failed'
          ? `OpenAI failed the batch ${batch.id} as a whole`
          : `the completed batch ${batch.id} has no readable line for this row; it may have been billed, so it is not sent again`;
      await failRows(
        this.options.store,
        batchId,
        group.id,
        left.map((data) => ({
          data,
          code: batch.status === 'failed' ? 'task_failed' : 'invalid_response',
          message,
        })),
      );
    } else if (left.length > 0 && (await this.records.fallback(batchId)) === 'realtime') {
      await this.releaseAll(batchId, rows.keys());
      await sendToRealtime(this.options, batchId, left);
      await this.records.unplace(
        batchId,
        left.map((data) => data.rowKey),
      );
      this.options.log.info(
        { batchId, rows: left.length },
        'unfinished Batch API rows sent to the realtime queue',
      );
      await this.records.dropRows(
        batchId,
        group.id,
        left.map((data) => data.rowKey),
      );
    } else if (left.length > 0) {
      await this.releaseAll(batchId, rows.keys());
      const returned = await this.records.returnGroup(batchId, group);
      this.options.log.info(
        { batchId, openaiBatch: batch.id, status: batch.status, returned },
        'unfinished rows wait for the next request file',
      );
      return;
    }
    await this.records.finishGroup(batchId, group.id);
    this.options.log.info(
      { batchId, openaiBatch: batch.id, status: batch.status, settled: settled.length, left: left.length },
      'collected an OpenAI batch',
    );
  }
}
