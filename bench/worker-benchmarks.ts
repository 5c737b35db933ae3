/** Benchmarks 2–5 of `npm run bench` (bench/run.ts): dispatch, latency hiding, rate adherence, large outputs. */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Redis } from 'ioredis';
import { ProviderSimulator } from '../src/simulator/server.js';
import {
  completionRate,
  enqueueJobs,
  measureOurWorker,
  measurePeerWorker,
  providerEnvironment,
  runOurWorker,
  versusPeer,
  measureSideBySide,
} from './worker-runs.js';
import {
  deletePrefix,
  figure,
  formatFigure,
  log,
  mebibytes,
  MIB,
  percent,
  perSecond,
  quick,
  redisUrl,
  root,
  rows,
  runNode,
  SMALL_SIZE,
} from './harness.js';

export async function dispatch(redis: Redis, simulator: ProviderSimulator): Promise<void> {
  simulator.setLatency(0);
  const repeats = quick ? 1 : 2;
  for (const concurrency of [1, 50, 200]) {
    const jobs = quick ? (concurrency === 1 ? 300 : 1000) : concurrency === 1 ? 500 : 2000;
    const ours: number[] = [];
    const bare: number[] = [];
    const peer: number[] = [];
    for (let run = 0; run < repeats; run += 1) {
      peer.push(await measurePeerWorker(redis, simulator, jobs, concurrency));
      const barePrefix = await enqueueJobs(redis, jobs, SMALL_SIZE);
      try {
        await runNode(
          [path.join(root, 'bench/bare-worker.mjs'), redisUrl, barePrefix, String(concurrency), String(jobs)],
          {},
        );
        bare.push((await completionRate(redis, barePrefix)).rate);
      } finally {
        await deletePrefix(redis, barePrefix);
      }
      const measured = await measureOurWorker(redis, simulator, {
        provider: 'openai',
        jobs,
        resolution: SMALL_SIZE,
        concurrency,
      });
      ours.push(measured.rate);
      log(
        `dispatch c=${concurrency}: ours ${perSecond(ours.at(-1)!)}, peer ${perSecond(peer.at(-1)!)}, ` +
          `bare ${perSecond(bare.at(-1)!)}`,
      );
    }
    const ratios = figure(ours.map((value, index) => value / bare[index]!));
    rows.push({
      benchmark: `Dispatch, concurrency ${concurrency}`,
      measure: `jobs/s (${jobs.toLocaleString('en')} jobs; ours: call, image file, results line)`,
      ours: formatFigure(figure(ours), perSecond),
      ...versusPeer(ours, peer),
      bare: formatFigure(figure(bare), perSecond),
      ratio: formatFigure(ratios, percent),
      target: '≥ 50 %',
      met: ratios.median >= 0.5,
    });
  }
}

export async function latencyHiding(redis: Redis, simulator: ProviderSimulator): Promise<void> {
  const latencyMs = 2000;
  const jobs = quick ? 1000 : 2000;
  const concurrency = 500;
  const ideal = (concurrency * 1000) / latencyMs;
  simulator.setLatency(latencyMs);
  const rates: number[] = [];
  const rss: number[] = [];
  const peer: number[] = [];
  for (let run = 0; run < (quick ? 1 : 3); run += 1) {
    peer.push(await measurePeerWorker(redis, simulator, jobs, concurrency));
    const measured = await measureOurWorker(redis, simulator, {
      provider: 'openai',
      jobs,
      resolution: SMALL_SIZE,
      concurrency,
    });
    rates.push(measured.rate);
    rss.push(measured.peakRssBytes);
    log(
      `latency hiding: ${perSecond(measured.rate)} of ${perSecond(ideal)} (peer ${perSecond(peer.at(-1)!)}), ` +
        mebibytes(measured.peakRssBytes),
    );
  }
  simulator.setLatency(0);
  const ratio = figure(rates.map((rate) => rate / ideal));
  rows.push({
    benchmark: `Latency hiding (2 s latency, ${jobs.toLocaleString('en')} rows, concurrency 500)`,
    measure: 'jobs/s vs ideal 250/s',
    ours: formatFigure(figure(rates), perSecond),
    ...versusPeer(rates, peer),
    bare: `ideal ${perSecond(ideal)}`,
    ratio: formatFigure(ratio, percent),
    target: '≥ 90 %',
    met: ratio.median >= 0.9,
  });
  rows.push({
    benchmark: 'Latency hiding',
    measure: 'peak RSS of the worker',
    ours: formatFigure(figure(rss), mebibytes),
    bare: '',
    ratio: '',
    target: '',
    met: undefined,
  });
}

