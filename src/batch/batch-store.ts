/**
 * A batch's own records in Redis, beside its BullMQ jobs: settings, which row keys it holds, each row's final
 * outcome (recorded once), counters by resolution tier, and which rejected rows were already reported.
 * Keys: see {@link batchKeys}. Values hold no secret.
 */
import { latencyBucketOf } from './timeline.js';
import { PriceCatalogue } from '../cost/price-catalogue.js';
import type { PricingOverride } from '../cost/pricing-file.js';
import type { RedisConnection } from '../shared/redis.js';
import { type RowSource } from '../shared/job-definitions.js';
import { batchKeys, safeFileStem, type BatchKeys } from '../shared/keys.js';
import { UsageError } from '../shared/errors.js';
import { roundUsd } from '../cost/usd.js';
import { RESOLUTION_TIERS, type ResolutionTier } from '../cost/resolution-tier.js';
import { LuaCommands } from '../shared/lua-commands.js';
import { BudgetLedger } from '../cost/budget.js';
import { CanaryLedger } from './canary.js';
import { OpenAIBatchRecords } from './openai-batch-records.js';
import { BillingFacts } from './billing-facts.js';
import { locateRow, RowIndex, type RowOutcome } from './row-index.js';
import { ManifestCursors } from './manifest-cursor.js';
import { BatchPriorities, DEFAULT_LEVEL } from './priority.js';
import { finishByOf } from './finish-by.js';
import { ReuseIndex } from './reuse-index.js';
import type { BatchStatus } from './batch-status.js';
import type { ProvenanceCounts } from '../storage/provenance.js';

export type { BatchStatus } from './batch-status.js';

/** `manifest:line`, the text stored for a row's source. */
export function sourceText(source: RowSource): string {
  return `${source.manifest}:${source.line}`;
}

/** The batch records' Lua scripts (./lua/*.lua). */
const SCRIPTS = new LuaCommands(new URL('./lua/', import.meta.url), {
  recordReject: { file: 'record-reject.lua', numberOfKeys: 2 },
  recordOutcome: { file: 'record-outcome.lua', numberOfKeys: 8 },
  forgetFailure: { file: 'forget-failure.lua', numberOfKeys: 3 },
});

/** Records of every batch under one key prefix. */
export class BatchStore {
  /** The batches' budget caps and reservations (src/cost/budget.ts). */
  readonly budget: BudgetLedger;
  /** The batches' canaries (./canary.ts). */
  readonly canary: CanaryLedger;
  /** Rows delivered through OpenAI's Batch API (./openai-batch-records.ts). */
  readonly openaiBatches: OpenAIBatchRecords;
  /** What hosts' usage has shown of how they bill (./billing-facts.ts). */
  readonly billing: BillingFacts;
  /** Which rows each batch holds (./row-index.ts). */
  readonly rowIndex: RowIndex;
  /** Where each windowed batch's rows without a job yet are in its manifests (./manifest-cursor.ts). */
  readonly cursors: ManifestCursors;
  /** The batches' priorities and weights (./priority.ts). */
  readonly priorities: BatchPriorities;
  /** Completed rows by reuse key, per output root (./reuse-index.ts). */
  readonly reuse: ReuseIndex;

  constructor(
    private readonly redis: RedisConnection,
    private readonly prefix: string,
  ) {
    this.budget = new BudgetLedger(redis, prefix);
    this.billing = new BillingFacts(redis, prefix);
    this.rowIndex = new RowIndex(redis, prefix);
    this.cursors = new ManifestCursors(redis, prefix);
    this.priorities = new BatchPriorities(redis, prefix);
    this.reuse = new ReuseIndex(redis, prefix);
    this.canary = new CanaryLedger(redis, prefix);
    this.openaiBatches = new OpenAIBatchRecords(redis, prefix);
  }

  keys(batchId: string): BatchKeys {
    return batchKeys(this.prefix, batchId);
  }

