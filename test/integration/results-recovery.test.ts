/**
 * A worker killed between recording a row's outcome in Redis and appending its results line: the line is kept in
 * Redis and written once by the next worker that meets the row.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { BatchStore } from '../../src/batch/batch-store.js';
import type { ImageJobData, ResultLine } from '../../src/shared/job-definitions.js';
import { flushPendingResultLines, recordRowOutcome } from '../../src/batch/row-outcome.js';
import { removeTemporaryDirectories, temporaryDirectory } from '../helpers/files.js';
import { deleteKeysWithPrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';

const prefix = uniquePrefix();
afterAll(async () => {
  await deleteKeysWithPrefix(prefix);
  await removeTemporaryDirectories();
});

const line = (rowKey: string): ResultLine => ({
  row_key: rowKey,
  prompt: 'p',
  manifest: 'm.jsonl',
  line: 1,
  status: 'completed',
  operation: 'generate',
  outputs: [],
  provider: 'oxen',
  account: 1,
  model: 'gpt-image-2',
  size_requested: null,
  hosts_tried: null,
  request_id: 'r',
  attempts: 1,
  resolution: '1024x768',
  resolution_tier: 'standard',
  cost_usd: 0.2,
  cost_usd_actual: null,
  cost_usd_difference: null,
  usage: null,
  error: null,
  finished_at: new Date().toISOString(),
});

describe('results lines after a crash', () => {
  it('writes a recorded but unwritten line exactly once, and leaves confirmed lines alone', async () => {
    const redis = new Redis(redisUrl());
    const store = new BatchStore(redis, prefix);
    const out = await temporaryDirectory();
    try {
      await store.ensureBatch('crashy', out, ['m.jsonl']);
      await store.rowIndex.register('crashy', [
        { rowKey: 'written', source: 'm.jsonl:1' },
        { rowKey: 'lost', source: 'm.jsonl:2' },
        { rowKey: 'fresh', source: 'm.jsonl:3' },
      ]);
      const data = (rowKey: string) => ({ batchId: 'crashy', rowKey, provider: 'oxen' }) as ImageJobData;
      expect(await recordRowOutcome(store, data('written'), line('written'), out)).toBe(true);
      // The "killed" worker: outcome recorded, line never appended.
      await store.recordOutcome('crashy', 'lost', {
        status: 'completed',
        tier: 'standard',
        images: 0,
        costUsd: 0.2,
        spentUsd: 0.2,
        provider: 'oxen',
        resultLine: `${Date.now() - 5000}|${JSON.stringify(line('lost'))}`,
      });
      const resultsPath = path.join(out, 'crashy', 'results.jsonl');
      const keys = async () =>
        (await readFile(resultsPath, 'utf8'))
          .trim()
          .split('\n')
          .map((text) => (JSON.parse(text) as ResultLine).row_key);
      expect(await keys()).toEqual(['written']);
      // A line recorded just now may still be on its way to the file: not taken.
      await store.recordOutcome('crashy', 'fresh', {
        status: 'completed',
        tier: 'standard',
        images: 0,
        costUsd: 0.2,
        spentUsd: 0.2,
        provider: 'oxen',
        resultLine: `${Date.now()}|${JSON.stringify(line('fresh'))}`,
      });
      expect(await flushPendingResultLines(store, 'crashy', out, 1000)).toBe(1);
      expect(await flushPendingResultLines(store, 'crashy', out, 1000)).toBe(0);
      expect(Object.keys(await store.pendingResultLines('crashy'))).toEqual(['fresh']);
      await store.confirmResultLine('crashy', 'fresh');
      expect((await keys()).sort()).toEqual(['lost', 'written']);
      expect(await store.pendingResultLines('crashy')).toEqual({});
    } finally {
      redis.disconnect();
    }
  });
});
