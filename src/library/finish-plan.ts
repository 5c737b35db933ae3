/**
 * The plan of a batch's finish-by time at enqueue (issue 30, src/batch/finish-by.ts): each host it uses, its rows
 * there, the rows queued ahead of them at a higher priority, and the host's configured request rate; recorded in the
 * batch's settings so status, the dashboard and `batch.late` can say whether it will make it.
 */
import type { BatchStore } from '../batch/batch-store.js';
import {
  BATCH_API_WINDOW_MS,
  parseFinishBy,
  planFinish,
  type FinishPlan,
  type HostLoad,
} from '../batch/finish-by.js';
import { levelBase, PRIORITY_SCORE_SHIFT } from '../batch/priority.js';
import { openProviderQueues } from '../batch/queues.js';
import type { CostEstimate } from '../producer/estimate.js';
import { hostsOf, settingsOfHost, type Config } from '../providers/configuration.js';
import type { ProviderName } from '../shared/config.js';
import { batchKeys } from '../shared/keys.js';
import type { RedisConnection } from '../shared/redis.js';

/** A batch's finish-by time (ms since the epoch) and its plan. */
export interface FinishByPlan extends FinishPlan {
  at: number;
}

/** The finish-by time `value` names, ms since the epoch. @throws UsageError for a bad or past time. */
export function finishByOf(value: string | number | Date | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return parseFinishBy(value);
  return parseFinishBy(new Date(value instanceof Date ? value.getTime() : value).toISOString());
}

/**
 * Whether rows for OpenAI can wait for its Batch API (half price): a finish-by time at least its 24-hour window away.
 * Rows that name a delivery, or a batch given `delivery`, keep theirs.
 */
export function canWaitForBatchApi(finishBy: number | undefined, now = Date.now()): boolean {
  return finishBy !== undefined && finishBy - now >= BATCH_API_WINDOW_MS;
}

/**
 * Plan when batch `batchId` (rows as `estimate` counts them) finishes by `finishBy`, record both in its settings.
 * @returns `{ finishBy: plan }`, or nothing without a finish-by time. @throws the connection's error.
 */
export async function planBatchFinish(
  config: Config,
  target: { redis: RedisConnection; store: BatchStore },
  batchId: string,
  finishBy: number | undefined,
  estimate: CostEstimate,
): Promise<{ finishBy?: FinishByPlan }> {
  if (finishBy === undefined) return {};
  const { level } = await target.store.priorities.of(batchId);
  const providers = new Set<ProviderName>([
    ...(Object.keys(estimate.realtimeRows) as ProviderName[]),
    ...(Object.keys(estimate.routed.byHost) as ProviderName[]),
  ]);
  const loads: HostLoad[] = [];
  for (const provider of providers) {
    const hosts = hostsOf(config, provider);
    const rates = hosts.map((host) => settingsOfHost(config, host).requestsPerMinute);
    loads.push({
      host: provider,
      rows: estimate.realtimeRows[provider] ?? 0,
      ahead: await rowsAhead(config, target.redis, hosts, level),
      requestsPerMinute: rates.some((rate) => rate <= 0) ? 0 : rates.reduce((sum, rate) => sum + rate, 0),
    });
  }
  const plan = planFinish(loads, estimate.routed.rows, estimate.batchDelivery.rows, finishBy);
  const key = batchKeys(config.queuePrefix, batchId).meta;
  await target.redis.hset(key, 'finish_by', String(finishBy));
  if (plan.expectedAt === undefined) await target.redis.hdel(key, 'finish_planned');
  else await target.redis.hset(key, 'finish_planned', String(Math.round(plan.expectedAt)));
  return { finishBy: { ...plan, at: finishBy } };
}

/** Jobs waiting on `hosts`' queues at a priority above `level`: all sent before a row of this level. */
async function rowsAhead(
  config: Config,
  redis: RedisConnection,
  hosts: ReturnType<typeof hostsOf>,
  level: number,
): Promise<number> {
  const queues = openProviderQueues(redis, config.queuePrefix, hosts);
  try {
    const below = `(${(levelBase(level) * PRIORITY_SCORE_SHIFT).toFixed(0)}`;
    const counts = await Promise.all(
      queues.map(({ queue }) => redis.zcount(queue.keys.prioritized!, '-inf', below)),
    );
    return counts.reduce((sum, count) => sum + count, 0);
  } finally {
    await Promise.all(queues.map(({ queue }) => queue.close()));
  }
}
