/**
 * Reuse (issue 31): a re-run under a new batch id with `--reuse` pays only for the rows whose request changed; the
 * others get copies (hard links) of the earlier images and a results line saying where from, at cost 0. The index is
 * rebuilt from the results files when Redis has lost it. Without `--reuse` every row is paid again.
 */
import { createHash } from 'node:crypto';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { ResultLine } from '../../src/shared/job-definitions.js';
import { runCliInProcess, runCliProcess } from '../helpers/cli.js';
import { readObject, startObjectStorage } from '../helpers/object-storage.js';
import { temporaryDirectory } from '../helpers/files.js';
import { jsonLine, manifestFolder, writeManifest } from '../helpers/manifests.js';
import { deleteKeysWithPrefix, uniquePrefix } from '../helpers/redis.js';
import { resultLines } from '../helpers/results.js';
import { simulatorSuite } from '../helpers/simulator-suite.js';

const suite = simulatorSuite();

/** A manifest of `count` rows (prompts `<tag> <n>`), with the prompts of `changed` rows altered. */
async function catalogue(tag: string, count: number, changed: number[] = []): Promise<string> {
  const folder = await manifestFolder();
  const rows = Array.from({ length: count }, (_, index) => ({
    id: `item-${index}`,
    provider: index % 2 === 0 ? 'openai' : 'fal',
    prompt: `${tag} ${index}${changed.includes(index) ? ' (new colour)' : ''}`,
    quality: 'low',
    ...(index === 0 ? { mode: 'edit', image_urls: 'images/ladybird.jpg' } : {}),
  }));
  return writeManifest(folder, `${tag}-${changed.length}.jsonl`, rows.map(jsonLine));
}

function paidFor(tag: string): number {
  let paid = 0;
  for (const [prompt, count] of suite.simulator().submissionsByPrompt)
    if (prompt.startsWith(`${tag} `)) paid += count;
  return paid;
}

