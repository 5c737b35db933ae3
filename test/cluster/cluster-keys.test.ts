/**
 * On a Redis Cluster (issue 27; the cluster project's global setup starts three masters): every Lua script of
 * image-batch runs there — each touches the keys of one hash slot — and the queues and batches of a run spread over
 * the masters instead of sitting in one slot.
 */
import { createHash, randomBytes } from 'node:crypto';
import pino from 'pino';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BatchStore } from '../../src/batch/batch-store.js';
import { stalledEvent } from '../../src/batch/notifications/events.js';
import { Notifier } from '../../src/batch/notifications/notifier.js';
import { ParkedRequests } from '../../src/batch/parked-requests.js';
import { ProviderHealth } from '../../src/batch/provider-health.js';
import { RowHosts } from '../../src/batch/row-hosts.js';
import { TierSizeRecords } from '../../src/batch/tier-size-book.js';
import { batchKeys, providerKey } from '../../src/shared/keys.js';
import type { ImageJobData } from '../../src/shared/job-definitions.js';
import { isCluster, type RedisConnection } from '../../src/shared/redis.js';
import { admitRequest } from '../../src/worker/admission.js';
import { HostCapacity } from '../../src/worker/host-capacity.js';
import { PollBudget } from '../../src/worker/poll-budget.js';
import { runCliInProcess } from '../helpers/cli.js';
import { temporaryDirectory } from '../helpers/files.js';
import { rowsPerProviderManifest } from '../helpers/manifests.js';
import { keysMatching, openTestRedis } from '../helpers/redis.js';
import { simulatorSuite } from '../helpers/simulator-suite.js';

const suite = simulatorSuite();
const sourceFolder = fileURLToPath(new URL('../../src/', import.meta.url));

let redis: RedisConnection;
beforeEach(async () => {
  redis = openTestRedis({ maxRetriesPerRequest: null });
  await keysMatching(redis, 'none'); // connected, slots known
});
afterEach(() => redis.disconnect());

/** SHA1 of every `.lua` file under src/, by its path there: what EVALSHA names each script by. */
async function everyScript(): Promise<Map<string, string>> {
  const scripts = new Map<string, string>();
  for (const entry of await readdir(sourceFolder, { recursive: true })) {
    if (!entry.endsWith('.lua')) continue;
    const text = await readFile(path.join(sourceFolder, entry));
    scripts.set(entry, createHash('sha1').update(text).digest('hex'));
  }
  return scripts;
}

/** Scripts of `scripts` that no master of the cluster holds (never run there). */
async function scriptsNotRun(scripts: Map<string, string>): Promise<string[]> {
  if (!isCluster(redis)) throw new Error('the cluster project runs on a Redis Cluster');
  const shas = [...scripts.values()];
  const held = new Set<string>();
  for (const node of redis.nodes('master')) {
    const flags = (await node.script('EXISTS', ...shas)) as number[];
    flags.forEach((flag, index) => flag === 1 && held.add(shas[index]!));
  }
  return [...scripts].filter(([, sha]) => !held.has(sha)).map(([file]) => file);
}

function row(batchId: string, rowKey: string, extra: Partial<ImageJobData> = {}): ImageJobData {
  return {
    batchId,
    rowKey,
    source: { manifest: 'm.jsonl', line: 1 },
    provider: 'openai',
    operation: 'generate',
    prompt: `cluster ${rowKey}`,
    inputImages: [],
    resolution: '1024x1024',
    numImages: 1,
    outputFormat: 'png',
    ...extra,
  };
}

