/**
 * A batch's own records in Redis, beside its BullMQ jobs: settings, which row keys it holds, each row's final
 * outcome (recorded once), counters by resolution tier, and which rejected rows were already reported.
 * Keys: see {@link batchKeys}. Values hold no secret.
 */
import type { Redis } from 'ioredis';
import { batchKeys, type BatchKeys, type RowSource } from './job-definitions.js';
import { roundUsd } from './pricing.js';
import { RESOLUTION_TIERS, type ResolutionTier } from './resolution-tier.js';

/**
 * How an incoming row relates to the batch: not there yet; already enqueued from the same place, and `finished` or
 * not; or a row key clash with another place.
 */
export type RowClassification =
  { kind: 'new' } | { kind: 'present'; finished: boolean } | { kind: 'conflict'; existingSource: string };

/** Counts and cost of a batch so far. */
export interface BatchStatus {
  batchId: string;
  outputDirectory: string;
  createdAt: string;
  manifests: string[];
  /** Valid rows enqueued (all manifests, all enqueue runs). */
  rows: number;
  rejected: number;
  completed: number;
  failed: number;
  /** Rows not yet completed or failed. */
  pending: number;
  costUsdTotal: number;
  costByTier: Record<ResolutionTier, { images: number; cost_usd: number }>;
}

/** `manifest:line`, the text stored for a row's source. */
export function sourceText(source: RowSource): string {
  return `${source.manifest}:${source.line}`;
}

// KEYS: rows, outcomes. ARGV: row key, source, ... Returns per row '' (new), '=' (present, finished),
// '~' (present, unfinished) or the existing source (conflict).
const CLASSIFY_ROWS = `
local result = {}
for i = 1, #ARGV, 2 do
  local existing = redis.call('HGET', KEYS[1], ARGV[i])
  if not existing then result[#result + 1] = ''
  elseif existing ~= ARGV[i + 1] then result[#result + 1] = existing
  elseif redis.call('HEXISTS', KEYS[2], ARGV[i]) == 1 then result[#result + 1] = '='
  else result[#result + 1] = '~' end
end
return result`;

const REGISTER_ROWS = `
local added = 0
for i = 1, #ARGV, 2 do added = added + redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) end
if added > 0 then redis.call('HINCRBY', KEYS[2], 'rows_total', added) end
return added`;

const RECORD_REJECT = `
local added = redis.call('HSETNX', KEYS[1], ARGV[1], '1')
if added == 1 then redis.call('HINCRBY', KEYS[2], 'rows_rejected', 1) end
return added`;

// KEYS: outcomes, stats. ARGV: row key, status, tier, images, cost USD.
const RECORD_OUTCOME = `
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
if ARGV[2] == 'completed' then
  redis.call('HINCRBYFLOAT', KEYS[2], 'cost_usd_total', ARGV[5])
  redis.call('HINCRBY', KEYS[2], 'images:' .. ARGV[3], ARGV[4])
  redis.call('HINCRBYFLOAT', KEYS[2], 'cost_usd:' .. ARGV[3], ARGV[5])
end
return 1`;

/** Records of every batch under one key prefix. */
export class BatchStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  keys(batchId: string): BatchKeys {
    return batchKeys(this.prefix, batchId);
  }

  /**
   * Create the batch's settings, or keep the existing ones: the first output directory wins, so a re-run with another
   * `--out` cannot split a batch. @returns the batch's output directory.
   */
  async ensureBatch(batchId: string, outputDirectory: string, manifests: string[]): Promise<string> {
    const key = this.keys(batchId).meta;
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

  /** The batch's output directory, or undefined for an unknown batch. */
  async outputDirectory(batchId: string): Promise<string | undefined> {
    return (await this.redis.hget(this.keys(batchId).meta, 'output_directory')) ?? undefined;
  }

  /** Classify rows before enqueuing them (reads only). */
  async classifyRows(
    batchId: string,
    rows: Array<{ rowKey: string; source: string }>,
  ): Promise<RowClassification[]> {
    if (rows.length === 0) return [];
    const keys = this.keys(batchId);
    const reply = (await this.redis.eval(
      CLASSIFY_ROWS,
      2,
      keys.rows,
      keys.outcomes,
      ...rows.flatMap((row) => [row.rowKey, row.source]),
    )) as string[];
    return reply.map((value): RowClassification => {
      if (value === '') return { kind: 'new' };
      if (value === '=' || value === '~') return { kind: 'present', finished: value === '=' };
      return { kind: 'conflict', existingSource: value };
    });
  }

  /** Register rows as part of the batch (after their jobs were added). @returns how many were new. */
  async registerRows(batchId: string, rows: Array<{ rowKey: string; source: string }>): Promise<number> {
    if (rows.length === 0) return 0;
    const keys = this.keys(batchId);
    return (await this.redis.eval(
      REGISTER_ROWS,
      2,
      keys.rows,
      keys.meta,
      ...rows.flatMap((row) => [row.rowKey, row.source]),
    )) as number;
  }

  /** Note a rejected row. @returns true the first time this `manifest:line` is rejected in the batch. */
  async recordReject(batchId: string, source: string): Promise<boolean> {
    const keys = this.keys(batchId);
    return ((await this.redis.eval(RECORD_REJECT, 2, keys.rejects, keys.meta, source)) as number) === 1;
  }

  /**
   * Record a row's final outcome once. @returns true when this call recorded it, false when it was already recorded
   * (the job ran again after a crash): then the caller must not write its results line again.
   */
  async recordOutcome(
    batchId: string,
    rowKey: string,
    outcome: { status: 'completed' | 'failed'; tier: ResolutionTier; images: number; costUsd: number },
  ): Promise<boolean> {
    const keys = this.keys(batchId);
    const recorded = (await this.redis.eval(
      RECORD_OUTCOME,
      2,
      keys.outcomes,
      keys.stats,
      rowKey,
      outcome.status,
      outcome.tier,
      String(outcome.images),
      String(outcome.costUsd),
    )) as number;
    return recorded === 1;
  }

  /** A row's recorded outcome, if any. */
  async outcome(batchId: string, rowKey: string): Promise<'completed' | 'failed' | undefined> {
    const value = await this.redis.hget(this.keys(batchId).outcomes, rowKey);
    return value === 'completed' || value === 'failed' ? value : undefined;
  }

  /** Counts and cost of a batch, or undefined when the batch is unknown. */
  async status(batchId: string): Promise<BatchStatus | undefined> {
    const keys = this.keys(batchId);
    const [meta, stats] = await Promise.all([this.redis.hgetall(keys.meta), this.redis.hgetall(keys.stats)]);
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
    return {
      batchId,
      outputDirectory: meta.output_directory,
      createdAt: meta.created_at ?? '',
      manifests: JSON.parse(meta.manifests ?? '[]') as string[],
      rows,
      rejected: number(meta.rows_rejected),
      completed,
      failed,
      pending: Math.max(0, rows - completed - failed),
      costUsdTotal: roundUsd(number(stats.cost_usd_total)),
      costByTier,
    };
  }

  /** Delete every record of a batch (not its jobs). */
  async deleteBatch(batchId: string): Promise<void> {
    const { meta, rows, outcomes, stats, rejects } = this.keys(batchId);
    await this.redis.del(meta, rows, outcomes, stats, rejects);
  }
}
