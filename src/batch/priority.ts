/**
 * A batch's priority and weight (issue 30). Priority is a level from 1 (sent first) to 9 (sent last) — the order
 * BullMQ and Temporal use, lower first — with names for three of them: `urgent` 1, `normal` 5, `background` 9. Weight
 * (1–100, default 1) is the batch's share of each host among the batches of its level (./fair-share.ts).
 *
 * On the queues, a job's BullMQ priority (1 … 2,097,151, lower first: https://docs.bullmq.io/guide/jobs/prioritized)
 * is the base of its level's band plus its fair-share tag: every job of level 1 is served before any of level 2, and
 * within a level jobs go in tag order. BullMQ serves jobs without a priority before every prioritized one, so every
 * submission and routing job carries one.
 *
 * Stored in the batch's settings (`priority`, `weight` in its meta hash); changeable while the batch runs
 * (./priority-change.ts).
 */
import type { RedisConnection } from '../shared/redis.js';
import { batchKeys } from '../shared/keys.js';
import { UsageError } from '../shared/errors.js';

/** The highest priority BullMQ takes (bullmq/dist/esm/classes/job.js `PRIORITY_LIMIT`, 2^21 − 1). */
export const BULLMQ_PRIORITY_LIMIT = 2 ** 21 - 1;

/** BullMQ's prioritized score: priority × 2^32 + a counter (bullmq commands/includes/getPriorityScore.lua). */
export const PRIORITY_SCORE_SHIFT = 2 ** 32;

/** The levels, 1 (first) … {@link LOWEST_LEVEL} (last). */
export const HIGHEST_LEVEL = 1;
export const LOWEST_LEVEL = 9;

/** The named levels. */
export const PRIORITY_NAMES = { urgent: 1, normal: 5, background: 9 } as const;
export type PriorityName = keyof typeof PRIORITY_NAMES;

/** The level of a batch that names none. */
export const DEFAULT_LEVEL = PRIORITY_NAMES.normal;

/** Weights a batch may have (its share of a host among the batches of its level). */
export const MIN_WEIGHT = 1;
export const MAX_WEIGHT = 100;

/** BullMQ priorities per level: tags 0 … BAND − 1 of a level share its band. */
export const LEVEL_BAND = Math.floor(BULLMQ_PRIORITY_LIMIT / LOWEST_LEVEL);

/** A batch's place among the batches: its level and weight. */
export interface BatchPriority {
  /** 1 (first) … 9 (last). */
  level: number;
  /** 1 … 100: its share of each host among the batches of its level. */
  weight: number;
}

/** The priority of a batch that set none. */
export const DEFAULT_PRIORITY: BatchPriority = { level: DEFAULT_LEVEL, weight: MIN_WEIGHT };

/**
 * The level `text` names: `urgent`, `normal`, `background`, or a whole number 1–9.
 * @throws UsageError naming the values allowed.
 */
export function parsePriority(text: string): number {
  const named = PRIORITY_NAMES[text.trim().toLowerCase() as PriorityName];
  if (named !== undefined) return named;
  const level = Number(text);
  if (Number.isInteger(level) && level >= HIGHEST_LEVEL && level <= LOWEST_LEVEL) return level;
  throw new UsageError(
    `priority "${text}" is not one of urgent, normal, background or a whole number from ${HIGHEST_LEVEL} (first) to ${LOWEST_LEVEL} (last)`,
  );
}

/** @throws UsageError unless `weight` is a whole number from 1 to 100. */
export function checkWeight(weight: number): number {
  if (Number.isInteger(weight) && weight >= MIN_WEIGHT && weight <= MAX_WEIGHT) return weight;
  throw new UsageError(`weight ${weight} is not a whole number from ${MIN_WEIGHT} to ${MAX_WEIGHT}`);
}

/** How a level is said: its name when it has one, else its number (`3`). */
export function levelName(level: number): string {
  const name = Object.entries(PRIORITY_NAMES).find(([, value]) => value === level)?.[0];
  return name ?? String(level);
}

/** The BullMQ priority of tag 0 of `level`. */
export function levelBase(level: number): number {
  return (level - 1) * LEVEL_BAND + 1;
}

/** The BullMQ priority of a job of `level` with fair-share tag `tag` (past the band's end: its last value). */
export function jobPriority(level: number, tag: number): number {
  return levelBase(level) + Math.min(Math.max(0, Math.floor(tag)), LEVEL_BAND - 1);
}

/** The level of a job whose BullMQ priority is `priority` (0 — none, a job of an earlier version — is the default). */
export function levelOfJobPriority(priority: number | undefined): number {
  if (priority === undefined || priority <= 0) return DEFAULT_LEVEL;
  return Math.min(LOWEST_LEVEL, Math.floor((priority - 1) / LEVEL_BAND) + 1);
}

/** Batches' priorities in their settings, under one key prefix. */
export class BatchPriorities {
  constructor(
    private readonly redis: RedisConnection,
    private readonly prefix: string,
  ) {}

  /** Batch `batchId`'s priority; the default when it set none. */
  async of(batchId: string): Promise<BatchPriority> {
    const [level, weight] = await this.redis.hmget(
      batchKeys(this.prefix, batchId).meta,
      'priority',
      'weight',
    );
    return {
      level: level === null ? DEFAULT_LEVEL : Number(level),
      weight: weight === null ? MIN_WEIGHT : Number(weight),
    };
  }

  /**
   * Record batch `batchId`'s priority: the fields given are set, the others kept (the default when the batch had
   * none). @returns the level before (undefined when none was recorded).
   */
  async set(batchId: string, priority: Partial<BatchPriority>): Promise<number | undefined> {
    const key = batchKeys(this.prefix, batchId).meta;
    const before = await this.redis.hget(key, 'priority');
    const multi = this.redis.multi();
    if (priority.level === undefined) multi.hsetnx(key, 'priority', String(DEFAULT_LEVEL));
    else multi.hset(key, 'priority', String(priority.level));
    if (priority.weight === undefined) multi.hsetnx(key, 'weight', String(MIN_WEIGHT));
    else multi.hset(key, 'weight', String(priority.weight));
    await multi.exec();
    return before === null ? undefined : Number(before);
  }
}
