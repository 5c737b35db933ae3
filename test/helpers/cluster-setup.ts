/**
 * The cluster project's global setup (issue 27): a private three-master Redis Cluster for the run, handed to the
 * tests as their `redisUrl` (`redis+cluster://…`), so the same pipeline, budget, crash and re-run tests that run on one
 * Redis run on a cluster too. Stopped by pid at the end; nothing shared is touched.
 */
import { randomBytes } from 'node:crypto';
import type { TestProject } from 'vitest/node';
import { startRedisCluster, type RedisCluster } from './redis-cluster.js';

let cluster: RedisCluster | undefined;

export async function setup(project: TestProject): Promise<void> {
  project.provide('testRunId', randomBytes(4).toString('hex'));
  cluster = await startRedisCluster(3);
  // Not put in process.env: the other projects' setups run in this process and read REDIS_URL. Every process a test
  // starts is given the URL (the suites' environments set REDIS_URL from `redisUrl`).
  project.provide('redisUrl', cluster.url);
}

export async function teardown(): Promise<void> {
  await cluster?.stop();
}