export async function rateAdherence(redis: Redis, simulator: ProviderSimulator): Promise<void> {
  const limit = 600;
  const jobs = quick ? 300 : 2000;
  simulator.setLatency(50);
  // The simulator enforces the limit as the provider would (a sliding minute); a 429 shows as throttled.
  simulator.setRateLimit(limit);
  const throttledBefore = simulator.throttledByProvider.get('openai') ?? 0;
  const prefix = await enqueueJobs(redis, jobs, SMALL_SIZE);
  try {
    await runOurWorker(redis, prefix, providerEnvironment(simulator, 'openai', 50), [
      '--provider',
      'openai',
      '--concurrency',
      '50',
      '--requests-per-minute',
      String(limit),
    ]);
    const { rate, count } = await completionRate(redis, prefix);
    if (count !== jobs) throw new Error(`rate adherence: ${count} of ${jobs} jobs completed`);
    // Achieved rate per 10-second window of the run, for a median and a range.
    const finished = (await redis.zrange(`${prefix}:{provider-openai}:completed`, '0', '-1', 'WITHSCORES'))
      .filter((_, index) => index % 2 === 1)
      .map(Number);
    const start = finished[0]!;
    const windows: number[] = [];
    for (let from = start; from + 10_000 <= finished.at(-1)!; from += 10_000) {
      windows.push((finished.filter((time) => time >= from && time < from + 10_000).length * 6) / limit);
    }
    const throttled = (simulator.throttledByProvider.get('openai') ?? 0) - throttledBefore;
    log(`rate adherence: ${Math.round(rate * 60)}/min of ${limit}/min, ${throttled} 429s`);
    const windowFigure = windows.length > 0 ? figure(windows) : figure([(rate * 60) / limit]);
    rows.push({
      benchmark: `Rate-limit adherence (limit ${limit}/min, ${jobs.toLocaleString('en')} rows, 50 ms latency)`,
      measure: `achieved rate / limit over the run; per 10 s window in brackets; 429s: ${throttled}`,
      ours: `${Math.round(rate * 60)}/min`,
      bare: `limit ${limit}/min`,
      ratio:
        `${percent((rate * 60) / limit)} ${windowFigure.runs > 1 ? `[${percent(windowFigure.min)}–${percent(windowFigure.max)}]` : ''}`.trim(),
      target: '≥ 95 %, no 429',
      met: (rate * 60) / limit >= 0.95 && throttled === 0,
    });
  } finally {
    simulator.setRateLimit(undefined);
    simulator.setLatency(0);
    await deletePrefix(redis, prefix);
  }
}

export async function largeOutputs(redis: Redis, simulator: ProviderSimulator): Promise<void> {
  const concurrency = 50;
  const jobs = quick ? 100 : 150;
  simulator.setLatency(0);
  const rss: number[] = [];
  let imageBytes = 0;
  for (let run = 0; run < (quick ? 1 : 2); run += 1) {
    // Noise does not compress: each PNG is as large as a detailed 4K photograph (about 24 MB).
    const measured = await measureOurWorker(redis, simulator, {
      provider: 'fal',
      jobs,
      resolution: '3840x2160',
      concurrency,
      prompt: 'A detailed 4K benchmark image [simulate:noise]',
    });
    imageBytes = measured.imageBytes;
    rss.push(measured.peakRssBytes);
    log(
      `large outputs: ${mebibytes(measured.peakRssBytes)} peak, ${mebibytes(concurrency * imageBytes)} naive`,
    );
  }
  const peak = figure(rss);
  const naive = concurrency * imageBytes;
  rows.push({
    benchmark: `Large outputs (3840×2160 PNG, ${(imageBytes / MIB).toFixed(1)} MiB each, concurrency ${concurrency})`,
    measure: 'peak RSS of the worker vs whole images in memory',
    ours: formatFigure(peak, mebibytes),
    bare: `naive ${mebibytes(naive)}`,
    ratio: percent(peak.median / naive),
    target: '< 2× bytes in flight',
    met: peak.median < 2 * naive,
  });
}

