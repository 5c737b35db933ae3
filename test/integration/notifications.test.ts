/**
 * Batch events (`--notify URL`, docs/notifications.md): started and finished once each, signed per Standard
 * Webhooks, retried with the same message id, sent once per batch whichever process sees them, taken over after a
 * sender died, never touching rows when the receiver is down; canary ready, budget reached, stalled and provider
 * paused from what the workers see; the URL and the secret never stored in Redis.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { BatchStore } from '../../src/batch/batch-store.js';
import { watchBatch, type BatchWatchOptions } from '../../src/batch/notifications/batch-watch.js';
import { Notifier } from '../../src/batch/notifications/notifier.js';
import { verifyWebhook } from '../../src/providers/replicate/webhook-signature.js';
import { loadConfig } from '../../src/providers/configuration.js';
import { batchKeys } from '../../src/shared/keys.js';
import { startWorkerPool } from '../../src/worker/worker-pool.js';
import { runCliInProcess, startCliInProcess, waitForOutput } from '../helpers/cli.js';
import { startEventReceiver, type EventReceiver } from '../helpers/event-receiver.js';
import { temporaryDirectory } from '../helpers/files.js';
import { jsonLine, manifestFolder, writeManifest } from '../helpers/manifests.js';
import { redisUrl, storedText } from '../helpers/redis.js';
import { resultLines } from '../helpers/results.js';
import { simulatorSuite } from '../helpers/simulator-suite.js';

const suite = simulatorSuite();
const secret = `whsec_${randomBytes(32).toString('base64')}`;
const environment = (extra: Record<string, string> = {}) =>
  suite.environment({
    IMAGE_BATCH_NOTIFY_SECRET: secret,
    IMAGE_BATCH_NOTIFY_CHECK_MS: '100',
    ...extra,
  });
const silent = pino({ level: 'silent' });

let receivers: EventReceiver[] = [];
async function receiver(): Promise<EventReceiver> {
  const started = await startEventReceiver();
  receivers.push(started);
  return started;
}
afterEach(async () => {
  await Promise.all(receivers.map((started) => started.close()));
  receivers = [];
});

async function manifestOf(tag: string, count: number, extra: Record<string, unknown> = {}): Promise<string> {
  const rows = Array.from({ length: count }, (_, index) =>
    jsonLine({ id: `r${index}`, prompt: `${tag} #${index}`, resolution: '1024x1024', ...extra }),
  );
  return writeManifest(await manifestFolder(), `${tag}.jsonl`, rows);
}

/** The batch's event records in Redis (target sealed, each event's delivery). */
async function eventRecords(batch: string): Promise<Record<string, string>> {
  const redis = new Redis(redisUrl());
  try {
    return await redis.hgetall(batchKeys(suite.prefix(), batch).notifications);
  } finally {
    redis.disconnect();
  }
}

