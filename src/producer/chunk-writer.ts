/**
 * Writing checked rows to Redis in chunks: each chunk is classified and registered in the batch's records (in manifest
 * order, so a row key repeated across chunks is still caught), then added with `addBulk`, while the next chunks are
 * read. Reading never waits for Redis while fewer than {@link CHUNKS_IN_FLIGHT} chunks are on their way: several
 * `addBulk` in flight is the fastest way to feed BullMQ on a 2-core machine (baselines.md). Registering before adding
 * is safe: a row registered but never added (a crash in between) is found unfinished by the next run of the same
 * manifest, which adds its job then.
 */
import { Queue, type JobsOptions } from 'bullmq';
import type { RedisConnection } from '../shared/redis.js';
import type { BatchStore } from '../batch/batch-store.js';
import { queueNameFor, ROUTE_QUEUE_NAME, rowKeyIdentity } from '../shared/keys.js';
import { CANARY_HOLD_MS, firstJobOf } from '../batch/canary.js';
import { rowJobOptions, type RowJobSettings } from '../batch/queues.js';
import { splitSource } from '../batch/row-index.js';
import { addBatchJobs } from '../batch/fair-share.js';
import type { CanaryPicker } from './canary-picker.js';
import { addToEstimate, type CostEstimate, type PendingRow } from './estimate.js';
import { InFlight } from './in-flight.js';
import type { RejectLine } from './rejects-writer.js';

/** Chunks being registered or added at once; more only hold more rows in memory. */
export const CHUNKS_IN_FLIGHT = 4;

/** What the chunks of one enqueue count. */
export interface ChunkCounts {
  /** Rows new to the batch (registered in its row index), with or without a job yet. */
  enqueued: number;
  alreadyEnqueued: number;
  estimate: CostEstimate;
  /** Rows of `add` chunks that are the batch's (new or already there): what a manifest cursor passed. */
  passed?: number;
}

/**
 * What a chunk's rows get (windowed ingest, src/batch/manifest-cursor.ts): `add`, a job for every row not finished
 * (the cursor passes them); `rescue`, the same for rows behind the cursor (re-run of a manifest: a job lost in a crash
 * comes back), not counted as passed; `register`, a place in the row index only — their jobs are added when the cursor
 * reaches them (while a canary awaits approval, the rows it may take get theirs at once).
 */
export type ChunkMode = 'add' | 'rescue' | 'register';

/** The chunks of one enqueue into batch `batchId`. */
export class ChunkWriter {
  /** Queues by name: the providers' and the route queue. */
  private readonly queues = new Map<string, Queue>();
  private readonly chunks = new InFlight();
  private registered: Promise<unknown> = Promise.resolve();
  private readonly jobOptions: JobsOptions;

  constructor(
    private readonly target: {
      redis: RedisConnection;
      store: BatchStore;
      queuePrefix: string;
      batchId: string;
      /**
       * Set while the batch's canary awaits approval: rows the picker takes (none without a picker) run, every other
       * row is held (src/batch/canary.ts).
       */
      canary?: { picker: CanaryPicker | undefined };
    },
    retry: RowJobSettings,
    /** What the chunks counted (complete once {@link settled}). */
    readonly counts: ChunkCounts,
    private readonly reject: (line: RejectLine) => Promise<void>,
  ) {
    this.jobOptions = rowJobOptions(retry);
  }

  /** Send one chunk on its way; returns once fewer than {@link CHUNKS_IN_FLIGHT} chunks are in flight. */
  async write(rows: PendingRow[], mode: ChunkMode = 'add'): Promise<void> {
    const toAdd = this.registered.then(() => (this.chunks.failed ? [] : this.registerChunk(rows, mode)));
    this.registered = toAdd.catch(() => undefined);
    this.chunks.start(toAdd.then((added) => this.addJobs(added)));
    await this.chunks.belowLimit(CHUNKS_IN_FLIGHT);
  }

  /** Wait for every chunk. @throws the first chunk's error. */
  async settled(): Promise<void> {
    await this.chunks.settled();
  }

  /** Wait for every chunk. @returns the counts then. @throws the first chunk's error. */
  async settledCounts(): Promise<ChunkCounts> {
    await this.chunks.settled();
    return this.counts;
  }

  /** Wait for every chunk (ignoring errors) and close the queues: on an error too, sent chunks end first. */
  async close(): Promise<void> {
    await this.chunks.settled().catch(() => undefined);
    await Promise.all([...this.queues.values()].map((queue) => queue.close()));
  }

  private queueFor(name: string): Queue {
    let queue = this.queues.get(name);
    if (queue === undefined) {
      queue = new Queue(name, {
        connection: this.target.redis,
        prefix: this.target.queuePrefix,
      });
      this.queues.set(name, queue);
    }
    return queue;
  }

