/**
 * Cron schedules: a schedule firing every second, two scheduler processes, a few ticks — exactly one batch per tick,
 * each with every row once; an inbox folder is ingested once and moved to done/.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { SCHEDULES_QUEUE, batchIdForTick } from '../../src/producer/schedules.js';
import { BatchStore } from '../../src/batch/batch-store.js';
import type { ImageJobData } from '../../src/shared/job-definitions.js';
import { queueNameFor } from '../../src/shared/keys.js';
import { runCliProcess, spawnCli } from '../helpers/cli.js';
import { killSpawnedProcesses } from '../helpers/cli.js';
import { removeTemporaryDirectories, temporaryDirectory } from '../helpers/files.js';
import { jsonLine, manifestFolder, writeManifest } from '../helpers/manifests.js';
import { redisUrl, prefixPerTest, rowRecords, storedText } from '../helpers/redis.js';
import { startEventReceiver } from '../helpers/event-receiver.js';

const prefix = prefixPerTest();
afterAll(removeTemporaryDirectories);

async function runSchedulers(environment: Record<string, string>, seconds: number, copies: number) {
  const schedulers = Array.from({ length: copies }, () => spawnCli(['scheduler'], environment));
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  await runCliProcess(['schedule', 'remove', 'every-second'], environment);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  await Promise.all(
    schedulers.map(
      (scheduler) =>
        new Promise<void>((resolve) => {
          scheduler.once('exit', () => resolve());
          scheduler.kill('SIGTERM');
        }),
    ),
  );
}

describe('schedules', () => {
  it('two schedulers, a schedule firing every second: exactly one batch per tick, each with every row once', async () => {
    const folder = await manifestFolder();
    const manifest = await writeManifest(folder, 'tick.jsonl', [
      jsonLine({ id: 'a', prompt: 'tick a', resolution: '1024x768' }),
      jsonLine({ id: 'b', prompt: 'tick b', resolution: '1024x768' }),
      jsonLine({ id: 'c', prompt: 'tick c', resolution: '1024x768' }),
    ]);
    const out = await temporaryDirectory();
    const environment = { REDIS_URL: redisUrl(), IMAGE_BATCH_QUEUE_PREFIX: prefix(), LOG_LEVEL: 'warn' };
    const added = await runCliProcess(
      ['schedule', 'add', 'every-second', manifest, '--cron', '* * * * * *', '--out', out],
      environment,
    );
    expect(added.exitCode).toBe(0);
    expect(added.stdout).toMatch(/next run 20\d\d-/);
    const listed = await runCliProcess(['schedule', 'list', '--json'], environment);
    expect(JSON.parse(listed.stdout)).toEqual([
      expect.objectContaining({ name: 'every-second', cron: '* * * * * *', source: manifest }),
    ]);

    await runSchedulers(environment, 5, 2);

    const redis = new Redis(redisUrl());
    try {
      const queue = new Queue(SCHEDULES_QUEUE, { connection: redis, prefix: prefix() });
      const ticks = await queue.getJobs(['completed', 'failed', 'active', 'waiting', 'delayed'], 0, -1);
      await queue.close();
      const slots = new Set(ticks.map((job) => Number(/:(\d+)$/.exec(job.id ?? '')?.[1])));
      const store = new BatchStore(redis, prefix());
      const batches = (await store.listBatches()).filter((id) => id.startsWith('every-second-'));
      const handled = ticks.filter((job) => job.returnvalue !== null && job.returnvalue !== undefined);
      expect(handled.length).toBeGreaterThanOrEqual(3);
      expect(batches.sort()).toEqual(
        [
          ...new Set(
            handled.map((job) => batchIdForTick('every-second', Number(/:(\d+)$/.exec(job.id!)![1]))),
          ),
        ].sort(),
      );
      expect(batches.length).toBeLessThanOrEqual(slots.size);
      for (const batch of batches) {
        const status = (await store.status(batch))!;
        expect(status.rows).toBe(3);
        expect(Object.keys(await rowRecords(redis, prefix(), batch))).toHaveLength(3);
      }
    } finally {
      redis.disconnect();
    }
  });

  it('an inbox folder is ingested once; its manifests move to done/, each batch at the schedule’s priority', async () => {
    const folder = await manifestFolder();
    const inbox = path.join(folder, 'inbox');
    await mkdir(inbox);
    await writeManifest(inbox, 'one.jsonl', [
      jsonLine({ id: 'x', prompt: 'inbox x', resolution: '1024x768' }),
    ]);
    await writeManifest(inbox, 'two.csv', ['id,prompt,resolution', 'y,inbox y,1024x768']);
    const out = await temporaryDirectory();
    const environment = { REDIS_URL: redisUrl(), IMAGE_BATCH_QUEUE_PREFIX: prefix(), LOG_LEVEL: 'warn' };
    expect(
      (
        await runCliProcess(
          [
            ...['schedule', 'add', 'every-second', inbox, '--cron', '* * * * * *', '--out', out],
            ...['--priority', 'background', '--weight', '3', '--finish-by', '2h', '--reuse', '--sidecar'],
          ],
          environment,
        )
      ).exitCode,
    ).toBe(0);
    await runSchedulers(environment, 3, 1);
    expect((await readdir(inbox)).sort()).toEqual(['done']);
    expect((await readdir(path.join(inbox, 'done'))).sort()).toEqual(['one.jsonl', 'two.csv']);
    const redis = new Redis(redisUrl());
    try {
      const store = new BatchStore(redis, prefix());
      const batches = await store.listBatches();
      expect(batches).toHaveLength(1);
      const status = (await store.status(batches[0]!))!;
      expect(status.rows).toBe(2);
      expect(status.priority).toEqual({ level: 9, weight: 3 });
      // Due two hours after its tick.
      const due = Date.parse(status.finishBy!.at) - Date.parse(status.createdAt);
      expect(due).toBeGreaterThan(7_100_000);
      expect(due).toBeLessThan(7_300_000);
      // Each row of the tick's batch asks for reuse and sidecars, as the schedule says.
      const queue = new Queue<ImageJobData>(queueNameFor('oxen'), { connection: redis, prefix: prefix() });
      const jobs = await queue.getJobs(['prioritized', 'waiting']);
      expect(jobs.map((job) => [job.data.reuse, job.data.sidecar])).toEqual([
        [true, true],
        [true, true],
      ]);
      await queue.close();
    } finally {
      redis.disconnect();
    }
    expect(existsSync(path.join(out))).toBe(true);
  });

  it('schedule add --notify: each tick batch announces itself; the URL is kept only sealed', async () => {
    const events = await startEventReceiver();
    try {
      const folder = await manifestFolder();
      const inbox = path.join(folder, 'inbox');
      await mkdir(inbox);
      await writeManifest(inbox, 'one.jsonl', [
        jsonLine({ id: 'x', prompt: 'told x', resolution: '1024x768' }),
      ]);
      const out = await temporaryDirectory();
      const environment = {
        REDIS_URL: redisUrl(),
        IMAGE_BATCH_QUEUE_PREFIX: prefix(),
        LOG_LEVEL: 'warn',
        IMAGE_BATCH_NOTIFY_SECRET: `whsec_${randomBytes(32).toString('base64')}`,
      };
      const args = ['schedule', 'add', 'every-second', inbox, '--cron', '* * * * * *', '--out', out];
      const added = await runCliProcess([...args, '--notify', events.url()], environment);
      expect(added.exitCode, added.stderr).toBe(0);
      expect(await storedText(prefix())).not.toContain(events.url());
      await runSchedulers(environment, 3, 1);
      const told = events.accepted();
      expect(told.map((event) => event.type)).toEqual(['batch.started']);
      expect(told[0]!.data).toMatchObject({ counts: { rows: 1 } });
      expect(told[0]!.data.batch_id).toMatch(/^every-second-/);
      expect(await storedText(prefix())).not.toContain(events.url());
    } finally {
      await events.close();
    }
  });
});

afterAll(killSpawnedProcesses);
