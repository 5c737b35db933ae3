/**
 * `npm run bench -- --only cluster` (issue 27): the same `run` — a manifest spread over the five hosts, the simulator's
 * instant hosts, one worker process — on one private Redis and on a private three-master Redis Cluster
 * (test/helpers/redis-cluster.ts), alternated, and rows/s end to end compared. No target: the three masters, the
 * worker and the simulator share the machine's two cores, so this shows what the cluster's routing costs here, not
 * the capacity it adds on separate machines.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ProviderSimulator } from '../src/simulator/server.js';
import { startRedisCluster } from '../test/helpers/redis-cluster.js';
import { simulatorEnvironment } from '../test/helpers/simulator-environment.js';
import {
  cli,
  figure,
  formatFigure,
  log,
  newPrefix,
  perSecond,
  percent,
  quick,
  rows,
  runNode,
  scratch,
} from './harness.js';
import { privateRedis } from './scale-10m.js';

const HOSTS = ['openai', 'fal', 'oxen', 'replicate', 'wavespeed'] as const;

/** A manifest of `count` rows over the five hosts, one prompt (the simulator renders each distinct prompt once). */
async function writeManifest(file: string, count: number): Promise<void> {
  const lines = ['id,prompt,resolution,quality,provider'];
  for (let index = 0; index < count; index += 1)
    lines.push(`row-${index},A cluster benchmark image,1024x1024,low,${HOSTS[index % HOSTS.length]}`);
  await writeFile(file, `${lines.join('\n')}\n`);
}

/** One `run` of the manifest against `redisUrl`: rows/s from its start to its end. */
async function runOnce(
  redisUrl: string,
  manifest: string,
  count: number,
  simulator: ProviderSimulator,
): Promise<number> {
  const environment = {
    ...simulatorEnvironment(simulator.url, 'bench-key'),
    // Slots for every host, and no poll budget: the hosts' own limits (WaveSpeedAI's 600 polls a minute) would bound
    // both runs alike and hide what Redis costs.
    ...Object.fromEntries(
      HOSTS.flatMap((host) => [
        [`${host.toUpperCase()}_CONCURRENCY`, '16'],
        [`${host.toUpperCase()}_POLLS_PER_MINUTE`, '0'],
      ]),
    ),
    REDIS_URL: redisUrl,
    IMAGE_BATCH_QUEUE_PREFIX: newPrefix(),
    LOG_LEVEL: 'warn',
  };
  const out = path.join(scratch, `cluster-out-${environment.IMAGE_BATCH_QUEUE_PREFIX}`);
  const run = await runNode([cli, 'run', manifest, '--batch', 'cluster', '--out', out], environment);
  if (!run.stdout.includes(`${count} completed`)) throw new Error(`run:\n${run.stdout}${run.stderr}`);
  return (count * 1000) / run.ms;
}

/** The comparison; adds its row to the table. */
export async function clusterVersusSingle(): Promise<void> {
  const count = quick ? 300 : 3000;
  const runs = quick ? 1 : 3;
  const manifest = path.join(scratch, 'cluster.csv');
  await writeManifest(manifest, count);
  const single = await privateRedis();
  const cluster = await startRedisCluster(3);
  const simulator = new ProviderSimulator({ apiKey: 'bench-key', latencyMs: 0 });
  await simulator.start();
  const singleRates: number[] = [];
  const clusterRates: number[] = [];
  try {
    for (let index = 0; index < runs; index += 1) {
      singleRates.push(await runOnce(single.url, manifest, count, simulator));
      clusterRates.push(await runOnce(cluster.url, manifest, count, simulator));
      log(
        `cluster: run ${index + 1}: one Redis ${perSecond(singleRates.at(-1)!)}, cluster ${perSecond(clusterRates.at(-1)!)}`,
      );
    }
  } finally {
    await simulator.stop();
    await cluster.stop();
    single.stop();
  }
  const ours = figure(clusterRates);
  const bare = figure(singleRates);
  rows.push({
    benchmark: `Redis Cluster, 3 local masters, vs one Redis (${count.toLocaleString('en')} rows over 5 hosts, \`run\`, 1 worker process)`,
    measure: 'rows/s end to end (cluster; "bare" column: one Redis)',
    ours: formatFigure(ours, perSecond),
    bare: formatFigure(bare, perSecond),
    ratio: percent(ours.median / bare.median),
    target: 'none (reported; shares 2 cores)',
    met: undefined,
  });
}
