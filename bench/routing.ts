/**
 * Routing over several hosts (issue 25), ours against the ideal in the same run:
 *
 * - `auto` rows over three simulated hosts limited to 60, 120 and 300 requests a minute (`--route fastest`): the time
 *   against the ideal of their summed capacity;
 * - the same with the fastest host down (503) for the middle third of the healthy run's time: the time against the
 *   healthy run's, rows on two hosts and rows paid twice;
 * - `cheapest` on a manifest of mixed sizes and qualities over all five hosts: what the batch cost against the cheapest
 *   feasible assignment, computed here row by row from `estimate` on each host alone (the catalogue, the hosts'
 *   capability tables and served prices), and the saving against sending every row to one host.
 *
 * `BENCH_DEBUG=1` logs each host's submissions (span, gaps between them) and the rows that moved.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { apiKeyVariable, baseUrlVariable } from '../src/providers/configuration.js';
import type { ProviderName } from '../src/shared/config.js';
import type { ProviderSimulator } from '../src/simulator/server.js';
import { simulatorBaseUrls } from '../src/simulator/server.js';
import {
  cli,
  deletePrefix,
  log,
  newPrefix,
  percent,
  quick,
  redisUrl,
  rows,
  runNode,
  scratch,
} from './harness.js';
import { runOurWorker, withSimulator } from './worker-runs.js';

/** The three hosts of the throughput runs and their limits, requests a minute (the last is the fastest). */
const LIMITED_HOSTS: ReadonlyArray<[ProviderName, number]> = [
  ['openai', 60],
  ['fal', 120],
  ['replicate', 300],
];

/** Environment pointing `hosts` at the simulator with a key each, their limits and concurrency. */
function hostsEnvironment(
  simulator: ProviderSimulator,
  hosts: ReadonlyArray<[ProviderName, number]>,
): Record<string, string> {
  const urls = simulatorBaseUrls(simulator.url);
  const environment: Record<string, string> = { FAL_REST_URL: simulator.url };
  for (const [provider, perMinute] of hosts) {
    const upper = provider.toUpperCase();
    environment[apiKeyVariable(provider)] = 'bench-key';
    environment[baseUrlVariable(provider)] = urls[provider].baseUrl;
    environment[`${upper}_REQUESTS_PER_MINUTE`] = String(perMinute);
    environment[`${upper}_CONCURRENCY`] = '16';
    environment[`${upper}_POLL_INTERVAL_MS`] = '100';
  }
  return environment;
}

/** Result lines of batch `bench` under `prefix`. */
async function resultLines(prefix: string): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(path.join(scratch, prefix, 'bench', 'results.jsonl'), 'utf8');
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Write `entries` as a JSONL manifest and enqueue them as batch `bench` under a new prefix. */
async function enqueueRows(
  entries: Array<Record<string, unknown>>,
  environment: Record<string, string>,
  args: string[] = [],
): Promise<string> {
  const prefix = newPrefix();
  const manifest = path.join(scratch, `routing-${prefix}.jsonl`);
  await writeFile(manifest, `${entries.map((entry) => JSON.stringify(entry)).join('\n')}\n`);
  const run = await runNode(
    [cli, 'enqueue', manifest, '--batch', 'bench', '--out', path.join(scratch, prefix), ...args],
    { REDIS_URL: redisUrl, IMAGE_BATCH_QUEUE_PREFIX: prefix, LOG_LEVEL: 'warn', ...environment },
  );
  if (!run.stdout.includes(`enqueued ${entries.length}`))
    throw new Error(`could not enqueue:\n${run.stdout}${run.stderr}`);
  return prefix;
}

/** What one throughput run measured. */
interface ThroughputRun {
  /** From the first submission to the last row finished, s. */
  seconds: number;
  completed: number;
  /** Rows with an accepted, billed submission on more than one host. */
  onTwoHosts: number;
  /** Accepted, billed submissions beyond one per row. */
  paidTwice: number;
  perHost: Record<string, number>;
}

/**
 * Run `count` `auto` rows `fastest` over the limited hosts; `during` runs once the worker is started (to schedule an
 * outage). Keys are deleted afterwards.
 */