describe('batch events', () => {
  it('run --notify: started then finished, once each, signed, with counts, cost and outputs; URL and secret never in Redis', async () => {
    const events = await receiver();
    const manifest = await manifestOf('notify-run', 3);
    const out = await temporaryDirectory();
    const args = ['run', manifest, '--out', out, '--batch', 'told', '--notify', events.url()];
    const result = await runCliInProcess(args, environment());
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);

    expect(events.accepted().map((event) => event.type)).toEqual(['batch.started', 'batch.finished']);
    const [started, finished] = events.accepted();
    expect(started!.data).toMatchObject({ batch_id: 'told', counts: { rows: 3, rejected: 0 } });
    expect(started!.data.estimate_usd).toBeGreaterThan(0);
    expect(finished!.data).toMatchObject({
      batch_id: 'told',
      counts: { rows: 3, completed: 3, failed: 0, pending: 0 },
      estimate_usd: started!.data.estimate_usd,
    });
    const lines = await resultLines(out, 'told');
    const cost = lines.reduce((sum, line) => sum + line.cost_usd, 0);
    expect(finished!.data.cost_usd).toBeCloseTo(cost, 6);
    expect(finished!.data.outputs.results).toBe(`${out}/told/results.jsonl`);
    expect(finished!.text).toMatch(/batch told finished: 3 completed, 0 failed/);
    // Signed per Standard Webhooks: the receiver can verify each delivery with the shared secret.
    for (const delivery of events.received) {
      const signed = {
        id: delivery.headers['webhook-id'] as string,
        timestamp: delivery.headers['webhook-timestamp'] as string,
        signature: delivery.headers['webhook-signature'] as string,
      };
      expect(verifyWebhook({ ...signed, body: delivery.body }, secret)).toBe(true);
      expect(
        verifyWebhook({ ...signed, body: delivery.body }, `whsec_${randomBytes(32).toString('base64')}`),
      ).toBe(false);
    }
    expect((await eventRecords('told'))['batch.finished']).toMatch(/^delivered\|/);
    const stored = await storedText(suite.prefix());
    expect(stored).not.toContain(events.url());
    expect(stored).not.toContain(secret);

    // Each event once per batch: running the same batch again tells nothing new.
    const again = await runCliInProcess(args, environment());
    expect(again.exitCode, again.stdout + again.stderr).toBe(0);
    expect(events.received).toHaveLength(2);
  });

  it('a receiver that refuses twice gets the event on the third try, with the same message id each time', async () => {
    const events = await receiver();
    events.refuse(2, 503);
    const manifest = await manifestOf('notify-retry', 1);
    const out = await temporaryDirectory();
    const result = await runCliInProcess(
      ['enqueue', manifest, '--out', out, '--batch', 'retried', '--notify', events.url()],
      environment(),
    );
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    expect(events.received.map((delivery) => delivery.status)).toEqual([503, 503, 204]);
    expect(new Set(events.received.map((delivery) => delivery.headers['webhook-id'])).size).toBe(1);
    expect(events.accepted().map((event) => event.type)).toEqual(['batch.started']);
  });

  it('a receiver that is down costs rows nothing: the batch completes, the event is recorded failed', async () => {
    const events = await receiver();
    events.refuse(Infinity, 500);
    const manifest = await manifestOf('notify-down', 2);
    const out = await temporaryDirectory();
    const result = await runCliInProcess(
      ['run', manifest, '--out', out, '--batch', 'unheard', '--notify', events.url()],
      environment({ IMAGE_BATCH_NOTIFY_ATTEMPTS: '2' }),
    );
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    expect((await resultLines(out, 'unheard')).map((line) => line.status)).toEqual([
      'completed',
      'completed',
    ]);
    const records = await eventRecords('unheard');
    expect(records['batch.started']).toMatch(/^failed\|\d+\|HTTP 500$/);
    expect(records['batch.finished']).toMatch(/^failed\|\d+\|HTTP 500$/);
    expect(events.received).toHaveLength(4);
  });

  it('a Slack-compatible incoming webhook gets a body it accepts: only `text`, still signed', async () => {
    const events = await receiver();
    const manifest = await manifestOf('notify-slack', 1);
    const out = await temporaryDirectory();
    const url = events.url('/api/webhooks/123/token/slack');
    const result = await runCliInProcess(
      ['enqueue', manifest, '--out', out, '--batch', 'chatty', '--notify', url],
      environment(),
    );
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    expect(events.received).toHaveLength(1);
    const body = JSON.parse(events.received[0]!.body) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(['text']);
    expect(body.text).toMatch(/^image-batch: batch chatty started: 1 rows/);
    expect(events.received[0]!.headers['webhook-signature']).toMatch(/^v1,/);
  });

  it('--notify without a signing secret is refused before anything is enqueued', async () => {
    const manifest = await manifestOf('notify-unsigned', 1);
    const out = await temporaryDirectory();
    const result = await runCliInProcess(
      ['enqueue', manifest, '--out', out, '--batch', 'unsigned', '--notify', 'https://example.invalid/hook'],
      environment({ IMAGE_BATCH_NOTIFY_SECRET: '' }),
    );
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/needs IMAGE_BATCH_NOTIFY_SECRET/);
    expect(await eventRecords('unsigned')).toEqual({});
    const status = await runCliInProcess(['status', 'unsigned'], environment());
    expect(status.exitCode).not.toBe(0);
  });
});

