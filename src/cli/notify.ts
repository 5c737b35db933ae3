/**
 * `--notify URL` on run, enqueue and schedule add (docs/notifications.md): the batch's events go to the URL, signed
 * with IMAGE_BATCH_NOTIFY_SECRET, which is also what keeps the URL sealed in Redis (a Slack URL carries a token).
 */
import { InvalidArgumentError, Option } from '@commander-js/extra-typings';
import { openTarget, sealTarget } from '../batch/notifications/sealed-target.js';
import { checkNotifyTarget } from '../library/image-batch.js';
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

/** `url` sealed for a schedule's template (stored in Redis), or undefined without one. */
export function sealedNotifyTarget(context: CommandContext, flag: string | undefined): string | undefined {
  const url = checkNotifyTarget(context.config, flag);
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
