/**
 * The dashboard in a real browser (playwright-core driving Debian's chromium, else @sparticuz/chromium's): progress moves to done, the batch page
 * shows thumbnails and a failure reason, a failed row is retried after a priced confirmation and completes, read-only
 * mode hides write actions, and missing credentials get 401. Takes the screenshot shown in docs/dashboard.md
 * (docs/dashboard-batch.png, rewritten when UPDATE_SCREENSHOTS=1).
 */
import path from 'node:path';
import { Redis } from 'ioredis';
import pino from 'pino';
import type { Browser } from 'playwright-core';
import { launchBrowser } from '../helpers/browser.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDashboard, type Dashboard } from '../../src/dashboard/server.js';
import { BatchStore } from '../../src/batch/batch-store.js';
import { loadConfig } from '../../src/providers/configuration.js';
import { ProviderSimulator } from '../../src/simulator/server.js';
import { startWorkerPool, type WorkerPool } from '../../src/worker/worker-pool.js';
import { runCliInProcess } from '../helpers/cli.js';
import { removeTemporaryDirectories, temporaryDirectory } from '../helpers/files.js';
import { jsonLine, manifestFolder, writeManifest } from '../helpers/manifests.js';
import { deleteKeysWithPrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { simulatorEnvironment } from '../helpers/simulator-environment.js';

const prefix = uniquePrefix();
const log = pino({ level: 'silent' });
let simulator: ProviderSimulator;
let redis: Redis;
let browser: Browser;
let pool: WorkerPool;
const dashboards: Dashboard[] = [];
let environment: Record<string, string>;

beforeAll(async () => {
  simulator = new ProviderSimulator({ latencyMs: 700 });
  await simulator.start();
  environment = {
    REDIS_URL: redisUrl(),
    IMAGE_BATCH_QUEUE_PREFIX: prefix,
    LOG_LEVEL: 'silent',
    ...simulatorEnvironment(simulator.url, 'sk-browser'),
    OXEN_CONCURRENCY: '1',
  };
  redis = new Redis(redisUrl(), { maxRetriesPerRequest: null });
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await pool?.close();
  for (const dashboard of dashboards) await dashboard.close();
  redis?.disconnect();
  await simulator?.stop();
  await deleteKeysWithPrefix(prefix);
  await removeTemporaryDirectories();
});

async function dashboard(
  options: { readOnly?: boolean; auth?: { user: string; password: string } } = {},
): Promise<Dashboard> {
  const started = await startDashboard({
    config: loadConfig(environment),
    redis,
    log,
    host: '127.0.0.1',
    port: 0,
    readOnly: options.readOnly ?? false,
    ...(options.auth === undefined ? {} : { auth: options.auth }),
  });
  dashboards.push(started);
  return started;
}

describe('dashboard in a browser', () => {
  it('follows a batch to done, shows thumbnails and a failure, retries the failed row, and hides writes when read-only', async () => {
    const folder = await manifestFolder();
    const manifest = await writeManifest(folder, 'browser.jsonl', [
      jsonLine({ id: 'flaky', prompt: 'a lighthouse at dawn', resolution: '1024x768' }),
      jsonLine({
        id: 'dune-edit',
        prompt: 'add camels to the dune',
        image_urls: ['images/dune.jpg'],
        resolution: '1024x768',
      }),
      jsonLine({
        id: 'storm-edit',
        prompt: 'a rainbow after the storm',
        image_urls: ['images/storm.jpg'],
        resolution: '1024x768',
      }),
      jsonLine({ id: 'ladybird', prompt: 'a ladybird on a leaf, macro', resolution: '1024x768' }),
    ]);
    const out = await temporaryDirectory();
    expect(
      (await runCliInProcess(['enqueue', manifest, '--out', out, '--batch', 'browser'], environment))
        .exitCode,
    ).toBe(0);
    // The first submission (row "flaky", concurrency 1) is refused once; its retry from the dashboard succeeds.
    simulator.injectFaults([
      {
        status: 400,
        body: {
          error: {
            type: 'invalid_params',
            title: 'Invalid parameters',
            detail: 'prompt: simulated rejection',
          },
        },
      },
    ]);
    const board = await dashboard();
    const page = await browser.newPage();
    await page.goto(`${board.url}/`);
    await expect
      .poll(async () => page.locator('tr[data-batch="browser"] .progress').textContent(), { timeout: 20_000 })
      .toMatch(/^[0-3] \/ 4$/);
    pool = startWorkerPool({
      config: loadConfig(environment),
      redis,
      store: new BatchStore(redis, prefix),
      providers: ['oxen'],
      log,
    });
    await expect
      .poll(async () => page.locator('tr[data-batch="browser"] .progress').textContent(), { timeout: 30_000 })
      .toBe('4 / 4');
    // One of the four rows failed: the bar shows it in the failed colour.
    const failedPart = await page.locator('tr[data-batch="browser"] .failed-part').boundingBox();
    expect(failedPart?.width).toBeGreaterThan(0);

    // The filter: a name no batch has leaves none, also after the live refresh; the batch's own name finds it.
    await page.fill('input[name="name"]', 'no-such-batch');
    await page.click('form.filter button');
    await page.waitForURL(/name=no-such-batch/);
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(await page.locator('#batches').textContent()).toContain('No batch matches the filter.');
    expect(await page.locator('tr[data-batch]').count()).toBe(0);
    await page.fill('input[name="name"]', 'BROW');
    await page.click('form.filter button');
    await page.waitForURL(/name=BROW/);
    expect(await page.locator('tr[data-batch="browser"] .progress').textContent()).toBe('4 / 4');
    expect(await page.locator('.pages').textContent()).toContain('Page 1 of 1');

    await page.click('a[href="/batches/browser"]');
    await expect.poll(async () => page.locator('#gallery img').count()).toBe(3);
    expect(await page.locator('#failures').textContent()).toContain('bad_request');
    expect(await page.locator('#failures').textContent()).toContain('simulated rejection');

    await page.click('#retry-failed');
    expect(await page.locator('#retry-count').textContent()).toBe('1');
    expect(await page.locator('#retry-estimate').textContent()).toMatch(/^\$0\.\d+/);
    await page.click('button:has-text("Retry 1 rows")');
    await page.waitForURL(`${board.url}/batches/browser`);
    await expect
      .poll(async () => (await page.locator('#cards').textContent())?.replace(/\s+/g, ' '), {
        timeout: 30_000,
      })
      .toContain('Completed4Failed0');
    await page.reload();
    await expect.poll(async () => page.locator('#gallery img').count()).toBe(4);
    expect(await page.locator('#failures').textContent()).toContain('No failed rows');
    const screenshot =
      process.env.UPDATE_SCREENSHOTS === '1'
        ? path.resolve('docs/dashboard-batch.png')
        : path.join(out, 'dashboard-batch.png');
    await page.setViewportSize({ width: 1200, height: 1000 });
    await page.waitForTimeout(600); // the charts redraw for the new width
    await page.screenshot({ path: screenshot, fullPage: true });

    const readOnly = await dashboard({ readOnly: true });
    const readOnlyPage = await browser.newPage();
    await readOnlyPage.goto(`${readOnly.url}/batches/browser`);
    expect(await readOnlyPage.locator('text=Read-only mode').count()).toBe(1);
    expect(await readOnlyPage.locator('button:has-text("Pause batch")').count()).toBe(0);
    expect(await readOnlyPage.locator('#retry-failed').count()).toBe(0);
    const refused = await fetch(`${readOnly.url}/batches/browser/pause`, { method: 'POST' });
    expect(refused.status).toBe(403);

    const guarded = await dashboard({ auth: { user: 'ops', password: 'hunter2' } });
    const anonymous = await browser.newPage();
    // Headless chromium turns a 401 challenge into a navigation error; the page's request context shows the status.
    const response = await anonymous.request.get(`${guarded.url}/`);
    expect(response.status()).toBe(401);
    expect(response.headers()['www-authenticate']).toMatch(/^Basic/);
  });

  it('shows a canary with its images and releases the held rows with the Approve button', async () => {
    const folder = await manifestFolder();
    const manifest = await writeManifest(
      folder,
      'canary.jsonl',
      ['a red fox', 'a blue heron', 'a green frog'].map((prompt, index) =>
        jsonLine({ id: `animal-${index}`, prompt, resolution: '1024x768' }),
      ),
    );
    const out = await temporaryDirectory();
    const enqueued = await runCliInProcess(
      ['enqueue', manifest, '--out', out, '--batch', 'canary-page', '--canary', '1'],
      environment,
    );
    expect(enqueued.stdout).toMatch(/Canary: 1 rows run first .*; 2 rows held/);
    pool ??= startWorkerPool({
      config: loadConfig(environment),
      redis,
      store: new BatchStore(redis, prefix),
      providers: ['oxen'],
      log,
    });
    const board = await dashboard();
    const page = await browser.newPage();
    await page.goto(`${board.url}/batches/canary-page`);
    await expect
      .poll(
        async () => {
          await page.reload();
          return page.locator('#state').textContent();
        },
        { timeout: 30_000 },
      )
      .toBe('awaiting approval');
    expect(await page.locator('#canary').textContent()).toMatch(/1 completed, 0 failed; 2 rows held/);
    // The canary row's outcome is recorded a moment before its results line is written (the gallery reads the line).
    await expect
      .poll(
        async () => {
          await page.reload();
          return page.locator('#gallery img').count();
        },
        { timeout: 10_000 },
      )
      .toBe(1);
    await page.click('button:has-text("Approve: run the 2 held rows")');
    await page.waitForURL(`${board.url}/batches/canary-page`);
    await expect
      .poll(async () => (await page.locator('#cards').textContent())?.replace(/\s+/g, ' '), {
        timeout: 30_000,
      })
      .toContain('Completed3Failed0');
    await page.reload();
    expect(await page.locator('#canary').count()).toBe(0);
    expect(await page.locator('#gallery img').count()).toBe(3);
  });
  it("changes a waiting batch's priority with the Set priority form and shows when it will miss its finish-by time", async () => {
    const folder = await manifestFolder();
    const manifest = await writeManifest(
      folder,
      'later.jsonl',
      ['a grey owl', 'a white hare'].map((prompt, index) =>
        jsonLine({ id: `later-${index}`, prompt, provider: 'wavespeed' }),
      ),
    );
    const out = await temporaryDirectory();
    // No worker serves WaveSpeedAI here: the rows wait, and 2 rows at 1 a minute cannot finish in 30 s.
    const enqueued = await runCliInProcess(
      [
        'enqueue',
        manifest,
        '--out',
        out,
        '--batch',
        'later',
        '--priority',
        'background',
        '--finish-by',
        '30s',
      ],
      { ...environment, WAVESPEED_REQUESTS_PER_MINUTE: '1' },
    );
    expect(enqueued.stdout).toMatch(/will be missed/);
    const board = await dashboard();
    const page = await browser.newPage();
    await page.goto(`${board.url}/`);
    expect(await page.locator('tr[data-batch="later"] .state.late').textContent()).toBe('late');
    await page.goto(`${board.url}/batches/later`);
    expect(await page.locator('#priority').textContent()).toBe('background');
    expect(await page.locator('#finish-by').textContent()).toMatch(
      /Late: due by .* expected to finish about/,
    );
    await page.selectOption('#priority-level', '1');
    await page.click('button:has-text("Set priority")');
    await page.waitForURL(`${board.url}/batches/later`);
    expect(await page.locator('#priority').textContent()).toBe('urgent');
    const status = await runCliInProcess(['status', 'later', '--json'], environment);
    expect((JSON.parse(status.stdout) as { priority: { level: number } }).priority.level).toBe(1);
  });
});
