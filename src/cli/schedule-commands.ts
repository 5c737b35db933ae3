/**
 * Cron schedules stored in Redis (BullMQ job schedulers): `schedule add|list|remove`, and `scheduler`, the process
 * that turns each tick into one batch.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { listSchedules, removeSchedule, startScheduler, upsertSchedule } from '../producer/schedules.js';
import type { ProviderName } from '../shared/config.js';
import { UsageError } from '../shared/errors.js';
import { normalizeOutputRoot } from '../storage/output-store.js';
import { checkManifests } from '../library/batch-source.js';
import { ImageBatch } from '../library/image-batch.js';
import { enqueueWithProgress } from './batch-commands.js';
import { openNotifyTarget, sealedNotifyTarget } from './notify.js';
import { print, withRedis, type CommandContext } from './context.js';
import { describeEnqueue, describeFinishPlan } from './report.js';

/** `image-batch schedule add`: add or replace a cron schedule that enqueues a manifest (or an inbox) as a batch. */
export async function scheduleAddCommand(
  context: CommandContext,
  options: {
    name: string;
    cron: string;
    tz?: string;
    source: string;
    out: string;
    provider?: ProviderName;
    budgetUsd?: number;
    /** `--priority`, `--weight`, `--finish-by` of each batch (a duration counts from the tick). */
    priority?: number;
    weight?: number;
    finishBy?: string;
    /** `--reuse`, `--sidecar` of each batch: a monthly re-run pays only for the rows that changed. */
    reuse?: boolean;
    sidecar?: boolean;
    /** `--notify`: where the batches' events go (./notify.ts). */
    notify?: string;
  },
): Promise<number> {
  const notifySealed = sealedNotifyTarget(context, options.notify);
  const source = path.resolve(options.source);
  const info = await stat(source).catch(() => undefined);
  if (info === undefined) throw new UsageError(`${options.source}: no such file or directory`);
  if (info.isFile()) await checkManifests([source]);
  return withRedis(context, async (redis) => {
    const schedule = await upsertSchedule(redis, context.config.queuePrefix, {
      name: options.name,
      cron: options.cron,
      ...(options.tz === undefined ? {} : { timezone: options.tz }),
      template: {
        schedule: options.name,
        source,
        out: normalizeOutputRoot(options.out),
        ...(options.provider === undefined ? {} : { provider: options.provider }),
        ...(options.budgetUsd === undefined ? {} : { budgetUsd: options.budgetUsd }),
        ...(options.priority === undefined ? {} : { priority: options.priority }),
        ...(options.weight === undefined ? {} : { weight: options.weight }),
        ...(options.finishBy === undefined ? {} : { finishBy: options.finishBy }),
        ...(options.reuse === true ? { reuse: true } : {}),
        ...(options.sidecar === true ? { sidecar: true } : {}),
        ...(notifySealed === undefined ? {} : { notifySealed }),
      },
    });
    print(
      context,
      `Schedule ${schedule.name}: "${options.cron}"${options.tz === undefined ? '' : ` (${options.tz})`} enqueues ` +
        `${info.isDirectory() ? `new manifests of the inbox ${source}` : source}; next run ` +
        `${schedule.next === undefined ? 'unknown' : new Date(schedule.next).toISOString()}. ` +
        'Run `image-batch scheduler` (and workers) to act on it.',
    );
    return 0;
  });
}

/** `image-batch schedule list`. */
export async function scheduleListCommand(
  context: CommandContext,
  options: { json: boolean },
): Promise<number> {
  return withRedis(context, async (redis) => {
    const schedules = await listSchedules(redis, context.config.queuePrefix);
    if (options.json) print(context, JSON.stringify(schedules, null, 2));
    else if (schedules.length === 0) print(context, 'No schedules.');
    for (const schedule of options.json ? [] : schedules) {
      print(
        context,
        `${schedule.name}  "${schedule.cron ?? ''}"${schedule.timezone === undefined ? '' : ` ${schedule.timezone}`}  next ` +
          `${schedule.next === undefined ? '—' : new Date(schedule.next).toISOString()}  ${schedule.source ?? ''}`,
      );
    }
    return 0;
  });
}

/** `image-batch schedule remove <name>`. */
export async function scheduleRemoveCommand(
  context: CommandContext,
  options: { name: string },
): Promise<number> {
  return withRedis(context, async (redis) => {
    if (!(await removeSchedule(redis, context.config.queuePrefix, options.name)))
      throw new UsageError(`no schedule "${options.name}"`);
    print(context, `Removed schedule ${options.name}.`);
    return 0;
  });
}

/** `image-batch scheduler`: turn schedule ticks into batches until SIGINT/SIGTERM (several copies may run). */
export async function schedulerCommand(context: CommandContext): Promise<number> {
  const images = new ImageBatch({ config: context.config, log: context.log });
  return withRedis(context, async (redis) => {
    const scheduler = startScheduler({
      config: context.config,
      redis,
      log: context.log,
      ingest: async ({ batchId, manifests, template }) => {
        const batch = await enqueueWithProgress(context, images, {
          manifests,
          batch: batchId,
          out: template.out,
          maxRejected: Number.MAX_SAFE_INTEGER,
          ...(template.provider === undefined ? {} : { provider: template.provider }),
          ...(template.budgetUsd === undefined ? {} : { budgetUsd: template.budgetUsd }),
          ...(template.priority === undefined ? {} : { priority: template.priority }),
          ...(template.weight === undefined ? {} : { weight: template.weight }),
          ...(template.finishBy === undefined ? {} : { finishBy: template.finishBy }),
          ...(template.reuse === true ? { reuse: true } : {}),
          ...(template.sidecar === true ? { sidecar: true } : {}),
          // Only the schedule's own target (sealed when it was added), not this process's IMAGE_BATCH_NOTIFY_URL.
          notify: openNotifyTarget(context, template.notifySealed) ?? null,
        });
        print(context, ...describeEnqueue(batch.report, false), ...describeFinishPlan(batch.finishBy));
        await batch.announced();
      },
    });
    print(context, 'Scheduler running; stop with Ctrl-C (SIGINT) or SIGTERM.');
    await context.stopRequested;
    await scheduler.close();
    await images.close();
    return 0;
  });
}