async function throughputRun(
  redis: Redis,
  simulator: ProviderSimulator,
  count: number,
  tag: string,
  during?: (startedAt: number) => void,
): Promise<ThroughputRun> {
  for (const [provider, perMinute] of LIMITED_HOSTS)
    simulator.setHostConditions(provider, {
      rateLimitPerMinute: perMinute,
      latencyMs: 300,
      startDelayMs: 50,
    });
  const environment = { ...hostsEnvironment(simulator, LIMITED_HOSTS), IMAGE_BATCH_BREAKER_OPEN_MS: '2000' };
  const prompts = Array.from({ length: count }, (_, index) => `routing ${tag} row ${index}`);
  const prefix = await enqueueRows(
    prompts.map((prompt, index) => ({
      id: `r${index}`,
      provider: 'auto',
      prompt,
      resolution: '1024x1024',
      quality: 'low',
    })),
    environment,
    ['--route', 'fastest'],
  );
  const recordedBefore = simulator.recordedRequests.length;
  try {
    const worker = runOurWorker(redis, prefix, environment, ['--concurrency', '16']);
    during?.(Date.now());
    await worker;
    const lines = await resultLines(prefix);
    const mine = new Set(prompts);
    const accepted = simulator.recordedRequests
      .slice(recordedBefore)
      .filter((request) => mine.has(request.prompt) && request.status >= 200 && request.status < 300);
    const hostsOf = new Map<string, Set<string>>();
    const paidOf = new Map<string, number>();
    for (const request of accepted) {
      hostsOf.set(request.prompt, (hostsOf.get(request.prompt) ?? new Set()).add(request.provider));
      paidOf.set(request.prompt, (paidOf.get(request.prompt) ?? 0) + 1);
    }
    const unbilled = (prompt: string) => simulator.unbilledByPrompt.get(prompt) ?? 0;
    const first = Math.min(...accepted.map((request) => request.at));
    for (const [provider] of LIMITED_HOSTS) {
      const times = accepted
        .filter((request) => request.provider === provider)
        .map((request) => request.at - first);
      const throttled = simulator.throttledByProvider.get(provider) ?? 0;
      if (process.env.BENCH_DEBUG !== undefined) {
        const sorted = [...times].sort((x, y) => x - y);
        log(
          `  ${provider} gaps: ${sorted
            .slice(1)
            .map((t, i) => t - sorted[i]!)
            .join(',')}`,
        );
      }
      if (times.length > 0)
        log(
          `  ${provider}: ${times.length} accepted from ${(Math.min(...times) / 1000).toFixed(1)} s to ` +
            `${(Math.max(...times) / 1000).toFixed(1)} s; ${throttled} answered 429`,
        );
    }
    const last = Math.max(...lines.map((line) => Date.parse(String(line.finished_at))));
    if (process.env.BENCH_DEBUG !== undefined) {
      const moved = lines.filter((line) => Array.isArray(line.hosts_tried) && line.hosts_tried.length > 0);
      log(`  moved rows: ${moved.length}; e.g. ${JSON.stringify(moved[0]?.hosts_tried)}`);
      const byFinish = [...lines].sort(
        (a, b) => Date.parse(String(a.finished_at)) - Date.parse(String(b.finished_at)),
      );
      log(
        `  last rows: ${byFinish
          .slice(-5)
          .map(
            (line) =>
              `${String(line.provider)} ${String(line.finished_at).slice(14, 23)} tried=${JSON.stringify(line.hosts_tried)}`,
          )
          .join(' | ')}`,
      );
    }
    const perHost: Record<string, number> = {};
    for (const line of lines) perHost[String(line.provider)] = (perHost[String(line.provider)] ?? 0) + 1;
    return {
      seconds: (last - first) / 1000,
      completed: lines.filter((line) => line.status === 'completed').length,
      onTwoHosts: [...hostsOf.values()].filter((hosts) => hosts.size > 1).length,
      paidTwice: [...paidOf].reduce(
        (sum, [prompt, paid]) => sum + Math.max(0, paid - unbilled(prompt) - 1),
        0,
      ),
      perHost,
    };
  } finally {
    simulator.clearHostConditions();
    await deletePrefix(redis, prefix);
  }
}

