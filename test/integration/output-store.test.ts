/**
 * The output store's contract, held by both implementations: the local directory and S3-compatible storage (s3rver on
 * loopback). What a worker writes is what a report, the dashboard and a recovering worker read back.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bufferOf,
  defaultOutputRoot,
  normalizeOutputRoot,
  type OutputStore,
} from '../../src/storage/output-store.js';
import { S3OutputStore, s3ClientConfig, s3SettingsFromEnv } from '../../src/storage/s3-store.js';
import { LocalOutputStore } from '../../src/storage/local-store.js';
import { storeOutputImage } from '../../src/storage/store-image.js';
import { removeTemporaryDirectories, temporaryDirectory } from '../helpers/files.js';
import { startObjectStorage, type ObjectStorage } from '../helpers/object-storage.js';

let storage: ObjectStorage;
let client: S3Client;

beforeAll(async () => {
  storage = await startObjectStorage();
  client = new S3Client({
    ...s3ClientConfig(s3SettingsFromEnv(storage.environment)),
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
});
afterAll(async () => {
  client.destroy();
  await storage.stop();
  await removeTemporaryDirectories();
});

const implementations: Array<[string, () => Promise<OutputStore>]> = [
  ['local directory', async () => new LocalOutputStore(await temporaryDirectory())],
  [
    'S3-compatible storage',
    () =>
      Promise.resolve(
        new S3OutputStore(`s3://${storage.bucket}/runs/${Math.random().toString(16).slice(2)}/`, client),
      ),
  ],
];

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

describe.each(implementations)('%s', (_name, makeStore) => {
  it('stores a staged image and lists and reads it back byte for byte', async () => {
    const store = await makeStore();
    const bytes = Buffer.from('not really a png, but bytes are bytes');
    const staged = await store.stagingPath('batch 1', 'images/row-1.png');
    await writeFile(staged, bytes);
    await store.putFile('batch 1', 'images/row-1.png', staged);
    await store.writeText('batch 1', 'summary.json', '{"rows":1}\n');

    const listed = await collect(store.list('batch 1'));
    expect(listed).toEqual(
      expect.arrayContaining([
        { path: 'images/row-1.png', bytes: bytes.length },
        { path: 'summary.json', bytes: 11 },
      ]),
    );
    expect(listed.some((object) => object.path.endsWith('.part'))).toBe(false);
    const read = await store.read('batch 1', 'images/row-1.png');
    expect(
      createHash('sha256')
        .update(await bufferOf(read!))
        .digest('hex'),
    ).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(await store.read('batch 1', 'images/missing.png')).toBeUndefined();
    expect(await collect(store.list('another batch'))).toEqual([]);
  });

  it('keeps one results line per row: a repair writes only the missing ones, a retry removes a failed one', async () => {
    const store = await makeStore();
    const line = (rowKey: string, status: string) => ({
      rowKey,
      text: JSON.stringify({ row_key: rowKey, status }),
    });
    expect(await collect(store.resultLines('b'))).toEqual([]);
    await store.writeResultLine('b', line('a', 'completed'));
    await store.writeResultLine('b', line('b/with slash', 'failed'));
    expect(await store.writeMissingResultLines('b', [line('a', 'completed'), line('c', 'completed')])).toBe(
      1,
    );
    const rows = (await collect(store.resultLines('b'))).map(
      (text) => JSON.parse(text) as { row_key: string },
    );
    expect(rows.map((row) => row.row_key).sort()).toEqual(['a', 'b/with slash', 'c']);

    await store.removeResultLines(
      'b',
      new Set(['b/with slash', 'a']),
      (text) => (JSON.parse(text) as { status: string }).status === 'failed',
    );
    const kept = (await collect(store.resultLines('b'))).map(
      (text) => JSON.parse(text) as { row_key: string },
    );
    expect(kept.map((row) => row.row_key).sort()).toEqual(['a', 'c']);
  });

  it('appends staged rejects to those already stored', async () => {
    const store = await makeStore();
    for (const text of ['{"line":1}\n', '{"line":2}\n']) {
      const staged = await store.stagingPath('b', 'rejects.jsonl');
      await writeFile(staged, text);
      await store.appendFile('b', 'rejects.jsonl', staged);
    }
    const read = await store.read('b', 'rejects.jsonl');
    expect((await bufferOf(read!)).toString()).toBe('{"line":1}\n{"line":2}\n');
  });

  it('refuses a path that climbs out of the batch', async () => {
    const store = await makeStore();
    const staged = await store.stagingPath('b', 'images/x.png');
    await writeFile(staged, 'x');
    await expect(store.putFile('b', '../other/x.png', staged)).rejects.toThrow(/outside the batch/);
  });
});

describe('staged files left by a killed worker (issue 18)', () => {
  it('are removed when the row is recovered, once older than the lock; a fresh one is left to its writer', async () => {
    const root = await temporaryDirectory();
    const store = new LocalOutputStore(root);
    const image = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#123456' } })
      .png()
      .toBuffer();
    const target = store.localPath('b', 'images/row-1.png');
    await mkdir(path.dirname(target), { recursive: true });
    const stale = `${target}.4242-deadbeef.part`;
    const fresh = `${target}.4343-cafef00d.part`;
    await writeFile(stale, 'half an image');
    await writeFile(fresh, 'being written');
    const hourAgo = new Date(Date.now() - 3600_000);
    await utimes(stale, hourAgo, hourAgo);
    await storeOutputImage(
      { kind: 'base64', data: image.toString('base64') },
      store,
      'b',
      'images/row-1.png',
      'png',
      {
        provider: 'fal',
        timeoutMs: 5000,
        maxBytes: 1_000_000,
        removeStagingOlderThanMs: 60_000,
      },
    );
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(fresh)).toBe(true);
    expect(existsSync(target)).toBe(true);
  });
});

describe('output roots', () => {
  it('defaults to s3://bucket/prefix when a bucket is set, and to ./output otherwise', () => {
    expect(defaultOutputRoot({})).toBe('output');
    expect(defaultOutputRoot({ IMAGE_BATCH_S3_BUCKET: 'team', IMAGE_BATCH_S3_PREFIX: '/images/' })).toBe(
      's3://team/images',
    );
    expect(normalizeOutputRoot('s3://team/images/')).toBe('s3://team/images');
    expect(normalizeOutputRoot('relative')).toMatch(/^\/.*\/relative$/);
  });

  it('names an S3 batch by its URL', () => {
    const store = new S3OutputStore('s3://team/images', client);
    expect(store.batchLocation('nightly 1')).toMatch(/^s3:\/\/team\/images\/nightly_1-[0-9a-f]{8}\/$/);
    expect(() => new S3OutputStore('/not/s3', client)).toThrow(/not an S3 location/);
  });
});
