/**
 * The producer with several chunks in flight: a row key repeated in the next chunk is still caught (chunks register in
 * manifest order), every other row becomes exactly one job, and enqueuing the same manifest again adds nothing.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, expect, it } from 'vitest';
import { enqueueManifests } from '../../src/producer/enqueue.js';
import { createProvider, loadConfig } from '../../src/providers/configuration.js';
import { BatchStore } from '../../src/batch/batch-store.js';
import { queueNameFor, rowKeyStem } from '../../src/shared/keys.js';
import { PriceCatalogue } from '../../src/cost/price-catalogue.js';
import { removeTemporaryDirectories, temporaryDirectory } from '../helpers/files.js';
import { jsonLine, manifestFolder, writeManifest } from '../helpers/manifests.js';
import { deleteKeysWithPrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';

const prefix = uniquePrefix();
afterAll(async () => {
  await deleteKeysWithPrefix(prefix);
  await removeTemporaryDirectories();
});

/** A batch of `manifest` in a fresh output folder, and an `enqueue()` of it in chunks of 3 rows. */
async function chunkedBatch(batchId: string, manifest: string) {
  const config = loadConfig({ REDIS_URL: redisUrl(), IMAGE_BATCH_QUEUE_PREFIX: prefix });
  const redis = new Redis(redisUrl(), { maxRetriesPerRequest: null });
  const store = new BatchStore(redis, prefix);
  const out = await temporaryDirectory();
  await store.ensureBatch(batchId, out, [manifest]);
  const enqueue = () =>
    enqueueManifests(
      {
        manifests: [manifest],
        batchId,
        defaultProvider: 'openai',
        outputRoot: out,
        dryRun: false,
        attempts: 3,
        backoffDelayMs: 1000,
        chunkSize: 3,
        log: pino({ level: 'silent' }),
      },
      {
        redis,
        store,
        queuePrefix: prefix,
        providerFor: (name) => createProvider(name, config),
        catalogue: new PriceCatalogue(),
      },
    );
  return { redis, store, out, enqueue };
}

it('catches a row key repeated in a chunk in flight beside the first, and a second enqueue of the manifest adds nothing', async () => {
  const rows = Array.from({ length: 40 }, (_, index) =>
    jsonLine({
      id: `row-${index}`,
      provider: 'openai',
      prompt: `chunked row ${index}`,
      resolution: '1024x1024',
    }),
  );
  // Line 5 repeats the id of line 3, one chunk of 3 rows later: both chunks are in flight together.
  rows.splice(4, 0, jsonLine({ id: 'row-2', provider: 'openai', prompt: 'a copy', resolution: '1024x1024' }));
  const manifest = await writeManifest(await manifestFolder(), 'chunks.jsonl', rows);
  const { redis, store, enqueue } = await chunkedBatch('chunks', manifest);
  try {
    const first = await enqueue();
    expect(first.rowsRead).toBe(41);
    expect(first.enqueued).toBe(40);
    expect(first.rejected).toBe(1);
    expect(first.rejectSamples[0]).toMatchObject({ line: 5, code: 'duplicate_row_key', row_key: 'row-2' });
    expect(first.rejectSamples[0]!.message).toContain(':3');
    expect(await redis.zcard(`${prefix}:${queueNameFor('openai')}:prioritized`)).toBe(40);

    const second = await enqueue();
    expect(second.enqueued).toBe(0);
    expect(second.alreadyEnqueued).toBe(40);
    expect(await redis.zcard(`${prefix}:${queueNameFor('openai')}:prioritized`)).toBe(40);
    expect((await store.status('chunks'))!.rows).toBe(40);
  } finally {
    redis.disconnect();
  }
});

it('rejects the second of two row keys whose stems collide (same job id, same file names), in a chunk and across chunks', async () => {
  // Found by search: the same stem ("k" and 22 "_") and the same first 32 bits of SHA-256.
  const [first, second] = ['k//////://:/::////://::', 'k/////://:://::////:://'];
  expect(rowKeyStem(first)).toBe(rowKeyStem(second));
  const line = (id: string) =>
    jsonLine({ id, provider: 'openai', prompt: `collision ${id}`, resolution: '1024x1024' });
  const rows = [line(first), line(second), line('x1'), line('x2'), line('x3'), line('x4'), line(second)];
  const manifest = await writeManifest(await manifestFolder(), 'collide.jsonl', rows);
  const { redis, store, out, enqueue } = await chunkedBatch('collide', manifest);
  try {
    const report = await enqueue();
    expect(report.enqueued).toBe(5);
    expect(report.rejected).toBe(2);
    expect(report.rejectSamples.map((reject) => [reject.line, reject.code])).toEqual([
      [2, 'row_key_collision'],
      [7, 'row_key_collision'],
    ]);
    const lines = (await readFile(path.join(out, 'collide', 'rejects.jsonl'), 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(report.rejected);
    expect((await store.status('collide'))!.pending).toBe(5);
  } finally {
    redis.disconnect();
  }
});

it('rejects a row key that differs from another only in case: their image files would be one on macOS and Windows', async () => {
  const line = (id: string) =>
    jsonLine({ id, provider: 'openai', prompt: `case ${id}`, resolution: '1024x1024' });
  const manifest = await writeManifest(await manifestFolder(), 'case.jsonl', [
    line('Kite'),
    line('x1'),
    line('x2'),
    line('x3'),
    line('kite'),
    line('KITE/2'),
    line('kite/2'),
  ]);
  const { redis, enqueue } = await chunkedBatch('case', manifest);
  try {
    const report = await enqueue();
    // KITE/2 and kite/2 are hashed into their stems, and their hashes differ: no file is shared.
    expect(report.enqueued).toBe(6);
    expect(report.rejectSamples.map((reject) => [reject.line, reject.code, reject.row_key])).toEqual([
      [5, 'row_key_collision', 'kite'],
    ]);
    expect(report.rejectSamples[0]!.message).toMatch(/only in case/);
  } finally {
    redis.disconnect();
  }
});
