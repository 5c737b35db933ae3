/**
 * Finds a Redis for the integration tests, once per run: REDIS_URL (or redis://127.0.0.1:6379) when it answers, else
 * one started with testcontainers where Docker runs, else a clear failure saying how to provide Redis.
 * Tests never flush it: each uses its own key prefix and deletes only its own keys.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    /** Stem of every key prefix of this test run: the teardown deletes whatever is left under it. */
    testRunId: string;
  }
}

async function answers(url: string): Promise<boolean> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 2000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

let stopContainer: (() => Promise<unknown>) | undefined;
let usedUrl: string | undefined;
const testRunId = randomBytes(4).toString('hex');

export async function setup(project: TestProject): Promise<void> {
  project.provide('testRunId', testRunId);
  const candidate = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  if (await answers(candidate)) {
    usedUrl = candidate;
    project.provide('redisUrl', candidate);
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
      `The integration tests need Redis. None answers at ${candidate}, and testcontainers could not start one ` +
        `(${error instanceof Error ? error.message.split('\n')[0] : String(error)}). ` +
        'Start one (`docker compose up -d redis`, or `redis-server --port 6379`) or set REDIS_URL.',
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
}
