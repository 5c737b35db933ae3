/**
 * The batch's row index with each row's outcome in its record (src/batch/row-index.ts): the records a re-run relies on
 * to pay for nothing, whichever of a row's registration and its outcome reaches Redis first.
 */
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { BatchStore } from '../../src/batch/batch-store.js';
import { deleteKeysWithPrefix, redisUrl, rowRecords, uniquePrefix } from '../helpers/redis.js';

const prefixes: string[] = [];
afterEach(async () => {
  for (const prefix of prefixes.splice(0)) await deleteKeysWithPrefix(prefix);
});

function failedOutcome(provider: string) {
  return {
    status: 'failed' as const,
    tier: 'standard' as never,
    images: 0,
    costUsd: 0,
    spentUsd: 0,
    provider,
    errorCode: 'bad_request',
    resultLine: `${Date.now()}|{}`,
  };
}

describe('the row index', () => {
  it('keeps an outcome recorded before its row was registered (a job faster than its producer)', async () => {
    const prefix = uniquePrefix();
    prefixes.push(prefix);
    const redis = new Redis(redisUrl());
    const store = new BatchStore(redis, prefix);
    try {
      await store.ensureBatch('race', '/tmp/out', ['m.jsonl']);
      const rows = [
        { rowKey: 'Quick', source: 'm.jsonl:1' },
        { rowKey: 'slow', source: 'm.jsonl:2' },
      ];
      expect((await store.recordOutcome('race', 'Quick', failedOutcome('openai'))).recorded).toBe(true);
      expect(await store.rowIndex.register('race', rows)).toBe(2);
      expect(await store.rowIndex.register('race', rows)).toBe(0);
      expect((await store.status('race'))?.rows).toBe(2);
      expect(await store.rowIndex.classify('race', rows)).toEqual([
        { kind: 'present', finished: true },
        { kind: 'present', finished: false },
      ]);
      expect(await store.outcome('race', 'Quick')).toBe('failed');
      // The record names its row key (not its own identity) and where it came from, once.
      expect(Object.values(await rowRecords(redis, prefix, 'race')).sort()).toEqual(['-1:2', 'f1:1|Quick']);
      // Forgotten, the failure runs again; recorded twice, it counts once.
      expect(await store.forgetFailure('race', 'Quick', 'bad_request')).toBe(true);
      expect(await store.outcome('race', 'Quick')).toBeUndefined();
      expect((await store.recordOutcome('race', 'Quick', failedOutcome('openai'))).recorded).toBe(true);
      expect((await store.recordOutcome('race', 'Quick', failedOutcome('openai'))).recorded).toBe(false);
      expect((await store.status('race'))?.failed).toBe(1);
    } finally {
      redis.disconnect();
    }
  });
});
