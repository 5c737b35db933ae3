/**
 * A full disk under `--out` (issue 26), on a real small file system (a tmpfs mounted by the test; skipped, saying why,
 * where it cannot mount one): the batch stops before paying for rows it cannot store, paid rows keep what the host gave,
 * and once space is freed and the batch resumed they are stored without calling the host again — 0 lost, 0 paid twice.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { statfs } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResultLine } from '../../src/shared/job-definitions.js';
import { runCliInProcess } from '../helpers/cli.js';
import { jsonLine, manifestFolder, writeManifest } from '../helpers/manifests.js';
import { readJsonLines } from '../helpers/results.js';
import { simulatorSuite } from '../helpers/simulator-suite.js';

const run = promisify(execFile);
const suite = simulatorSuite();
const mounts: string[] = [];

/** A fresh tmpfs of `size` (e.g. `400k`), or the reason none can be mounted here. */
async function smallDisk(size: string): Promise<{ directory: string } | { skip: string }> {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'image-batch-small-disk-'));
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', directory]);
  } catch (error) {
    await rm(directory, { recursive: true, force: true });
    return { skip: `cannot mount a tmpfs here (${(error as Error).message.split('\n')[0]})` };
  }
  mounts.push(directory);
  return { directory };
}

let mountProblem: string | undefined;
beforeAll(async () => {
  const probe = await smallDisk('64k');
  if ('skip' in probe) mountProblem = probe.skip;
});
afterAll(async () => {
  for (const directory of mounts) {
    await run('umount', [directory]).catch(() => undefined);
    await rm(directory, { recursive: true, force: true });
  }
});

/** OpenAI (base64 answers) and fal (URL answers) rows, each prompt its own. */
function rows(batch: string, count: number) {
  return Array.from({ length: count }, (_, index) => ({
    id: `r${index}`,
    provider: index % 2 === 0 ? 'openai' : 'fal',
    prompt: `${batch}: a lighthouse number ${index} at dusk`,
    quality: 'low',
    resolution: '1024x1024',
  }));
}

/** Paid submissions of this test's prompts, by prompt. */
function paidByPrompt(batch: string): number[] {
  return [...suite.simulator().submissionsByPrompt]
    .filter(([prompt]) => prompt.startsWith(`${batch}:`))
    .map(([, count]) => count);
}

describe('a full disk under --out', () => {
  it('pauses the batch before paying for a row its disk has no room for, saying why', async (context) => {
    if (mountProblem !== undefined) context.skip(mountProblem);
    const disk = await smallDisk('400k');
    if ('skip' in disk) return context.skip(disk.skip);
    const manifest = await writeManifest(
      await manifestFolder(),
      'full.jsonl',
      rows('full', 30).map(jsonLine),
    );
    const result = await runCliInProcess(
      ['run', manifest, '--out', disk.directory, '--batch', 'full'],
      suite.environment(),
    );
    const output = result.stdout + result.stderr;
    expect(output).toMatch(/Batch paused: the output storage is full: 0\.\d MiB free under/);
    expect(output).toMatch(/resume --batch full/);
    expect(output).not.toMatch(/at .*\.ts:\d+/);
    // Nothing was paid for.
    expect(paidByPrompt('full')).toEqual([]);
    const status = JSON.parse(
      (await runCliInProcess(['status', 'full', '--json'], suite.environment())).stdout,
    ) as { state: string; pausedReason?: string; pending: number };
    expect(status).toMatchObject({ state: 'paused', pending: 30 });
    expect(status.pausedReason).toMatch(/output storage is full/);
  });

  it('keeps what paid rows got when their images cannot be written, and stores them after resume without paying again', async (context) => {
    if (mountProblem !== undefined) context.skip(mountProblem);
    const disk = await smallDisk('2m');
    if ('skip' in disk) return context.skip(disk.skip);
    // Leave the batch a little room: a few images fit, then every write fails ENOSPC.
    const stats = await statfs(disk.directory);
    const filler = path.join(disk.directory, 'filler.bin');
    await writeFile(filler, Buffer.alloc(Math.max(0, stats.bavail * stats.bsize - 48 * 1024)));
    const count = 12;
    const manifest = await writeManifest(
      await manifestFolder(),
      'held.jsonl',
      rows('held', count).map(jsonLine),
    );
    // The room check before paying is off: rows are paid, then cannot be stored.
    const environment = suite.environment({ IMAGE_BATCH_MIN_FREE_BYTES: '0' });
    const command = ['run', manifest, '--out', disk.directory, '--batch', 'held'];
    const first = await runCliInProcess(command, environment);
    expect(first.stdout + first.stderr).toMatch(/Batch paused: the output storage is full \(ENOSPC/);
    // Rows in flight when the disk filled were paid (once each); the rest were not sent.
    const paidBefore = paidByPrompt('held');
    expect(paidBefore.length).toBeGreaterThan(0);
    expect(paidBefore.every((paid) => paid === 1)).toBe(true);
    const held = await readdir(path.join(disk.directory, 'held', 'images')).catch(() => []);
    expect(held.filter((name) => !name.endsWith('.part')).length).toBeLessThan(paidBefore.length);
    // Resuming while the disk is still full is refused.
    const refused = await runCliInProcess(['resume', '--batch', 'held'], environment);
    expect(refused.exitCode).toBe(1);
    expect(refused.stdout).toMatch(/Not resumed: still 0\.\d MiB free/);
    // Space freed: resume, run the same command again.
    await rm(filler);
    const resumed = await runCliInProcess(['resume', '--batch', 'held'], environment);
    expect(resumed.stdout).toMatch(/Resumed batch held \(it was paused: the output storage is full/);
    const second = await runCliInProcess(command, environment);
    expect(second.exitCode, second.stdout + second.stderr).toBe(0);
    const lines = await readJsonLines<ResultLine>(path.join(disk.directory, 'held', 'results.jsonl'));
    expect(lines).toHaveLength(count);
    expect(new Set(lines.map((line) => line.row_key)).size).toBe(count);
    expect(lines.every((line) => line.status === 'completed' && line.outputs.length === 1)).toBe(true);
    // Each row paid exactly once, the held ones included.
    const paid = paidByPrompt('held');
    expect(paid).toHaveLength(count);
    expect(paid.every((times) => times === 1)).toBe(true);
    const images = await readdir(path.join(disk.directory, 'held', 'images'));
    expect(images.filter((name) => !name.endsWith('.part'))).toHaveLength(count);
  });
});
