/**
 * `npm run bench -- --only reuse` (issue 31): a catalogue of 10,000 rows run once, then run again under a new batch id
 * with 10 rows changed — with `--reuse` (pays for the 10) and without it (a full re-run, pays for all): time of each
 * re-run, what it paid (submissions the simulated host billed, and the batch's cost), and the reuse index's Redis
 * bytes per indexed image (MEMORY USAGE of the root's hash over its fields).
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { ReuseIndex } from '../src/batch/reuse-index.js';
import type { ProviderSimulator } from '../src/simulator/server.js';
import {
  cli,
  deletePrefix,
  log,
  newPrefix,
  quick,
  redisUrl,
  rows,
  runNode,
  scratch,
  SMALL_SIZE,
} from './harness.js';
import { providerEnvironment, withSimulator } from './worker-runs.js';

/** Rows changed between the first run and the re-run. */
const CHANGED = 10;

/** Write the catalogue of `count` rows, the first {@link CHANGED} altered when `changed`. */
async function catalogue(count: number, changed: boolean): Promise<string> {
  const manifest = path.join(scratch, `reuse-${count}-${changed ? 'changed' : 'first'}.jsonl`);
  const lines = Array.from({ length: count }, (_, index) =>
    JSON.stringify({
      id: `item-${index}`,
      provider: 'openai',
      prompt: `catalogue item ${index}${changed && index < CHANGED ? ' in the new colour' : ''}`,
      quality: 'low',
      resolution: SMALL_SIZE,
    }),
  );
  await writeFile(manifest, `${lines.join('\n')}\n`);
  return manifest;
}

/** Billed submissions of the simulator so far. */
function billed(simulator: ProviderSimulator): number {
  let total = 0;
  for (const count of simulator.submissionsByPrompt.values()) total += count;
  return total;
}

/** Run `manifest` as `batch` under `out`; @returns seconds, submissions billed and the batch's estimated USD. */
async function runBatch(
  simulator: ProviderSimulator,
  environment: Record<string, string>,
  manifest: string,
  out: string,
  batch: string,
  flags: string[] = [],
): Promise<{ seconds: number; paid: number; costUsd: number }> {
  const before = billed(simulator);
  const run = await runNode([cli, 'run', manifest, '--out', out, '--batch', batch, ...flags], environment);
  const summary = JSON.parse(await readFile(path.join(out, batch, 'summary.json'), 'utf8')) as {
    cost_usd_total: number;
  };
  log(
    `reuse: ${batch} ${flags.join(' ')}: ${(run.ms / 1000).toFixed(1)} s, paid ${billed(simulator) - before}`,
  );
  return { seconds: run.ms / 1000, paid: billed(simulator) - before, costUsd: summary.cost_usd_total };
}

/** The re-run with 10 rows changed, with and without `--reuse`. */
export async function reuseRerun(redis: Redis): Promise<void> {
  const count = quick ? 1000 : 10_000;
  await withSimulator(async (simulator) => {
    const prefix = newPrefix();
    const environment = {
      ...providerEnvironment(simulator, 'openai', 64),
      OPENAI_REQUESTS_PER_MINUTE: '0', // no rate limit: the simulator answers at once
      REDIS_URL: redisUrl,
      IMAGE_BATCH_QUEUE_PREFIX: prefix,
      LOG_LEVEL: 'warn',
    };
    const out = path.join(scratch, `reuse-${prefix}`);
    try {
      await runBatch(simulator, environment, await catalogue(count, false), out, 'november');
      const changed = await catalogue(count, true);
      // With --reuse first: the full re-run's outputs would otherwise be there to copy, the changed rows' too.
      const reused = await runBatch(simulator, environment, changed, out, 'december', ['--reuse']);
      const full = await runBatch(simulator, environment, changed, out, 'december-full');
      const index = new ReuseIndex(redis, prefix).keyOf(out);
      const fields = (await redis.hlen(index)) - 1; // less the `.complete` mark
      const bytes = Number(await redis.call('MEMORY', 'USAGE', index, 'SAMPLES', '0'));
      const bytesPerImage = bytes / Math.max(1, fields);
      log(`reuse: index ${fields} keys, ${bytes} bytes, ${bytesPerImage.toFixed(0)} bytes per image`);
      rows.push({
        benchmark: `Re-run of ${count.toLocaleString('en')} rows with ${CHANGED} changed, new batch id`,
        measure: 's and USD of the re-run; submissions billed (full re-run → with --reuse)',
        ours: `${reused.seconds.toFixed(1)} s, $${reused.costUsd.toFixed(2)}, ${reused.paid} paid`,
        peer: '—',
        versusPeer: '—',
        bare: `${full.seconds.toFixed(1)} s, $${full.costUsd.toFixed(2)}, ${full.paid} paid`,
        ratio: `${(reused.seconds / full.seconds).toFixed(2)}× time, ${(reused.costUsd / full.costUsd).toFixed(4)}× cost`,
        target: `pays for ${CHANGED}`,
        met: reused.paid === CHANGED,
        note: `reuse index: ${bytesPerImage.toFixed(0)} bytes of Redis per indexed image (${fields.toLocaleString('en')} images)`,
      });
    } finally {
      await deletePrefix(redis, prefix);
    }
  });
}
