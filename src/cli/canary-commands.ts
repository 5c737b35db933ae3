/**
 * The verbs of what a batch may spend: what `run --canary N` does when the canary rows have all finished (print what
 * they showed, then approve with `--yes` when within tolerance, ask on a terminal, or wait for an approval from
 * elsewhere), `image-batch approve <batch>`, which releases the held rows (src/batch/canary.ts), and
 * `image-batch budget <batch> <usd|none>`.
 */
import { ImageBatch } from '../library/image-batch.js';
import { createInterface } from 'node:readline/promises';
import type { BatchStatus, BatchStore } from '../batch/batch-store.js';
import { canaryLines, canaryReport, canaryVerdict } from '../batch/canary-report.js';
import { formatUsd } from '../cost/usd.js';
import { levelName } from '../batch/priority.js';
import { checkBatchId } from '../producer/batch-id.js';
import { UsageError } from '../shared/errors.js';
import { print, withRedis, type CommandContext } from './context.js';

/** What `run` was told about its canary. */
export interface CanaryOptions {
  /** Approve without asking when nothing failed and the cost per image is within the tolerance. */
  yes: boolean;
  /** Per cent the measured cost per image may differ from the estimate for `--yes` to approve. */
  tolerancePercent: number;
}

/**
 * The decision `run` takes when its batch's canary has finished: print the canary, then approve (`--yes` within
 * tolerance, or "y" on a terminal) and go on; with no terminal, wait for `image-batch approve` or the dashboard; on a
 * terminal answered "no", stop with the batch waiting.
 */
export function decideOnCanary(
  context: CommandContext,
  store: BatchStore,
  options: CanaryOptions,
): (status: BatchStatus) => Promise<'continue' | 'stop'> {
  return async (status) => {
    const report = await canaryReport(status);
    if (report === undefined) return 'continue';
    print(context, ...canaryLines(report));
    const approveCommandText = `image-batch approve ${status.batchId}`;
    if (options.yes) {
      const verdict = canaryVerdict(report, options.tolerancePercent);
      if (verdict.approve) {
        const { released } = await store.canary.approve(status.batchId);
        print(context, `Approved (--yes): ${verdict.reason}. Released ${released} held rows.`);
        return 'continue';
      }
      print(context, `Not approved by --yes: ${verdict.reason}.`);
    }
    if (context.input.isTTY === true) {
      const prompt = createInterface({ input: context.input, output: context.output.stdout });
      let answer: string;
      try {
        answer = await prompt.question(`Approve the ${report.held} held rows and run them? [y/N] `);
      } finally {
        prompt.close();
      }
      if (/^y(es)?$/i.test(answer.trim())) {
        const { released } = await store.canary.approve(status.batchId);
        print(context, `Approved. Released ${released} held rows.`);
        return 'continue';
      }
      print(
        context,
        `The batch waits for approval: \`${approveCommandText}\` (or the dashboard), then run the same command again.`,
      );
      return 'stop';
    }
    print(
      context,
      `Waiting for approval: \`${approveCommandText}\` or the dashboard's Approve button. ` +
        'Ctrl-C leaves the batch waiting; run the same command again to continue.',
    );
    return 'continue';
  };
}

/** `image-batch approve <batch>`: approve the batch's canary and release its held rows (safe to repeat). */
export async function approveCommand(context: CommandContext, options: { batch: string }): Promise<number> {
  const images = new ImageBatch({ config: context.config, log: context.log });
  try {
    const batchId = checkBatchId(options.batch);
    const status = await images.status(batchId);
    if (status === undefined) throw new UsageError(`no batch "${options.batch}" in Redis`);
    if (status.canary === undefined) throw new UsageError(`batch ${batchId} has no canary to approve`);
    if (status.state === 'canary')
      print(
        context,
        `Note: the canary of ${batchId} has not finished yet (${status.canary.completed + status.canary.failed} of ${status.canary.rowKeys.length} rows); approving anyway.`,
      );
    const released = await images.approve(batchId);
    print(
      context,
      `Batch ${batchId}: canary approved; released ${released} held rows. Workers (\`image-batch worker\`, or a waiting \`run\`) process them now.`,
    );
    return 0;
  } finally {
    await images.close();
  }
}

/** `image-batch budget <batch> <usd|none>`: set or remove a batch's budget cap; held-back rows resume under it. */
export async function budgetCommand(
  context: CommandContext,
  options: { batch: string; usd: number | undefined },
): Promise<number> {
  return withRedis(context, async (_redis, store) => {
    const batchId = checkBatchId(options.batch);
    if ((await store.status(batchId)) === undefined)
      throw new UsageError(`no batch "${options.batch}" in Redis`);
    await store.budget.setBudget(batchId, options.usd);
    const status = (await store.status(batchId))!;
    print(
      context,
      options.usd === undefined
        ? `Batch ${batchId}: no budget cap.`
        : `Batch ${batchId}: budget cap ${formatUsd(options.usd)}; spent ${formatUsd(status.spentUsd)} so far.`,
    );
    return 0;
  });
}

/**
 * `image-batch priority <batch> <level>`: change a running batch's priority; its waiting rows move to the new level at
 * once (a process killed half-way leaves the rest to the workers' next sweep).
 */
export async function priorityCommand(
  context: CommandContext,
  options: { batch: string; level: number },
): Promise<number> {
  const images = new ImageBatch({ config: context.config, log: context.log });
  try {
    const batchId = checkBatchId(options.batch);
    const moved = await images.setPriority(batchId, options.level);
    print(
      context,
      `Batch ${batchId}: priority ${levelName(options.level)}; ${moved} waiting rows moved to it.`,
    );
    return 0;
  } finally {
    await images.close();
  }
}
