/**
 * The "New batch" page in a real browser: a manifest with bad rows is chosen, its rejects are shown with their lines
 * and its estimate by host and tier; a canary of one row is set and the batch started; the page lands on the batch
 * page, which waits for the canary's approval, is approved there, and finishes. A second dashboard with API tokens
 * still lets its own page start a batch (the CSRF token), while a script without a token is refused.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';
import pino from 'pino';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDashboard, type Dashboard } from '../../src/dashboard/server.js';
import { ImageBatch } from '../../src/library/image-batch.js';
import { loadConfig } from '../../src/providers/configuration.js';
import { ProviderSimulator } from '../../src/simulator/server.js';
import type { WorkerPool } from '../../src/worker/worker-pool.js';
import { launchBrowser } from '../helpers/browser.js';
import { removeTemporaryDirectories, temporaryDirectory } from '../helpers/files.js';
import { deleteKeysWithPrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { resultLines } from '../helpers/results.js';
import { simulatorEnvironment } from '../helpers/simulator-environment.js';

const prefix = uniquePrefix();
const log = pino({ level: 'silent' });
let simulator: ProviderSimulator;
let redis: Redis;
let browser: Browser;
let images: ImageBatch;
let workers: WorkerPool;
let out: string;
const dashboards: Dashboard[] = [];

beforeAll(async () => {
  simulator = new ProviderSimulator({ latencyMs: 300 });
  await simulator.start();
  out = await temporaryDirectory();
  const config = loadConfig({
    REDIS_URL: redisUrl(),
    IMAGE_BATCH_QUEUE_PREFIX: prefix,
    ...simulatorEnvironment(simulator.url, 'sk-browser'),
    IMAGE_BATCH_OUTPUT_ROOT: out,
  });
  redis = new Redis(redisUrl(), { maxRetriesPerRequest: null });
  browser = await launchBrowser();
  images = new ImageBatch({ config, log });
  workers = await images.startWorkers({ providers: ['openai'] });
  for (const tokens of ['', 'page-test-token-5d1c9e7a3b2f8064'])
    dashboards.push(
      await startDashboard({
        config: loadConfig({
          REDIS_URL: redisUrl(),
          IMAGE_BATCH_QUEUE_PREFIX: prefix,
          ...simulatorEnvironment(simulator.url, 'sk-browser'),
          IMAGE_BATCH_OUTPUT_ROOT: out,
          IMAGE_BATCH_API_TOKENS: tokens,
        }),
        redis,
        log,
        host: '127.0.0.1',
        port: 0,
        readOnly: false,
      }),
    );
});
afterAll(async () => {
  await browser?.close();
  await workers?.close();
  await images?.close();
  for (const dashboard of dashboards) await dashboard.close();
  redis?.disconnect();
  await simulator?.stop();
  await deleteKeysWithPrefix(prefix);
  await removeTemporaryDirectories();
});

describe('the New batch page', () => {
  it('shows rejects with their lines and the estimate, starts a canary batch, which is approved and finishes', async () => {
    const folder = await temporaryDirectory();
    const manifest = path.join(folder, 'posters.csv');
    await writeFile(
      manifest,
      [
        'id,prompt,resolution,provider',
        'p1,"A travel poster of Lisbon",1024x1024,openai',
        'p2,"A travel poster of Porto",1024x1024,openai',
        'p3,"<img src=x onerror=alert(1)>",banana,openai',
        'p4,"A travel poster of Braga",1024x1024,openai',
      ].join('\n'),
    );
    const page = await browser.newPage();
    const dialogs: string[] = [];
    page.on('dialog', (dialog) => void (dialogs.push(dialog.message()), dialog.dismiss()));
    await page.goto(`${dashboards[0]!.url}/`);
    await page.click('a[href="/batches/new"]');
    await page.setInputFiles('input[name="manifest"]', manifest);
    await expect
      .poll(async () => page.locator('#summary').textContent())
      .toMatch(/^4 rows read: 3 priced, 1 rejected/);
    const reject = await page.locator('#rejects tbody tr').allTextContents();
    expect(reject).toHaveLength(1);
    expect(reject[0]).toContain('4'); // the header is line 1: p3 is line 4
    expect(reject[0]).toContain('resolution');
    expect(await page.locator('#estimate tbody tr').first().textContent()).toMatch(
      /^openaistandard3\$0\.\d+/,
    );
    await page.fill('input[name="canary"]', '1');
    await page.click('#start');
    await page.waitForURL(/\/batches\/posters-[0-9a-f]{8}$/);
    const batchId = decodeURIComponent(new URL(page.url()).pathname.split('/').pop()!);
    await expect
      .poll(
        async () => {
          await page.reload();
          return page.locator('#state').textContent();
        },
        { timeout: 30_000 },
      )
      .toBe('awaiting approval');
    await page.click('button:has-text("Approve: run the 2 held rows")');
    await expect
      .poll(async () => (await page.locator('#cards').textContent())?.replace(/\s+/g, ' '), {
        timeout: 30_000,
      })
      .toContain('Completed3Failed0');
    expect((await resultLines(out, batchId)).map((line) => line.row_key).sort()).toEqual(['p1', 'p2', 'p4']);
    // The rejected prompt was shown as text, never run as HTML.
    expect(dialogs).toEqual([]);
  });

  it('lets its own page start a batch where API tokens are required, and refuses a script without one', async () => {
    const guarded = dashboards[1]!;
    const folder = await temporaryDirectory();
    const manifest = path.join(folder, 'guarded.jsonl');
    await writeFile(
      manifest,
      `${JSON.stringify({ id: 'g1', prompt: 'a guarded poster', provider: 'openai' })}\n`,
    );
    const page = await browser.newPage();
    await page.goto(`${guarded.url}/batches/new`);
    await page.setInputFiles('input[name="manifest"]', manifest);
    await expect.poll(async () => page.locator('#summary').textContent()).toMatch(/^1 rows read: 1 priced/);
    await page.click('#start');
    await page.waitForURL(/\/batches\/guarded-[0-9a-f]{8}$/);
    const script = await page.request.post(`${guarded.url}/api/batches`, {
      headers: { 'content-type': 'application/x-ndjson' },
      data: `${JSON.stringify({ id: 'g2', prompt: 'no token' })}\n`,
    });
    expect(script.status()).toBe(401);
  });
});