describe('events workers see', () => {
  /** Enqueue `manifest` as `batch` with events to `events`, and the watch options of a second process. */
  async function enqueueTold(
    events: EventReceiver,
    manifest: string,
    batch: string,
    extra: string[] = [],
  ): Promise<void> {
    const out = await temporaryDirectory();
    const result = await runCliInProcess(
      ['enqueue', manifest, '--out', out, '--batch', batch, '--notify', events.url(), ...extra],
      environment(),
    );
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
  }

  function watchOptions(
    redis: Redis,
    extra: Partial<BatchWatchOptions> = {},
    leaseMs?: number,
  ): BatchWatchOptions {
    const prefix = suite.prefix();
    return {
      redis,
      prefix,
      store: new BatchStore(redis, prefix),
      notifier: new Notifier({
        redis,
        prefix,
        secret,
        log: silent,
        backoffMs: 10,
        ...(leaseMs === undefined ? {} : { leaseMs }),
      }),
      stallMs: 60_000,
      log: silent,
      ...extra,
    };
  }

  it('batch.stalled: rows wait and none finished for the set time; told once whoever looks', async () => {
    const events = await receiver();
    await enqueueTold(events, await manifestOf('notify-stall', 4), 'stuck');
    const redis = new Redis(redisUrl());
    try {
      const lookers = [watchOptions(redis, { stallMs: 0 }), watchOptions(redis, { stallMs: 0 })];
      await Promise.all(
        lookers.flatMap((options) => [watchBatch(options, 'stuck'), watchBatch(options, 'stuck')]),
      );
      await Promise.all(lookers.map((options) => options.notifier.settled()));
      // Not stalled under the configured wait: nothing more.
      await watchBatch(watchOptions(redis), 'stuck');
    } finally {
      redis.disconnect();
    }
    expect(events.accepted().map((event) => event.type)).toEqual(['batch.started', 'batch.stalled']);
    expect(events.accepted()[1]!.data).toMatchObject({ batch_id: 'stuck', counts: { pending: 4 } });
  });

  it('batch.late: a batch that will miss its finish-by time is told once, with the time and the forecast', async () => {
    const events = await receiver();
    // 6 rows at 6 requests a minute: about a minute, for a batch due in 20 seconds.
    const out = await temporaryDirectory();
    const slow = environment({ OPENAI_REQUESTS_PER_MINUTE: '6' });
    const manifest = await manifestOf('notify-late', 6, { provider: 'openai' });
    const args = ['enqueue', manifest, '--out', out, '--batch', 'late', '--notify', events.url()];
    const result = await runCliInProcess([...args, '--finish-by', '20s'], slow);
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    const redis = new Redis(redisUrl());
    try {
      const looker = watchOptions(redis);
      await watchBatch(looker, 'late');
      await watchBatch(looker, 'late');
      await looker.notifier.settled();
    } finally {
      redis.disconnect();
    }
    expect(events.accepted().map((event) => event.type)).toEqual(['batch.started', 'batch.late']);
    const late = events.accepted()[1]!;
    expect(late.data).toMatchObject({ batch_id: 'late', counts: { pending: 6 } });
    expect(Date.parse(late.data.expected_at as string)).toBeGreaterThan(
      Date.parse(late.data.finish_by as string),
    );
    expect(late.text).toMatch(/will miss its finish-by time/);
  });

  it('an event whose sender died mid-delivery is taken over once its lease ran out, and sent once', async () => {
    const events = await receiver();
    await enqueueTold(events, await manifestOf('notify-lease', 2), 'orphan');
    const redis = new Redis(redisUrl());
    try {
      const key = batchKeys(suite.prefix(), 'orphan').notifications;
      const body = JSON.stringify({
        type: 'batch.stalled',
        timestamp: 'then',
        data: {},
        text: 'left behind',
      });
      await redis.hset(key, 'batch.stalled', `sending|${Date.now() - 10_000}|${body}`);
      await watchBatch(watchOptions(redis, {}, 60_000), 'orphan');
      expect(events.accepted().map((event) => event.type)).toEqual(['batch.started']);
      const lookers = [watchOptions(redis, {}, 1000), watchOptions(redis, {}, 1000)];
      await Promise.all(lookers.map((options) => watchBatch(options, 'orphan')));
      await Promise.all(lookers.map((options) => options.notifier.settled()));
      expect(await redis.hget(key, 'batch.stalled')).toMatch(/^delivered\|/);
    } finally {
      redis.disconnect();
    }
    expect(events.accepted().map((event) => event.text)).toEqual([
      expect.stringMatching(/started/),
      'left behind',
    ]);
  });

  it('batch.canary_ready with its figures and the approve command, then batch.finished after approval', async () => {
    const events = await receiver();
    const manifest = await manifestOf('notify-canary', 6);
    const out = await temporaryDirectory();
    const run = startCliInProcess(
      ['run', manifest, '--out', out, '--batch', 'sampled', '--canary', '2', '--notify', events.url()],
      environment(),
    );
    await waitForOutput(run.output, /Waiting for approval/);
    await events.waitFor('batch.canary_ready');
    const ready = events.accepted().find((event) => event.type === 'batch.canary_ready')!;
    expect(ready.data).toMatchObject({
      batch_id: 'sampled',
      canary: { rows: 2, completed: 2, failed: 0, held: 4 },
      approve_command: 'image-batch approve sampled',
    });
    expect(ready.data.canary.images).toHaveLength(2);
    const approved = await runCliInProcess(['approve', 'sampled'], environment());
    expect(approved.exitCode).toBe(0);
    expect((await run.done).exitCode).toBe(0);
    expect(events.accepted().map((event) => event.type)).toEqual([
      'batch.started',
      'batch.canary_ready',
      'batch.finished',
    ]);
  });

  it('batch.budget_reached and provider.paused come from the workers, each once', async () => {
    const events = await receiver();
    await enqueueTold(events, await manifestOf('notify-budget', 5, { provider: 'openai' }), 'capped', [
      '--budget-usd',
      '0.02',
    ]);
    await enqueueTold(events, await manifestOf('notify-credit', 3, { provider: 'oxen' }), 'broke');
    suite.simulator().injectFaults([{ provider: 'oxen', status: 402, times: 10 }]);
    const config = loadConfig(environment());
    const redis = new Redis(redisUrl(), { maxRetriesPerRequest: null });
    const pool = startWorkerPool({
      config,
      redis,
      store: new BatchStore(redis, config.queuePrefix),
      providers: ['openai', 'oxen'],
      log: silent,
    });
    try {
      await events.waitFor('batch.budget_reached');
      await events.waitFor('provider.paused');
      await new Promise((resolve) => setTimeout(resolve, 500));
    } finally {
      await pool.close();
      redis.disconnect();
      suite.simulator().injectFaults([]);
    }
    const told = events.accepted();
    expect(told.filter((event) => event.type === 'batch.budget_reached')).toHaveLength(1);
    expect(told.find((event) => event.type === 'batch.budget_reached')!.data).toMatchObject({
      batch_id: 'capped',
      budget_usd: 0.02,
    });
    const paused = told.filter((event) => event.type === 'provider.paused');
    expect(paused).toHaveLength(1);
    expect(paused[0]!.data).toMatchObject({ host: 'oxen', batch_id: 'broke' });
    expect(paused[0]!.data.reason).toMatch(/credit/i);
  });
});
