/**
 * Upgrading from the key layout before hash tags (issue 27): the first command renames an earlier version's batch
 * records, host records and queues to their tagged names, so a re-run pays nothing for rows already made and queued
 * jobs are still worked. The earlier layout is made here from a real batch by taking the braces out of its key names.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { currentKeyName } from '../../src/batch/key-layout.js';
import { killSpawnedProcesses, runCliInProcess, spawnCli } from '../helpers/cli.js';
import { temporaryDirectory } from '../helpers/files.js';
import { rowsPerProviderManifest } from '../helpers/manifests.js';
import { layoutTwoRowKeys } from '../../src/batch/row-index-upgrade.js';
import { batchKeys } from '../../src/shared/keys.js';
import { keysMatching, openTestRedis, rowRecords } from '../helpers/redis.js';
import { resultLines } from '../helpers/results.js';
import { simulatorSuite } from '../helpers/simulator-suite.js';

const suite = simulatorSuite();
afterEach(() => killSpawnedProcesses());

/** Paid submissions the simulator received for prompts starting with `name`. */
function paidFor(name: string): number {
  let total = 0;
  for (const [prompt, count] of suite.simulator().submissionsByPrompt)
    if (prompt.startsWith(name)) total += count;
  return total;
}

/** Rename every key under the prefix to its name before hash tags, as an earlier image-batch left them. */
async function downgradeKeys(prefix: string): Promise<number> {
  const redis = openTestRedis();
  try {
    await redis.del(`${prefix}:key-layout`);
    let renamed = 0;
    for (const key of await keysMatching(redis, `${prefix}:*`)) {
      const old = key.replace(/\{([^}]*)\}/, '$1');
      if (old === key) continue;
      expect(currentKeyName(prefix, old)).toBe(key);
      await redis.rename(key, old);
      renamed += 1;
    }
    return renamed;
  } finally {
    redis.disconnect();
  }
}

/**
 * Put batch `batchId`'s row index back as layout 2 left it: one hash of places by identity and one of outcomes by row
 * key. @returns the rows moved.
 */
async function unfoldRowIndex(prefix: string, batchId: string): Promise<number> {
  const redis = openTestRedis();
  try {
    const records = await rowRecords(redis, prefix, batchId);
    const old = layoutTwoRowKeys(prefix, batchId);
    for (const [identity, record] of Object.entries(records)) {
      const bar = record.indexOf('|');
      const owner = bar < 0 ? identity : record.slice(bar + 1);
      await redis.hset(old.rowIndex, identity, record.slice(1));
      if (record[0] !== '-')
        await redis.hset(old.outcomes, owner, record[0] === 'c' ? 'completed' : 'failed');
    }
    const meta = batchKeys(prefix, batchId).meta;
    for (const key of await keysMatching(redis, `${prefix}:batch:{${batchId}}:rows:*`)) await redis.del(key);
    await redis.hdel(meta, 'row_buckets');
    await redis.set(`${prefix}:key-layout`, '2');
    return Object.keys(records).length;
  } finally {
    redis.disconnect();
  }
}

describe('a row index of layout 2 (places in one hash, outcomes in another)', () => {
  it('is folded into bucket hashes by the first command: a re-run pays nothing and adds no line', async () => {
    const manifest = await rowsPerProviderManifest('layout two', 4);
    const out = await temporaryDirectory();
    const environment = suite.environment();
    const run = ['run', manifest, '--out', out, '--batch', 'two', '--requests-per-minute', '0'];
    expect((await runCliInProcess(run, environment)).stdout).toMatch(/8 completed, 0 failed, 0 pending/);
    expect(await unfoldRowIndex(suite.prefix(), 'two')).toBe(8);

    const again = await runCliInProcess(run, environment);
    expect(again.stdout, again.stdout + again.stderr).toMatch(/8 completed, 0 failed, 0 pending/);
    expect(paidFor('layout two')).toBe(8);
    expect(await resultLines(out, 'two')).toHaveLength(8);
    const redis = openTestRedis();
    try {
      const records = Object.values(await rowRecords(redis, suite.prefix(), 'two'));
      expect(records.filter((record) => record.startsWith('c'))).toHaveLength(8);
      const old = layoutTwoRowKeys(suite.prefix(), 'two');
      expect(await redis.exists(old.rowIndex, old.outcomes)).toBe(0);
    } finally {
      redis.disconnect();
    }
  });
});

describe('records of the layout before hash tags', () => {
  it('are renamed by the first command: a re-run of a finished batch pays nothing and adds no line', async () => {
    const manifest = await rowsPerProviderManifest('layout done', 3);
    const out = await temporaryDirectory();
    const environment = suite.environment();
    const run = ['run', manifest, '--out', out, '--batch', 'done', '--requests-per-minute', '0'];
    expect((await runCliInProcess(run, environment)).stdout).toMatch(/6 completed, 0 failed, 0 pending/);
    expect(await downgradeKeys(suite.prefix())).toBeGreaterThan(5);

    const again = await runCliInProcess(run, environment);
    expect(again.stdout, again.stdout + again.stderr).toMatch(/6 completed, 0 failed, 0 pending/);
    expect(paidFor('layout done')).toBe(6);
    expect(await resultLines(out, 'done')).toHaveLength(6);
    const redis = openTestRedis();
    try {
      expect(await keysMatching(redis, `${suite.prefix()}:batch:done:*`)).toEqual([]);
      expect(await redis.get(`${suite.prefix()}:key-layout`)).toBe('3');
    } finally {
      redis.disconnect();
    }
  });

  it('queued jobs of the earlier layout are worked after the upgrade, each row paid once', async () => {
    const manifest = await rowsPerProviderManifest('layout queued', 3);
    const out = await temporaryDirectory();
    const environment = suite.environment();
    const enqueue = await runCliInProcess(
      ['enqueue', manifest, '--out', out, '--batch', 'queued'],
      environment,
    );
    expect(enqueue.exitCode, enqueue.stdout + enqueue.stderr).toBe(0);
    expect(await downgradeKeys(suite.prefix())).toBeGreaterThan(5);

    const status = async () =>
      JSON.parse((await runCliInProcess(['status', 'queued', '--json'], environment)).stdout) as {
        rows: number;
        completed: number;
        pending: number;
      };
    expect(await status()).toMatchObject({ rows: 6, pending: 6 });
    // A worker alone (nothing enqueued again): it finds the jobs only under their new names.
    spawnCli(['worker', '--requests-per-minute', '0'], environment);
    const deadline = Date.now() + 30_000;
    while ((await status()).completed < 6 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await status()).toMatchObject({ completed: 6, pending: 0 });
    expect(paidFor('layout queued')).toBe(6);
  });
});
