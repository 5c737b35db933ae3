/**
 * Finds a Redis for the integration tests, once per run: REDIS_URL (or redis://127.0.0.1:6379) when it answers, else
 * one started with testcontainers where Docker runs, else a clear failure saying how to provide Redis.
 * Tests never flush it: each uses its own key prefix and deletes only its own keys.
 */
import { Redis } from 'ioredis';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
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

export async function setup(project: TestProject): Promise<void> {
  const candidate = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  if (await answers(candidate)) {
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
  await stopContainer?.();
}
