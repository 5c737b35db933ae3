/**
 * Finds a Redis for the integration tests, once per run, the way `image-batch run` does: REDIS_URL (or
 * redis://127.0.0.1:6379) when it answers; else — or when REDIS_URL=embedded — a private `redis-server` from PATH
 * with its data in a temporary folder; else one started with testcontainers where Docker runs; else a clear failure
 * saying how to provide Redis. Tests never flush it: each uses its own key prefix and deletes only its own keys.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import {
  HOW_TO_GET_REDIS,
  findRedisServer,
  redisAnswers,
  startEmbeddedRedis,
  type EmbeddedRedis,
} from '../../src/shared/embedded-redis.js';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    /** Stem of every key prefix of this test run: the teardown deletes whatever is left under it. */
    testRunId: string;
  }
}

let stopContainer: (() => Promise<unknown>) | undefined;
let usedUrl: string | undefined;
const testRunId = randomBytes(4).toString('hex');

let embedded: EmbeddedRedis | undefined;

export async function setup(project: TestProject): Promise<void> {
  project.provide('testRunId', testRunId);
  const forced = process.env.REDIS_URL === 'embedded';
  const candidate = forced ? undefined : (process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  if (candidate !== undefined && (await redisAnswers(candidate, 2000))) {
    usedUrl = candidate;
    project.provide('redisUrl', candidate);
    return;
  }
  if (forced || (await findRedisServer()) !== undefined) {
    embedded = await startEmbeddedRedis(await mkdtemp(path.join(os.tmpdir(), 'image-batch-test-redis-')));
    // Workers the tests spawn inherit REDIS_URL from here when a test does not set its own.
    process.env.REDIS_URL = embedded.url;
    project.provide('redisUrl', embedded.url);
    return;
  }
  try {
    const { RedisContainer } = await import('@testcontainers/redis');
    const container = await new RedisContainer('redis:7-alpine')
      .withCommand(['redis-server', '--maxmemory-policy', 'noeviction'])
      .start();
    stopContainer = () => container.stop();
    project.provide('redisUrl', container.getConnectionUrl());
  } catch (error) {
    throw new Error(
      `The integration tests need Redis. None answers at ${candidate}, no redis-server is on PATH, and ` +
        `testcontainers could not start one (${error instanceof Error ? error.message.split('\n')[0] : String(error)}): ` +
        HOW_TO_GET_REDIS,
    );
  }
}

export async function teardown(): Promise<void> {
  // Worker processes still shutting down when a test's own cleanup ran may have written a few keys: delete every key
  // of this run's prefixes (and nothing else: never FLUSHDB a shared Redis).
  if (usedUrl !== undefined) {
    const client = new Redis(usedUrl);
    try {
      let cursor = '0';
      do {
        const [next, keys] = await client.scan(cursor, 'MATCH', `ib-test-${testRunId}-*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await client.del(...keys);
      } while (cursor !== '0');
    } finally {
      client.disconnect();
    }
  }
  await stopContainer?.();
  if (embedded !== undefined) {
    await embedded.stop();
    await rm(embedded.directory, { recursive: true, force: true });
  }
}