  /**
   * Create the batch's settings, or keep the existing ones: the first output directory wins, so a re-run with another
   * `--out` cannot split a batch. @returns the batch's output directory.
   */
  async ensureBatch(batchId: string, outputDirectory: string, manifests: string[]): Promise<string> {
    const key = this.keys(batchId).meta;
    if ((await this.redis.exists(key)) === 0) await this.refuseFolderTwin(batchId, outputDirectory);
    // The list of batches is in a slot of its own (a cluster's transaction covers one slot): listed first, so a batch
    // with records is never missing from it.
    await this.redis.sadd(`${this.prefix}:batches`, batchId);
    await this.redis
      .multi()
      .hsetnx(key, 'output_directory', outputDirectory)
      .hsetnx(key, 'created_at', new Date().toISOString())
      .hsetnx(key, 'rows_total', '0')
      .hsetnx(key, 'rows_rejected', '0')
      .hset(key, 'manifests', JSON.stringify(manifests))
      .exec();
    return (await this.redis.hget(key, 'output_directory')) ?? outputDirectory;
  }

  /**
   * A new batch whose folder name differs from an existing batch's in the same output root only in letter case
   * (`Run`, `run`) would share that folder on macOS and Windows: results, images and summary mixed.
   * @throws UsageError naming the other batch.
   */
  private async refuseFolderTwin(batchId: string, outputDirectory: string): Promise<void> {
    const folded = safeFileStem(batchId).toLowerCase();
    for (const other of await this.listBatches()) {
      if (other === batchId || safeFileStem(other).toLowerCase() !== folded) continue;
      if ((await this.outputDirectory(other)) !== outputDirectory) continue;
      throw new UsageError(
        `batch "${batchId}" would share its folder with batch "${other}" in ${outputDirectory} (names differing only in case are one folder on macOS and Windows): give another --batch`,
      );
    }
  }

  /** Ids of every batch under this prefix, sorted. */
  async listBatches(): Promise<string[]> {
    return (await this.redis.smembers(`${this.prefix}:batches`)).sort();
  }

  /** The batch's output directory, or undefined for an unknown batch. */
  async outputDirectory(batchId: string): Promise<string | undefined> {
    return (await this.redis.hget(this.keys(batchId).meta, 'output_directory')) ?? undefined;
  }

  /** Note a rejected row by its key (`manifest:line:code`). @returns true the first time in the batch. */
  async recordReject(batchId: string, source: string): Promise<boolean> {
    const keys = this.keys(batchId);
    return ((await SCRIPTS.run(this.redis, 'recordReject', keys.rejects, keys.meta, source)) as number) === 1;
  }

  /**
   * Record a row's final outcome once. @returns `recorded` false when it was already recorded (the job ran again
   * after a crash): then the caller must not write its results line again; `pending`, the batch's rows still pending
   * once this one is counted (-1 when not recorded).
   */
  async recordOutcome(
    batchId: string,
    rowKey: string,
    outcome: {
      status: 'completed' | 'failed';
      tier: ResolutionTier;
      images: number;
      /** Estimated USD of the row (0 for a failed row). */
      costUsd: number;
      /** USD to count as spent against the budget (estimate or actual; the estimate for an uncertain outcome). */
      spentUsd: number;
      provider: string;
      /** The host, when it is one of the provider's further accounts (`openai@2`): its figures are kept apart. */
      host?: string;
      /** Error code of a failed row. */
      errorCode?: string;
      /** Actual USD from reported usage, when known. */
      actualUsd?: number;
      /** `<ms now>|<results line JSON>`, kept until {@link confirmResultLine}. */
      resultLine: string;
      /** How long the row's request took on `host`, for the timeline's latency chart (./timeline.ts). */
      latency?: { host: string; ms: number };
      /** How many of the row's images have valid (or trusted), invalid and missing C2PA provenance. */
      provenance?: ProvenanceCounts;
      /** The row was completed with copies of an earlier output (src/worker/reuse.ts). */
      reused?: boolean;
    },
  ): Promise<{ recorded: boolean; pending: number }> {
    const keys = this.keys(batchId);
    const row = await locateRow(this.redis, this.prefix, batchId, rowKey);
    const pending = (await SCRIPTS.run(
      this.redis,
      'recordOutcome',
      row.bucket,
      keys.stats,
      keys.budget,
      keys.reservations,
      keys.pendingLines,
      keys.meta,
      keys.collecting,
      keys.timeline,
      rowKey,
      outcome.status,
      outcome.tier,
      String(outcome.images),
      String(outcome.costUsd),
      String(outcome.spentUsd),
      outcome.provider,
      outcome.errorCode ?? '',
      outcome.actualUsd === undefined ? '' : String(outcome.actualUsd),
      outcome.resultLine,
      outcome.host ?? '',
      row.identity,
      row.ownerSuffix,
      outcome.latency?.host ?? '',
      outcome.latency === undefined ? '' : String(latencyBucketOf(outcome.latency.ms)),
      outcome.provenance === undefined
        ? ''
        : `${outcome.provenance.valid},${outcome.provenance.invalid},${outcome.provenance.missing}`,
      outcome.reused === true ? '1' : '',
    )) as number;
    return { recorded: pending >= 0, pending };
  }