describe('reuse of earlier outputs', () => {
  it('a re-run with --reuse pays only for the changed rows; the rest are copies with reused_from and cost 0', async () => {
    const tag = `reuse-${suite.prefix()}`;
    const out = await temporaryDirectory();
    const first = await runCliInProcess(
      ['run', await catalogue(tag, 8), '--out', out, '--batch', 'november'],
      suite.environment(),
    );
    expect(first.stdout, first.stdout + first.stderr).toMatch(/8 completed, 0 failed/);
    expect(paidFor(tag)).toBe(8);
    const earlier = new Map((await resultLines(out, 'november')).map((line) => [line.row_key, line]));

    // Estimated and budgeted as free: a cap that covers the two changed rows only is enough for all eight.
    const estimateOf = (stdout: string) =>
      Number(/Estimated cost of the rows enqueued: \$([\d.]+)/.exec(stdout)![1]);
    const changed = await catalogue(tag, 8, [3, 6]);
    const changedOnly = (await readFile(changed, 'utf8'))
      .split('\n')
      .filter((line) => line.includes('(new colour)'));
    const pairManifest = await writeManifest(await manifestFolder(), `${tag}-pair.jsonl`, changedOnly);
    const pair = await runCliInProcess(['estimate', pairManifest], suite.environment());
    const cap = Number(/total\s+\d+\s+\$([\d.]+)/.exec(pair.stdout)![1]) * 1.01;
    const second = await runCliInProcess(
      ['run', changed, '--out', out, '--batch', 'december', '--reuse', '--budget-usd', cap.toFixed(6)],
      suite.environment(),
    );
    expect(second.stdout, second.stdout + second.stderr).toMatch(/8 completed, 0 failed/);
    expect(second.stdout).toMatch(
      /6 rows reuse an earlier output of the same request under the output root: free/,
    );
    expect(estimateOf(second.stdout)).toBeLessThanOrEqual(cap);
    expect(estimateOf(second.stdout)).toBeGreaterThan(0);
    expect(paidFor(tag)).toBe(10);
    for (const line of await resultLines(out, 'december')) {
      const before = earlier.get(line.row_key)!;
      if (line.row_key === 'item-3' || line.row_key === 'item-6') {
        expect(line.reused_from).toBeUndefined();
        expect(line.cost_usd).toBeGreaterThan(0);
        continue;
      }
      expect(line.reused_from, line.row_key).toEqual({ batch: 'november', row_key: line.row_key });
      expect(line.cost_usd).toBe(0);
      expect(line.request_id).toBeNull();
      expect(line.outputs[0]!.sha256).toBe(before.outputs[0]!.sha256);
      const copy = await stat(path.join(out, 'december', line.outputs[0]!.path));
      const original = await stat(path.join(out, 'november', before.outputs[0]!.path));
      expect(copy.ino).toBe(original.ino); // a hard link, not a second copy of the bytes
    }
    const report = await runCliInProcess(['report', 'december'], suite.environment());
    expect(report.stdout, report.stdout + report.stderr).toMatch(/8 completed \(6 reused, not paid\)/);
  });

  it('without --reuse a re-run pays for every row again (image models are not deterministic)', async () => {
    const tag = `again-${suite.prefix()}`;
    const out = await temporaryDirectory();
    await runCliInProcess(
      ['run', await catalogue(tag, 4), '--out', out, '--batch', 'one'],
      suite.environment(),
    );
    const again = await runCliInProcess(
      ['run', await catalogue(tag, 4), '--out', out, '--batch', 'two'],
      suite.environment(),
    );
    expect(again.stdout, again.stdout + again.stderr).toMatch(/4 completed, 0 failed/);
    expect(paidFor(tag)).toBe(8);
    for (const line of await resultLines(out, 'two')) expect(line.reused_from).toBeUndefined();
  });

  it('after Redis lost the index, it is rebuilt from the results files and the rows are still reused', async () => {
    const tag = `lost-${suite.prefix()}`;
    const out = await temporaryDirectory();
    await runCliInProcess(
      ['run', await catalogue(tag, 4), '--out', out, '--batch', 'before'],
      suite.environment(),
    );
    expect(paidFor(tag)).toBe(4);
    // Another Redis key prefix: nothing of the first run is there, as after losing Redis.
    const fresh = uniquePrefix();
    try {
      const after = await runCliInProcess(
        ['run', await catalogue(tag, 4, [1]), '--out', out, '--batch', 'after', '--reuse'],
        suite.environment({ IMAGE_BATCH_QUEUE_PREFIX: fresh }),
      );
      expect(after.stdout, after.stdout + after.stderr).toMatch(/4 completed, 0 failed/);
      expect(paidFor(tag)).toBe(5);
      const reused = (await resultLines(out, 'after')).filter((line) => line.reused_from !== undefined);
      expect(reused.map((line) => line.row_key).sort()).toEqual(['item-0', 'item-2', 'item-3']);
    } finally {
      await deleteKeysWithPrefix(fresh);
    }
  });

  it('reuses across batches on S3 (CopyObject), the index rebuilt from the results objects', async () => {
    const storage = await startObjectStorage();
    const tag = `s3-${suite.prefix()}`;
    const fresh = uniquePrefix();
    try {
      const out = `s3://${storage.bucket}/catalogue`;
      const environment = (prefix: string) =>
        suite.environment({ ...storage.environment, IMAGE_BATCH_QUEUE_PREFIX: prefix });
      const first = await runCliProcess(
        ['run', await catalogue(tag, 4), '--out', out, '--batch', 'spring'],
        environment(suite.prefix()),
      );
      expect(first.stdout, first.stdout + first.stderr).toMatch(/4 completed, 0 failed/);
      // A fresh key prefix: the index is rebuilt from the results objects under s3://…/catalogue.
      const second = await runCliProcess(
        ['run', await catalogue(tag, 4, [2]), '--out', out, '--batch', 'summer', '--reuse'],
        environment(fresh),
      );
      expect(second.stdout, second.stdout + second.stderr).toMatch(/4 completed, 0 failed/);
      expect(paidFor(tag)).toBe(5);
      const read = (key: string) => readObject(storage, `catalogue/${key}`);
      for (const index of [0, 1, 3]) {
        const line = JSON.parse(
          (await read(`summer/results/item-${index}.json`)).toString('utf8'),
        ) as ResultLine;
        expect(line.reused_from).toEqual({ batch: 'spring', row_key: `item-${index}` });
        const original = JSON.parse(
          (await read(`spring/results/item-${index}.json`)).toString('utf8'),
        ) as ResultLine;
        const copy = await read(`summer/${line.outputs[0]!.path}`);
        expect(createHash('sha256').update(copy).digest('hex')).toBe(original.outputs[0]!.sha256);
      }
    } finally {
      await deleteKeysWithPrefix(fresh);
      await storage.stop();
    }
  });

  it('a row can ask for reuse itself (reuse: true), and a reused image whose file is gone or changed is made again', async () => {
    const tag = `row-${suite.prefix()}`;
    const out = await temporaryDirectory();
    const folder = await manifestFolder();
    const rows = (reuse: boolean) =>
      [0, 1].map((index) =>
        jsonLine({
          id: `r${index}`,
          provider: 'openai',
          prompt: `${tag} ${index}`,
          quality: 'low',
          reuse: reuse && index === 0,
        }),
      );
    await runCliInProcess(
      ['run', await writeManifest(folder, 'a.jsonl', rows(false)), '--out', out, '--batch', 'a'],
      suite.environment(),
    );
    const second = await runCliInProcess(
      ['run', await writeManifest(folder, 'b.jsonl', rows(true)), '--out', out, '--batch', 'b'],
      suite.environment(),
    );
    expect(second.stdout, second.stdout + second.stderr).toMatch(/2 completed, 0 failed/);
    expect(paidFor(tag)).toBe(3); // r1 did not ask for reuse
    const lines = new Map((await resultLines(out, 'b')).map((line) => [line.row_key, line]));
    expect(lines.get('r0')!.reused_from).toEqual({ batch: 'a', row_key: 'r0' });
    expect(lines.get('r1')!.reused_from).toBeUndefined();
    // r0's image removed from a, and replaced by another image in b (a folder made again): the index's entry, which
    // names b's, is stale — the copy is told apart by its digest and the row is made (and paid for) again.
    const image = lines.get('r0')!.outputs[0]!.path;
    await rm(path.join(out, 'a', image));
    await rm(path.join(out, 'b', image));
    await writeFile(
      path.join(out, 'b', image),
      await sharp({ create: { width: 64, height: 64, channels: 3, background: '#808080' } })
        .png()
        .toBuffer(),
    );
    const third = await runCliInProcess(
      ['run', await writeManifest(folder, 'c.jsonl', rows(true)), '--out', out, '--batch', 'c'],
      suite.environment(),
    );
    expect(third.stdout, third.stdout + third.stderr).toMatch(/2 completed, 0 failed/);
    expect(paidFor(tag)).toBe(5);
    const [r0] = (await resultLines(out, 'c')).filter((line) => line.row_key === 'r0');
    expect(r0!.reused_from).toBeUndefined();
  });
});
