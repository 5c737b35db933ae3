/**
 * The dashboard over HTTP: batch pages show progress, failures by reason, search and thumbnails; bull-board answers
 * at /queues; files are served only from inside the batch; basic auth is enforced, and required beyond loopback.
 */
import { symlink } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import path from 'node:path';
import { Redis } from 'ioredis';
import pino from 'pino';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchStore } from '../../src/batch/batch-store.js';
import { startDashboard, type Dashboard } from '../../src/dashboard/server.js';
import { loadConfig } from '../../src/providers/configuration.js';
import { UsageError } from '../../src/shared/errors.js';
import { batchKeys, queueNameFor } from '../../src/shared/keys.js';
import { ProviderSimulator } from '../../src/simulator/server.js';
import { runCliInProcess } from '../helpers/cli.js';
import { removeTemporaryDirectories, temporaryDirectory } from '../helpers/files.js';
import { jsonLine, manifestFolder, writeManifest } from '../helpers/manifests.js';
import { deleteKeysWithPrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { simulatorEnvironment } from '../helpers/simulator-environment.js';

const prefix = uniquePrefix();
let simulator: ProviderSimulator;
let redis: Redis;
let dashboard: Dashboard;
let out: string;
let environment: Record<string, string>;
const log = pino({ level: 'silent' });

beforeAll(async () => {
  simulator = new ProviderSimulator();
  await simulator.start();
  environment = {
    REDIS_URL: redisUrl(),
    IMAGE_BATCH_QUEUE_PREFIX: prefix,
    LOG_LEVEL: 'silent',
    ...simulatorEnvironment(simulator.url, 'sk-dashboard'),
  };
  const folder = await manifestFolder();
  const manifest = await writeManifest(folder, 'dash.jsonl', [
    jsonLine({ id: 'kite', prompt: 'a red kite over the dunes', resolution: '1024x768' }),
    jsonLine({
      id: 'storm-edit',
      prompt: 'calm the storm',
      image_urls: ['images/storm.jpg'],
      resolution: '1024x1024',
    }),
    jsonLine({ id: 'refused', prompt: '[simulate:refuse] not allowed', resolution: '1024x768' }),
  ]);
  out = await temporaryDirectory();
  await runCliInProcess(['run', manifest, '--out', out, '--batch', 'dash'], environment);
  redis = new Redis(redisUrl());
  dashboard = await startDashboard({
    config: loadConfig(environment),
    redis,
    log,
    host: '127.0.0.1',
    port: 0,
    readOnly: false,
  });
});
afterAll(async () => {
  await dashboard.close();
  redis.disconnect();
  await simulator.stop();
  await deleteKeysWithPrefix(prefix);
  await removeTemporaryDirectories();
});

describe('dashboard', () => {
  it('lists batches with progress, failures and spend', async () => {
    const page = await (await fetch(`${dashboard.url}/`)).text();
    expect(page).toContain('href="/batches/dash"');
    expect(page).toMatch(/3 \/ 3<\/span> \(100%\)/);
    // A finished batch says when it finished (its last outcome), not "ETA 0 s".
    expect(page).toMatch(/<td class="eta">finished \d{4}-\d\d-\d\d \d\d:\d\d UTC<\/td>/);
    const batches = (await (await fetch(`${dashboard.url}/api/batches`)).json()) as Array<
      Record<string, unknown>
    >;
    expect(batches).toEqual([
      expect.objectContaining({ id: 'dash', completed: 2, failed: 1, pending: 0, state: 'finished' }),
    ]);
  });

  it('shows a batch: failures grouped by reason, search, and a thumbnail gallery linking to the files', async () => {
    const page = await (await fetch(`${dashboard.url}/batches/dash`)).text();
    expect(page).toMatch(/<b>content_policy<\/b> \(1\)/);
    expect(page).toContain('refused (oxen)');
    const thumbnails = [...page.matchAll(/src="(\/batches\/dash\/thumbnails\/[^"]+)"/g)].map(
      (match) => match[1]!,
    );
    expect(thumbnails).toHaveLength(2);
    const thumbnail = await fetch(`${dashboard.url}${thumbnails[0]}`);
    expect(thumbnail.headers.get('content-type')).toBe('image/webp');
    const image = path.basename(thumbnails[0]!);
    // A thumbnail says it is a derivative: in a header, in its file name, and in its own EXIF description.
    expect(thumbnail.headers.get('x-image-batch-derivative')).toBe(`thumbnail of images/${image}`);
    expect(thumbnail.headers.get('content-disposition')).toBe(`inline; filename="${image}.thumbnail.webp"`);
    const thumbnailBytes = Buffer.from(await thumbnail.arrayBuffer());
    const metadata = await sharp(thumbnailBytes).metadata();
    expect(metadata.width).toBe(256);
    expect(metadata.exif?.toString('latin1')).toContain(
      `Derivative: a 256-pixel-wide thumbnail of images/${image}`,
    );
    const file = await fetch(`${dashboard.url}${thumbnails[0]!.replace('/thumbnails/', '/files/')}`);
    expect(file.status).toBe(200);
    expect(file.headers.get('x-image-batch-derivative')).toBeNull();
    expect(Buffer.from(await file.arrayBuffer()).equals(thumbnailBytes)).toBe(false);
    // The cached thumbnails are never served as files of the batch.
    const cached = await fetch(`${dashboard.url}/batches/dash/files/.thumbnails/images__${image}.webp`);
    expect(cached.status).not.toBe(200);
    const search = await (await fetch(`${dashboard.url}/batches/dash?q=storm`)).text();
    expect(search).toContain('<td>storm-edit</td>');
    expect(search).not.toContain('<td>kite</td>');
  });

  it("lists a batch's failures from Redis when its results file could not be written", async () => {
    const store = new BatchStore(redis, prefix);
    // The worker recorded the outcome, then could not write results.jsonl (a full disk): there is none.
    await store.ensureBatch('unwritten', await temporaryDirectory(), ['m.jsonl']);
    const line = {
      row_key: 'lost-row',
      status: 'failed',
      provider: 'openai',
      outputs: [],
      error: { code: 'server_error', message: 'the host answered 500 three times' },
    };
    await store.recordOutcome('unwritten', 'lost-row', {
      status: 'failed',
      tier: 'standard',
      images: 0,
      costUsd: 0,
      spentUsd: 0,
      provider: 'openai',
      errorCode: 'server_error',
      resultLine: `${Date.now()}|${JSON.stringify(line)}`,
    });
    const response = await fetch(`${dashboard.url}/batches/unwritten`);
    expect(response.status).toBe(200);
    const page = await response.text();
    expect(page).toMatch(/server_error<\/b> \(1\)/);
    expect(page).toContain('lost-row (openai): the host answered 500 three times');
  });

  it('serves downloads, and nothing outside the batch directory', async () => {
    expect(
      (await (await fetch(`${dashboard.url}/batches/dash/results.jsonl`)).text()).trim().split('\n'),
    ).toHaveLength(3);
    expect(await (await fetch(`${dashboard.url}/batches/dash/report.csv`)).text()).toMatch(
      /^row_key,manifest,line/,
    );
    for (const attempt of [
      '../../../../etc/passwd',
      '..%2F..%2F..%2Fetc%2Fpasswd',
      '.thumbnails/x',
      'results.jsonl/../../x',
    ]) {
      const response = await fetch(`${dashboard.url}/batches/dash/files/${attempt}`);
      expect(response.status).toBe(404);
    }
  });

  it('follows no link out of the batch, and answers 404, not 500, to a NUL in a file name (issue 18)', async () => {
    await symlink('/etc/passwd', path.join(out, 'dash', 'images', 'planted.png'));
    for (const route of ['files', 'thumbnails']) {
      const response = await fetch(`${dashboard.url}/batches/dash/${route}/images/planted.png`);
      expect(response.status).toBe(404);
      expect(await response.text()).not.toContain('root:');
    }
    expect((await fetch(`${dashboard.url}/batches/dash/files/%00`)).status).toBe(404);
    expect((await fetch(`${dashboard.url}/batches/dash/files/images%2F%00.png`)).status).toBe(404);
  });

  it('answers only to its own host names (DNS rebinding) and keeps bull-board writes same-origin, without retries', async () => {
    const { port } = new URL(dashboard.url);
    const asHost = (host: string) =>
      new Promise<number>((resolve, reject) => {
        const request = httpRequest({ host: '127.0.0.1', port, path: '/', headers: { host } }, (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        });
        request.on('error', reject);
        request.end();
      });
    expect(await asHost(`attacker.example:${port}`)).toBe(421);
    expect(await asHost(`localhost:${port}`)).toBe(200);
    const crossSite = await fetch(`${dashboard.url}/queues/api/queues/provider-oxen/add`, {
      method: 'POST',
      headers: { origin: 'http://attacker.example', 'content-type': 'text/plain' },
      body: JSON.stringify({ name: 'x', data: {} }),
    });
    expect(crossSite.status).toBe(403);
    const retry = await fetch(`${dashboard.url}/queues/api/queues/provider-oxen/retry/failed`, {
      method: 'PUT',
      headers: { origin: dashboard.url },
    });
    expect(retry.status).toBe(403);
    expect(await retry.text()).toMatch(/retries of paid jobs are off/);
  });

  it('listens on [::1] written as in a URL (issue 18: it exited with a stack trace)', async () => {
    const ipv6 = await startDashboard({
      config: loadConfig(environment),
      redis,
      log,
      host: '[::1]',
      port: 0,
      readOnly: true,
    });
    try {
      expect(ipv6.url).toMatch(/^http:\/\/\[::1\]:\d+$/);
      expect((await fetch(`${ipv6.url}/`)).status).toBe(200);
    } finally {
      await ipv6.close();
    }
  });

  it('names a provider queue paused for its account on the batches page', async () => {
    const { ProviderHealth } = await import('../../src/batch/provider-health.js');
    const { Queue } = await import('bullmq');
    const health = new ProviderHealth(redis, prefix, { threshold: 5, openMs: 1000 });
    const queue = new Queue(queueNameFor('fal'), { connection: redis, prefix });
    await health.setPauseReason('fal', 'out of credit: fal.ai: Exhausted balance');
    await queue.pause();
    try {
      const page = await (await fetch(`${dashboard.url}/`)).text();
      expect(page).toContain('Provider paused — fal: out of credit: fal.ai: Exhausted balance');
      expect(page).toContain('image-batch resume fal');
    } finally {
      await queue.resume();
      await health.clearPauseReason('fal');
      await queue.close();
    }
  });

  it("shows a batch's hosts: rows routed to each, images and spend, and a host set aside with why", async () => {
    const { ProviderHealth } = await import('../../src/batch/provider-health.js');
    const health = new ProviderHealth(redis, prefix, { threshold: 5, openMs: 1000 });
    await redis.hset(batchKeys(prefix, 'dash').routedTo, 'oxen', '2');
    await health.setPauseReason('openai', 'authentication failed: OpenAI: Incorrect API key provided.');
    try {
      const page = await (await fetch(`${dashboard.url}/batches/dash`)).text();
      const hosts = page.slice(page.indexOf('<section id="hosts">'));
      expect(hosts).toMatch(/<td>oxen<\/td><td>2<\/td><td>[1-9]\d*<\/td><td>\$[\d.]+<\/td><td>open<\/td>/);
      expect(hosts).toContain(
        '<b>set aside</b>: paused for its account — authentication failed: OpenAI: Incorrect API key provided.',
      );
    } finally {
      await health.clearPauseReason('openai');
      await redis.hdel(batchKeys(prefix, 'dash').routedTo, 'oxen');
    }
  });

  it("prices a retry of the failed rows with the batch's own pricing file, as its workers do", async () => {
    const estimate = async () =>
      /id="retry-estimate">([^<]+)</.exec(
        await (await fetch(`${dashboard.url}/batches/dash/retry-failed`)).text(),
      )?.[1];
    const builtIn = await estimate();
    expect(builtIn).toMatch(/^\$0\.\d+/);
    const store = new BatchStore(redis, prefix);
    const stored = await store.pricing('dash');
    await store.setPricing('dash', JSON.stringify({ providers: { oxen: { per_image_usd: 1.25 } } }));
    try {
      expect(await estimate()).toBe('$1.25');
    } finally {
      if (stored === undefined) await redis.hdel(batchKeys(prefix, 'dash').meta, 'pricing');
      else await store.setPricing('dash', stored);
    }
  });

  it('serves Prometheus metrics of the queues', async () => {
    const text = await (await fetch(`${dashboard.url}/metrics`)).text();
    // Oxen's queue mode is asynchronous: three submissions accepted, two collected, one failed in its collection. Jobs
    // are removed once they complete (the row's outcome is in the batch's records); a failed one stays for a retry.
    expect(text).toMatch(/image_batch_jobs\{provider="oxen",queue="submit",state="completed"\} 0/);
    expect(text).toMatch(/image_batch_jobs\{provider="oxen",queue="collect",state="completed"\} 0/);
    expect(text).toMatch(/image_batch_jobs\{provider="oxen",queue="collect",state="failed"\} 1/);
  });

  it('mounts bull-board for the provider queues', async () => {
    const response = await fetch(`${dashboard.url}/queues`);
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('image-batch queues');
    const api = (await (await fetch(`${dashboard.url}/queues/api/queues`)).json()) as {
      queues: Array<{ name: string; displayName?: string }>;
    };
    // Each queue its own hash tag in Redis (`{provider-fal}`), shown by its name.
    expect(api.queues.map((queue) => queue.name)).toContain('{provider-fal}');
    expect(api.queues.map((queue) => queue.displayName).sort()).toEqual(
      ['fal', 'openai', 'oxen', 'replicate', 'wavespeed']
        .flatMap((name) => [`provider-${name}`, `provider-${name}-collect`])
        .sort(),
    );
  });

  it('asks for basic auth when configured, and refuses a non-loopback address without it', async () => {
    const config = loadConfig({ REDIS_URL: redisUrl(), IMAGE_BATCH_QUEUE_PREFIX: prefix });
    const guarded = await startDashboard({
      config,
      redis,
      log,
      host: '127.0.0.1',
      port: 0,
      readOnly: true,
      auth: { user: 'ops', password: 's3cret' },
    });
    try {
      expect((await fetch(`${guarded.url}/`)).status).toBe(401);
      expect((await fetch(`${guarded.url}/queues`)).status).toBe(401);
      const authorization = `Basic ${Buffer.from('ops:s3cret').toString('base64')}`;
      expect((await fetch(`${guarded.url}/`, { headers: { authorization } })).status).toBe(200);
    } finally {
      await guarded.close();
    }
    await expect(
      startDashboard({ config, redis, log, host: '0.0.0.0', port: 0, readOnly: true }),
    ).rejects.toBeInstanceOf(UsageError);
  });
});