/** The throughput rows: healthy, then with the fastest host down for the middle third. */
export async function routingThroughput(redis: Redis): Promise<void> {
  const count = quick ? 300 : 2000;
  const summedPerSecond = LIMITED_HOSTS.reduce((sum, [, perMinute]) => sum + perMinute, 0) / 60;
  const idealSeconds = count / summedPerSecond;
  const healthy = await withSimulator((simulator) => throughputRun(redis, simulator, count, 'healthy'));
  log(
    `routing healthy: ${healthy.seconds.toFixed(1)} s for ${count} rows (ideal ${idealSeconds.toFixed(1)} s)`,
  );
  const limits = LIMITED_HOSTS.map(([provider, perMinute]) => `${provider} ${perMinute}`).join(', ');
  const spread = (run: ThroughputRun) =>
    Object.entries(run.perHost)
      .map(([host, rowsDone]) => `${host} ${rowsDone}`)
      .join(', ');
  rows.push({
    benchmark: `Routing: ${count.toLocaleString('en')} \`auto\` rows over three hosts (${limits} requests/min), --route fastest`,
    measure: `ideal time (summed capacity) / time; rows per host: ${spread(healthy)}; ${healthy.completed} completed`,
    ours: `${healthy.seconds.toFixed(1)} s`,
    bare: `ideal ${idealSeconds.toFixed(1)} s`,
    ratio: percent(idealSeconds / healthy.seconds),
    target: '≥ 90 %',
    met: idealSeconds / healthy.seconds >= 0.9 && healthy.completed === count,
  });
  const [fastest] = LIMITED_HOSTS.at(-1)!;
  const third = (healthy.seconds * 1000) / 3;
  const outage = await withSimulator((simulator) =>
    throughputRun(redis, simulator, count, 'outage', (startedAt) => {
      // Worker start-up (about a second) is not part of the healthy run's time.
      const from = startedAt + 1000 + third;
      simulator.setHostConditions(fastest, {
        rateLimitPerMinute: LIMITED_HOSTS.at(-1)![1],
        latencyMs: 300,
        startDelayMs: 50,
        outage: { fromMs: from, untilMs: from + third },
      });
    }),
  );
  log(
    `routing outage: ${outage.seconds.toFixed(1)} s; ${outage.onTwoHosts} on two hosts; ${outage.paidTwice} paid twice`,
  );
  const slowdown = outage.seconds / healthy.seconds;
  rows.push({
    benchmark: `Routing: the same with ${fastest} (the fastest) down for the middle third`,
    measure:
      `time / healthy run's; rows per host: ${spread(outage)}; rows on two hosts: ${outage.onTwoHosts}; ` +
      `paid twice: ${outage.paidTwice}; ${outage.completed} completed (no host can make up the lost third: ideal ` +
      `${(1 + LIMITED_HOSTS.at(-1)![1] / 60 / summedPerSecond / 3).toFixed(2)}×)`,
    ours: `${outage.seconds.toFixed(1)} s`,
    bare: `healthy ${healthy.seconds.toFixed(1)} s`,
    ratio: `${slowdown.toFixed(2)}×`,
    target: '≤ 1.2×, 0 on two hosts, 0 paid twice',
    met: slowdown <= 1.2 && outage.onTwoHosts === 0 && outage.paidTwice === 0 && outage.completed === count,
  });
}

/** Row kinds of the mixed manifest: size, quality, rows of each. */
const MIXED: ReadonlyArray<[string, string, number]> = [
  ['1024x1024', 'low', 40],
  ['1536x1024', 'medium', 40],
  ['1024x1536', 'high', 30],
  ['2048x2048', 'high', 20],
  ['1920x1080', 'medium', 30],
  ['3840x2160', 'low', 20],
];