/**
 * Dispatch at concurrency 50 with tracing on — the worker's own SDK setup (OTEL_EXPORTER_OTLP_ENDPOINT) exporting every
 * span over OTLP/HTTP to a sink here that reads and drops them — against tracing off, the two workers side by side
 * (./worker-runs.ts `measureSideBySide`): runs one after another on this shared machine differ by ±25 % between
 * minutes, far more than tracing costs.
 */
export async function dispatchTraced(redis: Redis, simulator: ProviderSimulator): Promise<void> {
  simulator.setLatency(0);
  const repeats = quick ? 1 : 9;
  const concurrency = 50;
  const jobs = quick ? 1000 : 5000;
  let spans = 0;
  const sink = createServer((request, response) => {
    request.on('data', (chunk: Buffer) => (spans += chunk.length));
    // An empty body: the empty ExportTraceServiceResponse in either encoding (protobuf or JSON).
    request.on('end', () => response.writeHead(200).end());
  });
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
  const traced = { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(sink.address() as AddressInfo).port}` };
  const off: Array<{ rate: number; cpuMsPerJob: number }> = [];
  const on: Array<{ rate: number; cpuMsPerJob: number }> = [];
  try {
    for (let run = 0; run < repeats; run += 1) {
      // Which of the two starts first alternates: neither gets the machine to itself for its first moments.
      const environments = run % 2 === 0 ? [traced, {}] : [{}, traced];
      const [first, second] = await measureSideBySide(redis, simulator, { jobs, concurrency, environments });
      on.push(run % 2 === 0 ? first! : second!);
      off.push(run % 2 === 0 ? second! : first!);
      const [lastOn, lastOff] = [on.at(-1)!, off.at(-1)!];
      log(
        `dispatch c=50 tracing side by side: on ${perSecond(lastOn.rate)} ${lastOn.cpuMsPerJob.toFixed(2)} CPU ms/job, ` +
          `off ${perSecond(lastOff.rate)} ${lastOff.cpuMsPerJob.toFixed(2)} CPU ms/job`,
      );
    }
  } finally {
    sink.closeAllConnections();
    sink.close();
  }
  if (spans === 0) throw new Error('tracing was on, yet no span reached the OTLP sink');
  const ratios = figure(on.map((value, index) => value.rate / off[index]!.rate));
  rows.push({
    benchmark: 'Dispatch with tracing on, concurrency 50',
    measure: `jobs/s (${jobs.toLocaleString('en')} jobs each, on and off side by side; every span exported over OTLP/HTTP; ratio: on / off)`,
    ours: formatFigure(figure(on.map((run) => run.rate)), perSecond),
    peer: '—',
    versusPeer: '—',
    bare: `off: ${formatFigure(figure(off.map((run) => run.rate)), perSecond)}`,
    ratio: formatFigure(ratios, percent),
    target: '≥ 95 % of off',
    met: ratios.median >= 0.95,
  });
  // The cause behind the ratio: what tracing adds to the worker's own CPU per job.
  const cpu = figure(on.map((value, index) => value.cpuMsPerJob / off[index]!.cpuMsPerJob));
  const milliseconds = (value: number) => `${value.toFixed(2)} ms`;
  rows.push({
    benchmark: 'Worker CPU per job with tracing on, concurrency 50',
    measure: 'CPU ms (user + system) of the worker per job completed, start-up not counted (ratio: on / off)',
    ours: formatFigure(figure(on.map((run) => run.cpuMsPerJob)), milliseconds),
    peer: '—',
    versusPeer: '—',
    bare: `off: ${formatFigure(figure(off.map((run) => run.cpuMsPerJob)), milliseconds)}`,
    ratio: formatFigure(cpu, percent),
    target: '≤ 105 % of off',
    met: cpu.median <= 1.05,
  });
}