  /** Pause or resume a batch (no paid call while paused); `reason`: why, when not the user's (./storage-pause.ts). */
  async setPaused(batchId: string, paused: boolean, reason?: string): Promise<void> {
    const key = this.keys(batchId).meta;
    if (!paused) await this.redis.hdel(key, 'paused', 'paused_reason');
    else
      await this.redis.hset(key, 'paused', '1', ...(reason === undefined ? [] : ['paused_reason', reason]));
  }

  /** Whether the batch is paused. */
  async isPaused(batchId: string): Promise<boolean> {
    return (await this.redis.hget(this.keys(batchId).meta, 'paused')) === '1';
  }

  /**
   * Forget the failed outcome of `rowKey` so the row can run again (its counters go back to pending).
   * @returns false when the row had not failed.
   */
  async forgetFailure(batchId: string, rowKey: string, errorCode: string): Promise<boolean> {
    const keys = this.keys(batchId);
    const row = await locateRow(this.redis, this.prefix, batchId, rowKey);
    const removed = (await SCRIPTS.run(
      this.redis,
      'forgetFailure',
      row.bucket,
      keys.stats,
      keys.collecting,
      rowKey,
      errorCode,
      row.identity,
    )) as number;
    return removed === 1;
  }

  /** The batch's finish-by time, ms since the epoch (./finish-by.ts), or undefined. */
  async finishBy(batchId: string): Promise<number | undefined> {
    const at = await this.redis.hget(this.keys(batchId).meta, 'finish_by');
    return at === null ? undefined : Number(at);
  }

  /** The pricing override stored with the batch (JSON), if any. */
  async pricing(batchId: string): Promise<string | undefined> {
    return (await this.redis.hget(this.keys(batchId).meta, 'pricing')) ?? undefined;
  }

  /**
   * The price catalogue of the batch: the built-in prices with the batch's stored pricing override applied, and what
   * hosts' usage has shown of their billing (./billing-facts.ts).
   */
  async catalogue(batchId: string): Promise<PriceCatalogue> {
    const override = await this.pricing(batchId);
    const catalogue = new PriceCatalogue(
      override === undefined ? undefined : (JSON.parse(override) as PricingOverride),
    );
    catalogue.learnInputBilling(await this.billing.read());
    return catalogue;
  }

  /** Store the pricing override used for the batch, so every worker prices it alike. */
  async setPricing(batchId: string, pricingJson: string): Promise<void> {
    await this.redis.hset(this.keys(batchId).meta, 'pricing', pricingJson);
  }

  /** The results line of `rowKey` is safely in results.jsonl: forget the copy kept for crash recovery. */
  async confirmResultLine(batchId: string, rowKey: string): Promise<void> {
    await this.redis.hdel(this.keys(batchId).pendingLines, rowKey);
  }

  /** Become the one process that repairs a batch's results.jsonl for a while (30 s). @returns false if another is. */
  async claimResultsFlush(batchId: string): Promise<boolean> {
    return (
      (await this.redis.set(
        `${this.keys(batchId).pendingLines}:flush`,
        String(process.pid),
        'PX',
        30_000,
        'NX',
      )) === 'OK'
    );
  }

  async releaseResultsFlush(batchId: string): Promise<void> {
    await this.redis.del(`${this.keys(batchId).pendingLines}:flush`);
  }