/** USD of one row of `resolution` × `quality` on `provider` alone, by `estimate`; undefined when it refuses the row. */
async function priceOnHost(
  provider: ProviderName,
  resolution: string,
  quality: string,
  environment: Record<string, string>,
): Promise<number | undefined> {
  const manifest = path.join(scratch, `price-${provider}-${resolution}-${quality}.jsonl`);
  await writeFile(manifest, `${JSON.stringify({ id: 'one', prompt: 'price', resolution, quality })}\n`);
  const run = await runNode([cli, 'estimate', manifest, '--provider', provider], {
    LOG_LEVEL: 'warn',
    ...environment,
  }).catch(() => undefined);
  const total = /\n\s+total\s+1\s+\$([\d.]+)/.exec(run?.stdout ?? '');
  return total === null ? undefined : Number(total[1]);
}

/** The cheapest policy's cost on a mixed manifest against the offline optimum and against single hosts. */
export async function routingCost(redis: Redis): Promise<void> {
  const scale = quick ? 0.25 : 1;
  await withSimulator(async (simulator) => {
    const hosts: ReadonlyArray<[ProviderName, number]> = (
      ['oxen', 'fal', 'openai', 'replicate', 'wavespeed'] as const
    ).map((provider) => [provider, 60_000]);
    simulator.setLatency(50);
    const environment = hostsEnvironment(simulator, hosts);
    // Offline, row kind by row kind: each host's price for it alone, and the cheapest that takes it.
    const prices = new Map<string, Map<ProviderName, number>>();
    for (const [resolution, quality] of MIXED) {
      const byHost = new Map<ProviderName, number>();
      for (const [provider] of hosts) {
        const usd = await priceOnHost(provider, resolution, quality, environment);
        if (usd !== undefined) byHost.set(provider, usd);
      }
      prices.set(`${resolution} ${quality}`, byHost);
    }
    const entries = MIXED.flatMap(([resolution, quality, perKind]) =>
      Array.from({ length: Math.max(1, Math.round(perKind * scale)) }, (_, index) => ({
        id: `${resolution}-${quality}-${index}`,
        provider: 'auto',
        prompt: `routing cost ${resolution} ${quality} ${index}`,
        resolution,
        quality,
      })),
    );
    let optimumUsd = 0;
    const singleHostUsd = new Map<ProviderName, number>();
    const infeasible = new Set<ProviderName>();
    for (const entry of entries) {
      const byHost = prices.get(`${entry.resolution} ${entry.quality}`)!;
      optimumUsd += Math.min(...byHost.values());
      for (const [provider] of hosts) {
        const usd = byHost.get(provider);
        if (usd === undefined) infeasible.add(provider);
        else singleHostUsd.set(provider, (singleHostUsd.get(provider) ?? 0) + usd);
      }
    }
    const prefix = await enqueueRows(entries, environment);
    try {
      await runOurWorker(redis, prefix, environment, ['--concurrency', '16']);
      const lines = await resultLines(prefix);
      const oursUsd = lines.reduce((sum, line) => sum + Number(line.cost_usd ?? 0), 0);
      const singles = [...singleHostUsd].filter(([provider]) => !infeasible.has(provider));
      const dearest = singles.sort(([, a], [, b]) => b - a)[0];
      const cheapestSingle = singles.sort(([, a], [, b]) => a - b)[0];
      log(`routing cost: $${oursUsd.toFixed(4)} against the optimum $${optimumUsd.toFixed(4)}`);
      rows.push({
        benchmark: `Routing: --route cheapest, ${entries.length} \`auto\` rows of ${MIXED.length} sizes × qualities over five hosts`,
        measure:
          `cost / cheapest feasible assignment (offline, row by row); ${lines.length} rows finished; saves ` +
          (dearest === undefined
            ? 'n/a (no single host takes every row)'
            : `$${(dearest[1] - oursUsd).toFixed(2)} against all on ${dearest[0]} ($${dearest[1].toFixed(2)})` +
              `, $${(cheapestSingle![1] - oursUsd).toFixed(2)} against the cheapest single host (${cheapestSingle![0]})`),
        ours: `$${oursUsd.toFixed(4)}`,
        bare: `optimum $${optimumUsd.toFixed(4)}`,
        ratio: `${((oursUsd / optimumUsd) * 100).toFixed(1)} %`,
        target: '≤ 101 %',
        met: oursUsd <= optimumUsd * 1.01 && lines.length === entries.length,
      });
    } finally {
      await deletePrefix(redis, prefix);
    }
  });
}
