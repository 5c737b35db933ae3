/**
 * `--notify URL` on run, enqueue and schedule add (docs/notifications.md): the batch's events go to the URL, signed
 * with IMAGE_BATCH_NOTIFY_SECRET, which is also what keeps the URL sealed in Redis (a Slack URL carries a token).
 */
import { InvalidArgumentError, Option } from '@commander-js/extra-typings';
import type { BatchStore } from '../batch/batch-store.js';
import { announceBatch } from '../batch/notifications/batch-watch.js';
import { notifierFor } from '../batch/notifications/notifier.js';
import { openTarget, sealTarget } from '../batch/notifications/sealed-target.js';
import { UsageError } from '../shared/errors.js';
import type { RedisConnection } from '../shared/redis.js';
import type { CommandContext } from './context.js';

/** `--notify <url>`: an http(s) URL. */
export const notifyOption = () =>
  new Option(
    '--notify <url>',
    'post signed events of the batch (started, finished, budget reached, canary ready, stalled, host paused) to this URL; default IMAGE_BATCH_NOTIFY_URL; needs IMAGE_BATCH_NOTIFY_SECRET',
  ).argParser((value) => {
    if (!/^https?:\/\/\S+$/i.test(value)) throw new InvalidArgumentError('an http:// or https:// URL');
    return value;
  });

/**
 * Where the batch's events go: `--notify`, else IMAGE_BATCH_NOTIFY_URL, else nowhere.
 * @throws UsageError when there is a target but no signing secret to sign the events and seal the URL with.
 */
export function notifyTarget(context: CommandContext, flag: string | undefined): string | undefined {
  const url = flag ?? context.config.notify.url;
  if (url !== undefined && context.config.notify.secret === undefined)
    throw new UsageError(
      '--notify (or IMAGE_BATCH_NOTIFY_URL) needs IMAGE_BATCH_NOTIFY_SECRET: the Standard Webhooks secret that signs ' +
        'each event and keeps the URL sealed in Redis. Make one: echo "whsec_$(openssl rand -base64 32)"',
    );
  return url;
}

/** `url` sealed for a schedule's template (stored in Redis), or undefined without one. */
export function sealedNotifyTarget(context: CommandContext, flag: string | undefined): string | undefined {
  const url = notifyTarget(context, flag);
  return url === undefined ? undefined : sealTarget(url, context.config.notify.secret!);
}

/** The URL of a schedule's sealed target, when this process's secret opens it. */
export function openNotifyTarget(context: CommandContext, sealed: string | undefined): string | undefined {
  const secret = context.config.notify.secret;
  if (sealed === undefined || secret === undefined) return undefined;
  const url = openTarget(sealed, secret);
  if (url === undefined)
    context.log.warn(
      'a schedule was added with another IMAGE_BATCH_NOTIFY_SECRET; its batches send no events',
    );
  return url;
}

/**
 * Send the batch's events to `url` (nothing when undefined) and announce it (`batch.started`).
 * @returns how to wait for that delivery (or its last retry): `run` goes on with the rows meanwhile and waits at its
 *   end, so a receiver that is down never holds a row back.
 */
export async function announceToTarget(
  context: CommandContext,
  target: { redis: RedisConnection; store: BatchStore },
  batchId: string,
  url: string | undefined,
  estimateUsd: number,
): Promise<() => Promise<void>> {
  const notifier = notifierFor(context.config, target.redis, context.log);
  if (url === undefined || notifier === undefined) return () => Promise.resolve();
  await announceBatch({ ...target, prefix: context.config.queuePrefix, notifier }, batchId, url, estimateUsd);
  return () => notifier.settled();
}
