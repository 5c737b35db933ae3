/**
 * A failing S3 under `--out` (issue 26), through a proxy in front of s3rver that answers 503 SlowDown and 500s, drops
 * uploads half-way, answers slowly, or is down: uploads are retried with the AWS SDK's standard retry strategy, a row
 * is completed only once its object is whole, an outage pauses the batch like a full disk, and nothing is paid twice.
 */
import { createHash } from 'node:crypto';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResultLine } from '../../src/shared/job-definitions.js';
import { bufferOf } from '../../src/storage/output-store.js';
import { runCliProcess } from '../helpers/cli.js';
import { startFlakyProxy, type FlakyProxy } from '../helpers/flaky-proxy.js';
import { jsonLine, manifestFolder, writeManifest } from '../helpers/manifests.js';
import { startObjectStorage, type ObjectStorage } from '../helpers/object-storage.js';
import { simulatorSuite } from '../helpers/simulator-suite.js';
import type { Readable } from 'node:stream';

const suite = simulatorSuite();
let storage: ObjectStorage;
let proxy: FlakyProxy;

beforeAll(async () => {
  storage = await startObjectStorage('s3-faults');
  proxy = await startFlakyProxy(storage.endpoint);
});
afterAll(async () => {
  await proxy.stop();
  await storage.stop();
});

/** The environment of a run writing to S3 through the proxy. */
const environment = (extra: Record<string, string> = {}) =>
  suite.environment({ ...storage.environment, IMAGE_BATCH_S3_ENDPOINT: proxy.url, ...extra });

/** OpenAI (base64 answers) and fal (URL answers) rows. */
async function manifestOf(batch: string, count: number): Promise<string> {
  const rows = Array.from({ length: count }, (_, index) => ({
    id: `r${index}`,
    provider: index % 2 === 0 ? 'openai' : 'fal',
    prompt: `${batch}: a harbour crane number ${index}`,
    quality: 'low',
    resolution: '1024x1024',
  }));
  return writeManifest(await manifestFolder(), `${batch}.jsonl`, rows.map(jsonLine));
}

function paidByPrompt(batch: string): number[] {
  return [...suite.simulator().submissionsByPrompt]
    .filter(([prompt]) => prompt.startsWith(`${batch}:`))
    .map(([, count]) => count);
}

/** The batch's results lines, and the SHA-256 of each stored object (read straight from s3rver). */
async function storedRows(batch: string): Promise<{ lines: ResultLine[]; digests: Map<string, string> }> {
  const client = new S3Client({
    region: 'us-east-1',
    endpoint: storage.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  const lines: ResultLine[] = [];
  const digests = new Map<string, string>();
  try {
    const list = await client.send(
      new ListObjectsV2Command({ Bucket: storage.bucket, Prefix: `runs/${batch}/` }),
    );
    for (const object of list.Contents ?? []) {
      const answer = await client.send(new GetObjectCommand({ Bucket: storage.bucket, Key: object.Key! }));
      const bytes = await bufferOf(answer.Body as Readable);
      const relative = object.Key!.slice(`runs/${batch}/`.length);
      if (relative.startsWith('results/')) lines.push(JSON.parse(bytes.toString('utf8')) as ResultLine);
      else digests.set(relative, createHash('sha256').update(bytes).digest('hex'));
    }
  } finally {
    client.destroy();
  }
  return { lines, digests };
}

describe('a failing S3 under --out', () => {
  it("retries SlowDown, 500s, slow answers and uploads dropped half-way with the SDK's retries: every row once, whole", async () => {
    proxy.failNext(['slowdown', 'drop', 'internal-error', 'slow', 'slowdown', 'drop', 'slow']);
    const batch = 's3-retried';
    const result = await runCliProcess(
      ['run', await manifestOf(batch, 8), '--out', `s3://${storage.bucket}/runs`, '--batch', batch],
      environment({ IMAGE_BATCH_S3_MAX_ATTEMPTS: '8' }),
    );
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    expect(proxy.failed.drop).toBeGreaterThanOrEqual(2);
    const { lines, digests } = await storedRows(batch);
    expect(lines).toHaveLength(8);
    for (const line of lines) {
      expect(line.status).toBe('completed');
      // The object is whole: its bytes are the ones the row's line describes.
      expect(digests.get(line.outputs[0]!.path)).toBe(line.outputs[0]!.sha256);
    }
    const paid = paidByPrompt(batch);
    expect(paid).toHaveLength(8);
    expect(paid.every((times) => times === 1)).toBe(true);
  });

  it('an S3 outage pauses the batch like a full disk; after it, paid rows are stored without paying again', async () => {
    const batch = 's3-outage';
    const manifest = await manifestOf(batch, 6);
    const command = ['run', manifest, '--out', `s3://${storage.bucket}/runs`, '--batch', batch];
    const quick = environment({ IMAGE_BATCH_S3_MAX_ATTEMPTS: '2' });
    proxy.outage(true);
    let first;
    try {
      first = await runCliProcess(command, quick);
    } finally {
      proxy.outage(false);
    }
    expect(first.stdout + first.stderr).toMatch(
      /Batch paused: the output storage is unavailable \(S3 PutObject failed/,
    );
    const paidDuring = paidByPrompt(batch);
    expect(paidDuring.length).toBeGreaterThan(0);
    expect(paidDuring.every((times) => times === 1)).toBe(true);
    const resumed = await runCliProcess(['resume', '--batch', batch], quick);
    expect(resumed.stdout).toMatch(
      /Resumed batch s3-outage \(it was paused: the output storage is unavailable/,
    );
    const second = await runCliProcess(command, quick);
    expect(second.exitCode, second.stdout + second.stderr).toBe(0);
    const { lines, digests } = await storedRows(batch);
    expect(lines).toHaveLength(6);
    expect(new Set(lines.map((line) => line.row_key)).size).toBe(6);
    for (const line of lines) expect(digests.get(line.outputs[0]!.path)).toBe(line.outputs[0]!.sha256);
    const paid = paidByPrompt(batch);
    expect(paid).toHaveLength(6);
    expect(paid.every((times) => times === 1)).toBe(true);
  });
});