  /**
   * Results lines recorded but not confirmed in results.jsonl (a worker died in between), by row key; each value is
   * `<recorded at, ms>|<line JSON>`.
   */
  async pendingResultLines(batchId: string): Promise<Record<string, string>> {
    return this.redis.hgetall(this.keys(batchId).pendingLines);
  }

  /** A row's recorded outcome, if any. */
  async outcome(batchId: string, rowKey: string): Promise<RowOutcome | undefined> {
    return (await this.rowIndex.outcomes(batchId, [rowKey]))[0];
  }

  /** Rows of the batch with an outcome (completed or failed). */
  async finishedRows(batchId: string): Promise<number> {
    const [completed, failed] = await this.redis.hmget(this.keys(batchId).stats, 'completed', 'failed');
    return Number(completed ?? 0) + Number(failed ?? 0);
  }

  /** Counts and cost of a batch, or undefined when the batch is unknown. */
  /** Add `usd`, the estimate of rows an enqueue added, to the batch's estimate at enqueue (`enqueued_estimate_usd`). */
  async addEnqueuedEstimate(batchId: string, usd: number): Promise<void> {
    if (usd > 0) await this.redis.hincrbyfloat(this.keys(batchId).stats, 'enqueued_estimate_usd', usd);
  }

  async status(batchId: string): Promise<BatchStatus | undefined> {
    const keys = this.keys(batchId);
    const [meta, stats, budget] = await Promise.all([
      this.redis.hgetall(keys.meta),
      this.redis.hgetall(keys.stats),
      this.redis.hgetall(keys.budget),
    ]);
    if (meta.output_directory === undefined) return undefined;
    const number = (value: string | undefined) => (value === undefined ? 0 : Number(value));
    const costByTier = {} as BatchStatus['costByTier'];
    for (const tier of RESOLUTION_TIERS) {
      costByTier[tier] = {
        images: number(stats[`images:${tier}`]),
        cost_usd: roundUsd(number(stats[`cost_usd:${tier}`])),
      };
    }
    const rows = number(meta.rows_total);
    const completed = number(stats.completed);
    const failed = number(stats.failed);
    const canary = meta.canary_size === undefined ? undefined : await this.canary.progress(batchId);
    const cursor = await this.cursors.read(batchId);
    const canaryState =
      canary?.state !== 'awaiting'
        ? undefined
        : canary.completed + canary.failed >= canary.rowKeys.length
          ? 'awaiting_approval'
          : 'canary';
    return {
      batchId,
      outputDirectory: meta.output_directory,
      createdAt: meta.created_at ?? '',
      lastOutcomeAt:
        meta.last_outcome_ms === undefined ? undefined : new Date(Number(meta.last_outcome_ms)).toISOString(),
      manifests: JSON.parse(meta.manifests ?? '[]') as string[],
      rows,
      rejected: number(meta.rows_rejected),
      completed,
      failed,
      pending: Math.max(0, rows - completed - failed),
      costUsdTotal: roundUsd(number(stats.cost_usd_total)),
      costByTier,
      budgetUsd:
        meta.budget_usd === undefined || meta.budget_usd === '' ? undefined : Number(meta.budget_usd),
      spentUsd: roundUsd(number(budget.spent)),
      reservedUsd: roundUsd(Math.max(0, number(budget.reserved))),
      state:
        rows - completed - failed <= 0
          ? 'finished'
          : meta.paused === '1'
            ? 'paused'
            : canaryState !== undefined
              ? canaryState
              : meta.state === 'budget_reached'
                ? 'budget_reached'
                : 'running',
      counters: Object.fromEntries(Object.entries(stats).map(([name, value]) => [name, Number(value)])),
      priority: { level: Number(meta.priority ?? DEFAULT_LEVEL), weight: Number(meta.weight ?? 1) },
      ...(canary === undefined ? {} : { canary }),
      ...(meta.finish_by === undefined
        ? {}
        : {
            finishBy: await finishByOf(
              this.redis,
              this.prefix,
              batchId,
              meta,
              Math.max(0, rows - completed - failed),
            ),
          }),
      ...(cursor === undefined
        ? {}
        : { inManifests: { rows: Math.max(0, rows - cursor.added), window: cursor.window } }),
    };
  }
}
