/**
 * Samples of each host for the dashboard's queue-depth chart (src/batch/timeline.ts): jobs waiting in its queue and
 * requests parked, taken by every worker process on its sweep; the latest sample of a minute wins.
 */
import type { Queue } from 'bullmq';
import { sampleHost } from '../batch/timeline.js';
import type { ParkedRequests } from '../batch/parked-requests.js';
import type { HostName } from '../shared/hosts.js';
import type { Logger } from '../shared/logger.js';
import type { RedisConnection } from '../shared/redis.js';

/** Sample every host of `hosts` once. Never throws (a failed sample is logged at debug level). */
export async function sampleHosts(
  deps: {
    redis: RedisConnection;
    queuePrefix: string;
    queueFor(host: HostName): Queue;
    parked: ParkedRequests;
    log: Logger;
  },
  hosts: readonly HostName[],
): Promise<void> {
  for (const host of hosts) {
    try {
      const counts = await deps.queueFor(host).getJobCounts('waiting', 'prioritized');
      const { parked } = await deps.parked.overview(host);
      await sampleHost(deps.redis, deps.queuePrefix, host, {
        waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0),
        parked,
      });
    } catch (error) {
      deps.log.debug({ host, err: error }, 'could not sample the host for the timeline');
    }
  }
}
