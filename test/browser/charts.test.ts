/**
 * The charts in a real browser with nothing but the dashboard reachable (the chart library is served by it, no CDN):
 * a batch over two hosts, one row refused, is drawn from its recorded timeline — rows per minute, spend against the
 * cap, latency per host, failures by reason, pending rows — and the batches page shows its last hour as a sparkline.
 * Writes docs/dashboard-charts.png when UPDATE_SCREENSHOTS=1.
 */
import path from 'node:path';
import { Redis } from 'ioredis';
import pino from 'pino';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchStore } from '../../src/batch/batch-store.js';
import { loadConfig } from '../../src/providers/configuration.js';
import { startDashboard } from '../../src/dashboard/server.js';
import type { BatchTimeline } from '../../src/batch/timeline.js';
import { startWorkerPool } from '../../src/worker/worker-pool.js';
import { launchBrowser } from '../helpers/browser.js';
import { runCliInProcess } from '../helpers/cli.js';
import { temporaryDirectory } from '../helpers/files.js';
import { jsonLine, manifestFolder, writeManifest } from '../helpers/manifests.js';
import { redisUrl } from '../helpers/redis.js';
import { simulatorSuite } from '../helpers/simulator-suite.js';

const suite = simulatorSuite();
const log = pino({ level: 'silent' });
let browser: Browser;
beforeAll(async () => {
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
});

const sum = (values: ReadonlyArray<number | null>) =>
  values.reduce<number>((total, value) => total + (value ?? 0), 0);

describe('charts in a browser', () => {
  it(
    'draw a finished batch from its timeline, offline, and the batches page shows its last hour',
    { timeout: 900_000 },
    async () => {
      // For the README's chart screenshot, a batch that spans a few minutes (rate limited); otherwise one quick minute.
      const screenshot = process.env.UPDATE_SCREENSHOTS === '1';
      const count = screenshot ? 90 : 8;
      const environment = suite.environment({
        OXEN_CONCURRENCY: '2',
        OPENAI_CONCURRENCY: '2',
        ...(screenshot ? { OXEN_REQUESTS_PER_MINUTE: '20', OPENAI_REQUESTS_PER_MINUTE: '12' } : {}),
      });
      const rows = Array.from({ length: count }, (_, index) =>
        jsonLine({
          id: `chart-${index}`,
          prompt: `a chart row ${index}`,
          provider: index % 2 === 0 ? 'oxen' : 'openai',
          resolution: '1024x1024',
        }),
      );
      const manifest = await writeManifest(await manifestFolder(), 'charts.jsonl', rows);
      const out = await temporaryDirectory();
      const enqueued = await runCliInProcess(
        ['enqueue', manifest, '--out', out, '--batch', 'charted', '--budget-usd', screenshot ? '25' : '5'],
        environment,
      );
      expect(enqueued.exitCode, enqueued.stdout + enqueued.stderr).toBe(0);
      suite.simulator().setLatency(600);
      suite.simulator().injectFaults([{ provider: 'openai', status: 400, times: 1 }]);
      const redis = new Redis(redisUrl(), { maxRetriesPerRequest: null });
      const config = loadConfig(environment);
      const store = new BatchStore(redis, config.queuePrefix);
      const pool = startWorkerPool({ config, redis, store, providers: ['oxen', 'openai'], log });
      const board = await startDashboard({ config, redis, log, host: '127.0.0.1', port: 0, readOnly: true });
      try {
        await expect
          .poll(async () => (await store.status('charted'))?.state, {
            timeout: screenshot ? 600_000 : 60_000,
          })
          .toBe('finished');
        const status = (await store.status('charted'))!;
        expect(status).toMatchObject({ completed: count - 1, failed: 1 });

        const page = await browser.newPage();
        // Offline: nothing but the dashboard answers (a CDN-hosted library would not load).
        const outside: string[] = [];
        await page.route('**/*', (route) => {
          if (route.request().url().startsWith(board.url)) return route.continue();
          outside.push(route.request().url());
          return route.abort();
        });
        await page.goto(`${board.url}/batches/charted`);
        await expect
          .poll(async () => page.locator('#chart-rows canvas').count(), { timeout: 10_000 })
          .toBeGreaterThan(0);
        const timeline = (await page.evaluate(
          () => (globalThis as unknown as { imageBatchTimeline: unknown }).imageBatchTimeline,
        )) as BatchTimeline;
        expect(sum(timeline.completed)).toBe(count - 1);
        expect(sum(timeline.failed)).toBe(1);
        expect(Object.keys(timeline.failuresByReason)).toEqual(['bad_request']);
        expect(timeline.spentUsd.at(-1)).toBeCloseTo(status.spentUsd, 6);
        expect(timeline.budgetUsd).toBe(screenshot ? 25 : 5);
        expect(timeline.pending.at(-1)).toBe(0);
        expect(Object.keys(timeline.latency).sort()).toEqual(['openai', 'oxen']);
        // 600 ms of simulated latency per request: p50 in the 1 s bucket or above, never below 0.5 s.
        for (const figures of Object.values(timeline.latency))
          expect(Math.max(...figures.p50.filter((value) => value !== null))).toBeGreaterThanOrEqual(1000);

        for (const key of ['rows', 'spend', 'latency', 'failures', 'depth']) {
          const canvas = await page.locator(`#chart-${key} canvas`).boundingBox();
          expect(canvas?.width, key).toBeGreaterThan(200);
        }
        const legend = await page.locator('#chart-latency .u-legend').textContent();
        expect(legend).toContain('oxen p50');
        expect(legend).toContain('openai p95');
        expect(await page.locator('#chart-spend .u-legend').textContent()).toContain('budget cap');
        expect(await page.locator('#chart-failures .u-legend').textContent()).toContain('bad_request');
        expect(outside).toEqual([]);
        if (screenshot) {
          await page.setViewportSize({ width: 1200, height: 900 });
          await page.waitForTimeout(600);
          await page.locator('#charts').screenshot({ path: path.resolve('docs/dashboard-charts.png') });
        }

        await page.goto(`${board.url}/`);
        const spark = page.locator('tr[data-batch="charted"] .last-hour svg');
        expect(await spark.getAttribute('aria-label')).toBe(`${count} rows finished in the last hour`);
      } finally {
        suite.simulator().setLatency(0);
        await board.close();
        await pool.close();
        redis.disconnect();
      }
    },
  );
});