  /**
   * Classify a chunk against the batch's records, reject its duplicate row keys and register its new rows.
   * @returns the rows whose jobs to add: new ones, and known ones not finished yet (a no-op while their job exists,
   * a rescue if it was removed).
   */
  private async registerChunk(rows: PendingRow[], mode: ChunkMode): Promise<HeldOrNot[]> {
    const { store, batchId } = this.target;
    const classifications = await store.rowIndex.classify(batchId, rows);
    const fresh: PendingRow[] = [];
    const unfinished: PendingRow[] = [];
    const seenInChunk = new Map<string, string>();
    const stemsInChunk = new Map<string, string>();
    for (const [index, row] of rows.entries()) {
      const classification = classifications[index]!;
      const earlier = seenInChunk.get(row.rowKey);
      const stemOwner = stemsInChunk.get(rowKeyIdentity(row.rowKey));
      if (classification.kind === 'stem-collision' || (stemOwner !== undefined && stemOwner !== row.rowKey)) {
        const other = classification.kind === 'stem-collision' ? classification.otherRowKey : stemOwner!;
        await this.rejectRow(
          row,
          'row_key_collision',
          `row key "${row.rowKey}" and row key "${other}" would share a job id or image file names (names differing only in case are one file on macOS and Windows): give this row another id`,
        );
        continue;
      }
      if (classification.kind === 'conflict' || earlier !== undefined) {
        const existing = classification.kind === 'conflict' ? classification.existingSource : earlier;
        await this.rejectRow(
          row,
          'duplicate_row_key',
          `row key "${row.rowKey}" is already used by ${existing}`,
        );
        continue;
      }
      seenInChunk.set(row.rowKey, row.source);
      stemsInChunk.set(rowKeyIdentity(row.rowKey), row.rowKey);
      if (classification.kind === 'new') fresh.push(row);
      else {
        this.counts.alreadyEnqueued += 1;
        if (!classification.finished) unfinished.push(row);
      }
    }
    const { held, canaryRows } = await this.holdOutsideCanary(fresh, unfinished, mode);
    await store.rowIndex.register(batchId, fresh);
    for (const row of fresh) addToEstimate(this.counts.estimate, row);
    this.counts.enqueued += fresh.length;
    if (mode === 'add') this.counts.passed = (this.counts.passed ?? 0) + seenInChunk.size;
    const toAdd =
      mode === 'register' ? fresh.filter((row) => canaryRows.has(row.rowKey)) : [...fresh, ...unfinished];
    return toAdd.map((row) => ({ row, held: held.has(row.rowKey) }));
  }

  /** Reject a row whose key cannot be used, at its manifest line. */
  private async rejectRow(row: PendingRow, code: string, message: string): Promise<void> {
    const { manifest, line } = splitSource(row.source);
    await this.reject({
      manifest,
      line: Number(line),
      row_key: row.rowKey,
      field: 'id',
      code,
      message,
      errors: [],
    });
  }

  /**
   * While the canary awaits approval: record which new rows go into it (the picker's choice) and which are held, and
   * which unfinished rows of an earlier run are held. @returns the row keys held.
   */
  private async holdOutsideCanary(
    fresh: PendingRow[],
    unfinished: PendingRow[],
    mode: ChunkMode,
  ): Promise<{ held: Set<string>; canaryRows: Set<string> }> {
    const { canary, store, batchId } = this.target;
    const canaryRows = new Set<string>();
    if (canary === undefined) return { held: new Set(), canaryRows };
    const canaryKeys: string[] = [];
    const held: PendingRow[] = [];
    for (const row of fresh) {
      const choice = canary.picker?.choose(row) ?? 'rest';
      if (choice === 'canary') canaryKeys.push(row.rowKey);
      // A registered-only row gets a held job only when the canary may still take it (a spare of its stratum).
      else if (mode !== 'register' || choice === 'spare') held.push(row);
      if (choice !== 'rest') canaryRows.add(row.rowKey);
    }
    const known =
      mode === 'register'
        ? []
        : await store.canary.areCanaryRows(
            batchId,
            unfinished.map((row) => row.rowKey),
          );
    if (mode !== 'register') held.push(...unfinished.filter((_, index) => !known[index]));
    await store.canary.register(
      batchId,
      canaryKeys,
      held.map((row) => firstJobOf(batchId, row.data)),
    );
    return { held: new Set(held.map((row) => row.rowKey)), canaryRows };
  }

  /**
   * Add the jobs of `rows`, one `addBulk` per queue — its provider's, or the route queue for a row with several
   * candidate hosts (src/worker/router.ts) — with the batch's priority and fair-share tags (src/batch/fair-share.ts);
   * a held row's job is delayed until the canary is approved.
   */
  private async addJobs(rows: HeldOrNot[]): Promise<void> {
    const byQueue = new Map<string, HeldOrNot[]>();
    // Batch API rows wait in their own list for a request file (src/batch/openai-batch-records.ts), each once.
    const forBatchApi = rows.filter((entry) => entry.row.data.delivery === 'batch');
    await this.target.store.openaiBatches.addWaiting(
      this.target.batchId,
      forBatchApi.map((entry) => entry.row.data),
    );
    for (const entry of rows) {
      if (entry.row.data.delivery === 'batch') continue;
      const name =
        entry.row.data.routing === undefined ? queueNameFor(entry.row.data.provider) : ROUTE_QUEUE_NAME;
      const list = byQueue.get(name) ?? [];
      list.push(entry);
      byQueue.set(name, list);
    }
    await Promise.all(
      [...byQueue].map(([name, queueRows]) =>
        addBatchJobs(
          this.queueFor(name),
          this.target.store.priorities,
          this.target.batchId,
          queueRows.map(({ row, held }) => ({
            name: row.data.operation,
            data: row.data,
            opts: {
              ...this.jobOptions,
              jobId: firstJobOf(this.target.batchId, row.data).jobId,
              ...(held ? { delay: CANARY_HOLD_MS } : {}),
            },
          })),
        ),
      ),
    );
  }
}

/** A row to add, and whether it is held until the canary is approved. */
interface HeldOrNot {
  row: PendingRow;
  held: boolean;
}
