/**
 * Many machines, one place for the output: two worker processes share a batch and write its images and results lines
 * to S3-compatible storage (s3rver on loopback); the batch report then lists every object they stored.
 */
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import pino from 'pino';
import { startDashboard } from '../../src/dashboard/server.js';
import { BatchStore } from '../../src/batch/batch-store.js';
import { loadConfig } from '../../src/providers/configuration.js';
import type { ResultLine } from '../../src/shared/job-definitions.js';
import { bufferOf, type StoredObject } from '../../src/storage/output-store.js';
import { S3OutputStore, s3ClientConfig, s3SettingsFromEnv } from '../../src/storage/s3-store.js';
import { ProviderSimulator } from '../../src/simulator/server.js';
import { killSpawnedProcesses, runCliProcess, spawnCli } from '../helpers/cli.js';
import { removeTemporaryDirectories } from '../helpers/files.js';
import { jsonLine, manifestFolder, writeManifest } from '../helpers/manifests.js';
import { startObjectStorage, type ObjectStorage } from '../helpers/object-storage.js';
import { deleteKeysWithPrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { simulatorEnvironment } from '../helpers/simulator-environment.js';

let storage: ObjectStorage;
let simulator: ProviderSimulator;
const prefix = uniquePrefix();

beforeAll(async () => {
  storage = await startObjectStorage();
  simulator = new ProviderSimulator({ latencyMs: 150 });
  await simulator.start();
});
afterEach(killSpawnedProcesses);
afterAll(async () => {
  await simulator.stop();
  await storage.stop();
  await deleteKeysWithPrefix(prefix);
  await removeTemporaryDirectories();
});

it('two worker processes write one batch to S3-compatible storage; the report lists every object', async () => {
  const folder = await manifestFolder();
  const providers = ['openai', 'oxen', 'fal', 'replicate'] as const;
  const rows = Array.from({ length: 24 }, (_, index) =>
    jsonLine({
      id: `row-${index}`,
      provider: providers[index % providers.length],
      prompt: `shared storage row ${index}`,
      resolution: '1024x1024',
      ...(index % 3 === 0 ? { image_urls: ['images/dune.jpg'] } : {}),
    }),
  );
  const manifest = await writeManifest(folder, 'shared.jsonl', rows);
  const out = `s3://${storage.bucket}/team/nightly`;
  const environment = {
    REDIS_URL: redisUrl(),
    IMAGE_BATCH_QUEUE_PREFIX: prefix,
    ...simulatorEnvironment(simulator.url, 'anything'),
    ...storage.environment,
    LOG_LEVEL: 'info',
    ...Object.fromEntries(providers.map((name) => [`${name.toUpperCase()}_CONCURRENCY`, '2'])),
  };
  // Both workers wait on the queues before the first row arrives, and each takes few rows at once, so both take a share.
  const workers = [spawnCli(['worker'], environment), spawnCli(['worker'], environment)];
  const started = Date.now();
  while (
    !workers.every((worker) => worker.output().stdout.includes('Worker running')) &&
    Date.now() - started < 30_000
  )
    await new Promise((resolve) => setTimeout(resolve, 100));
  const enqueue = await runCliProcess(['enqueue', manifest, '--out', out, '--batch', 'shared'], environment);
  expect(enqueue.exitCode, enqueue.stderr).toBe(0);
  expect(enqueue.stdout).toContain('enqueued 24');

  const redis = new Redis(redisUrl());
  const store = new BatchStore(redis, prefix);
  try {
    const deadline = Date.now() + 60_000;
    while ((await store.status('shared'))!.pending > 0 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 200));
    const status = (await store.status('shared'))!;
    expect(status.completed).toBe(24);
    expect(status.outputDirectory).toBe(out);
  } finally {
    redis.disconnect();
  }
  for (const worker of workers) worker.kill('SIGTERM');
  await Promise.all(workers.map((worker) => new Promise((resolve) => worker.once('exit', resolve))));
  for (const worker of workers)
    expect(worker.output().stdout + worker.output().stderr).toContain('row completed');

  const report = await runCliProcess(['report', 'shared', '--objects', '--format', 'json'], environment);
  expect(report.exitCode, report.stderr).toBe(0);
  const figures = JSON.parse(report.stdout) as { location: string; objects: StoredObject[] };
  expect(figures.location).toBe(`${out}/shared/`);

  // Read the bucket directly, as another machine would.
  const client = new S3Client({
    ...s3ClientConfig(s3SettingsFromEnv(storage.environment)),
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  try {
    const bucket = new S3OutputStore(out, client);
    const lines: ResultLine[] = [];
    for await (const text of bucket.resultLines('shared')) lines.push(JSON.parse(text) as ResultLine);
    expect(lines.map((line) => line.row_key).sort()).toEqual(rows.map((_, index) => `row-${index}`).sort());
    const images = lines.flatMap((line) => line.outputs);
    expect(images).toHaveLength(24);
    const listed = new Map(figures.objects.map((object) => [object.path, object.bytes]));
    for (const image of images) {
      expect(listed.get(image.path)).toBe(image.bytes);
      const stored = await bufferOf((await bucket.read('shared', image.path))!);
      expect(createHash('sha256').update(stored).digest('hex')).toBe(image.sha256);
    }
    expect(listed.has('summary.json')).toBe(true);
    // Every object: the images, one results object per row, the summary; nothing else.
    expect(figures.objects).toHaveLength(24 + 24 + 1);
  } finally {
    client.destroy();
  }

  const table = await runCliProcess(['report', 'shared', '--objects'], environment);
  expect(table.stdout).toContain('49 stored objects');
  expect(table.stdout).toContain(`stored at ${out}/shared/`);

  // The dashboard, on yet another machine, reads the same batch from the bucket.
  Object.assign(process.env, storage.environment);
  const dashboardRedis = new Redis(redisUrl());
  const dashboard = await startDashboard({
    config: loadConfig(environment),
    redis: dashboardRedis,
    log: pino({ level: 'silent' }),
    host: '127.0.0.1',
    port: 0,
    readOnly: true,
  });
  try {
    const page = await (await fetch(`${dashboard.url}/batches/shared`)).text();
    const thumbnail = /\/batches\/shared\/thumbnails\/(images\/[^"]+)"/.exec(page)?.[1];
    expect(thumbnail).toBeDefined();
    const small = await fetch(`${dashboard.url}/batches/shared/thumbnails/${thumbnail!}`);
    expect(small.headers.get('content-type')).toBe('image/webp');
    const full = await fetch(`${dashboard.url}/batches/shared/files/${thumbnail!}`);
    expect(full.status).toBe(200);
    expect((await full.arrayBuffer()).byteLength).toBeGreaterThan(0);
    const csv = (await (await fetch(`${dashboard.url}/batches/shared/report.csv`)).text()).trim().split('\n');
    expect(csv).toHaveLength(1 + 24);
  } finally {
    await dashboard.close();
    dashboardRedis.disconnect();
  }
});