describe('on a Redis Cluster', () => {
  it('every Lua script runs, each on the keys of one slot: batch records, budget, routing, hosts, Batch API', async () => {
    const prefix = suite.prefix();
    const store = new BatchStore(redis, prefix);
    const batch = 'lua';
    await store.ensureBatch(batch, '/tmp/out', ['m.jsonl']);

    // The row index: register, then classify (known, finished or new).
    const rows = [
      { rowKey: 'a', source: 'm.jsonl:1' },
      { rowKey: 'b', source: 'm.jsonl:2' },
    ];
    expect(await store.rowIndex.register(batch, rows)).toBe(2);
    expect(
      (await store.rowIndex.classify(batch, [...rows, { rowKey: 'c', source: 'm.jsonl:3' }])).map(
        (r) => r.kind,
      ),
    ).toEqual(['present', 'present', 'new']);
    expect(await store.recordReject(batch, 'm.jsonl:4:bad_field')).toBe(true);
    expect(await store.recordReject(batch, 'm.jsonl:4:bad_field')).toBe(false);

    // Admission under a cap of one row (the host's Retry-After is read from its own slot), release, outcome.
    await store.budget.setBudget(batch, 0.3);
    const retryAfterKey = providerKey(prefix, 'openai', 'retry-after');
    expect(
      (await admitRequest(redis, prefix, row(batch, 'a'), 0.2, { mode: 'submit', retryAfterKey })).kind,
    ).toBe('go');
    expect(
      (await admitRequest(redis, prefix, row(batch, 'b'), 0.2, { mode: 'submit', retryAfterKey })).kind,
    ).toBe('budget');
    await redis.set(retryAfterKey, '1', 'PX', 60_000);
    expect(
      (await admitRequest(redis, prefix, row(batch, 'c'), 0, { mode: 'submit', retryAfterKey })).kind,
    ).toBe('wait');
    await store.budget.release(batch, 'a');
    expect(await redis.hget(batchKeys(prefix, batch).budget, 'reserved')).toBe('0');
    const outcome = {
      status: 'failed' as const,
      tier: 'standard' as never,
      images: 0,
      costUsd: 0,
      spentUsd: 0,
      provider: 'openai',
      errorCode: 'bad_request',
      resultLine: `${Date.now()}|{}`,
    };
    expect((await store.recordOutcome(batch, 'a', outcome)).recorded).toBe(true);
    expect((await store.recordOutcome(batch, 'a', outcome)).recorded).toBe(false);
    expect(await store.forgetFailure(batch, 'a', 'bad_request')).toBe(true);

    // A routed row moves from one host to another once.
    const hosts = new RowHosts(redis, prefix);
    await redis.hset(batchKeys(prefix, batch).hosts, 'a', 'openai');
    expect(await hosts.move(batch, 'a', 'openai', 'fal')).toBe(true);
    expect(await hosts.move(batch, 'a', 'openai', 'wavespeed')).toBe(false);

    // A host's own scripts: rate buckets, poll budget, breaker, tier sizes, parked requests.
    const capacity = new HostCapacity(redis, prefix);
    const limits = { requestsPerMinute: 0, imagesPerMinute: 1, tokensPerMinute: 0 };
    expect(await capacity.take('openai', row(batch, 'a'), limits)).toBe(0);
    expect(await capacity.take('openai', row(batch, 'b'), limits)).toBeGreaterThan(0);
    await new PollBudget(redis, prefix, () => 60).take('fal', AbortSignal.timeout(5_000));
    const health = new ProviderHealth(redis, prefix, { threshold: 2, openMs: 1_000 });
    expect(await health.recordFailure('fal')).toBeUndefined();
    expect(await health.recordFailure('fal')).toBe(1_000);
    expect(
      await new TierSizeRecords(redis, prefix).record('oxen', '1:1', 'standard', {
        width: 1024,
        height: 1024,
      }),
    ).toBe(true);
    const parked = new ParkedRequests(redis, prefix);
    const request = { requestIds: ['r1'], submittedAt: Date.now() } as never;
    await parked.park('fal', { jobId: 'job-1', request, deadlineAt: Date.now() + 60_000 }, Date.now() - 1);
    expect((await parked.claimDue('fal', Date.now(), 10, 30_000)).map((entry) => entry.jobId)).toEqual([
      'job-1',
    ]);

    // The OpenAI Batch API's waiting lists and request-file groups.
    const records = store.openaiBatches;
    await store.budget.setBudget(batch, undefined);
    expect(await records.addWaiting(batch, [row(batch, 'x'), row(batch, 'y'), row(batch, 'z')])).toBe(3);
    expect(await records.addWaiting(batch, [row(batch, 'x')])).toBe(0);
    expect(await records.activeBatches()).toEqual([batch]);
    const group = { id: 'g1', operation: 'generate' as const };
    expect(await records.claimGroup(batch, group, 3)).toHaveLength(3);
    expect(await records.returnRows(batch, group, ['x'])).toBe(1);
    expect(await records.returnGroup(batch, group)).toBe(2);
    expect(await records.waitingCount(batch, 'generate')).toBe(3);

    // A batch event taken once (its receiver here refuses the connection: the event is recorded failed).
    const notifier = new Notifier({
      redis,
      prefix,
      secret: `whsec_${randomBytes(32).toString('base64')}`,
      log: pino({ level: 'silent' }),
      attempts: 1,
    });
    await notifier.setTarget(batch, 'http://127.0.0.1:9/events');
    notifier.send(batch, stalledEvent((await store.status(batch))!, 60_000));
    notifier.send(batch, stalledEvent((await store.status(batch))!, 60_000));
    await notifier.settled();
    expect(await redis.hget(batchKeys(prefix, batch).notifications, 'batch.stalled')).toMatch(/^failed\|/);

    expect(await scriptsNotRun(await everyScript())).toEqual([]);
  });

  it('spreads the provider queues and the batches over the masters; a batch keeps every key in one slot', async () => {
    const manifest = await rowsPerProviderManifest('spread', 2, [
      'openai',
      'fal',
      'oxen',
      'replicate',
      'wavespeed',
    ]);
    const out = await temporaryDirectory();
    const environment = suite.environment();
    for (const batch of ['spread-1', 'spread-2', 'spread-3']) {
      const result = await runCliInProcess(
        ['run', manifest, '--out', out, '--batch', batch, '--requests-per-minute', '0'],
        environment,
      );
      expect(result.stdout, result.stdout + result.stderr).toMatch(/10 completed, 0 failed, 0 pending/);
    }
    if (!isCluster(redis)) throw new Error('the cluster project runs on a Redis Cluster');
    const keysPerMaster = await Promise.all(
      redis.nodes('master').map((node) => keysMatching(node, `${suite.prefix()}:*`)),
    );
    // Each master holds some of it: queues (one hash tag each), batches and hosts land in different slots.
    expect(keysPerMaster.map((keys) => keys.length).filter((count) => count > 0)).toHaveLength(3);
    for (const batch of ['spread-1', 'spread-2', 'spread-3']) {
      const holders = keysPerMaster.filter((keys) => keys.some((key) => key.includes(`:batch:{${batch}}:`)));
      expect(holders, `the records of ${batch} sit on one master`).toHaveLength(1);
    }
  });
});
