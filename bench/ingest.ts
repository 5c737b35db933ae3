/** Benchmark 1 of `npm run bench` (bench/run.ts): ingest — `image-batch enqueue` against bare BullMQ and the peer. */
import path from 'node:path';
import { Redis } from 'ioredis';
import { writeFixtures, type Fixtures } from './fixtures.js';
import {
  cli,
  deletePrefix,
  figure,
  formatFigure,
  log,
  mebibytes,
  newPrefix,
  percent,
  perSecond,
  quick,
  redisUrl,
  root,
  rows,
  runNode,
  scratch,
} from './harness.js';

/** The window of jobs `enqueue` added last (its default), for the table's wording. */
let windowSeen: number | undefined;

async function ingestOnce(
  redis: Redis,
  kind: 'csv' | 'jsonl' | 'bare' | 'peer',
  fixtures: Fixtures,
): Promise<{ rowsPerSecond: number; peakRssBytes: number }> {
  const prefix = newPrefix();
  try {
    const run =
      kind === 'bare'
        ? await runNode([path.join(root, 'bench/bare-ingest.mjs'), fixtures.payloads, redisUrl, prefix], {})
        : kind === 'peer'
          ? await runNode([path.join(root, 'bench/peer-ingest.mjs'), fixtures.csv, redisUrl, prefix], {})
          : await runNode(
              [
                cli,
                'enqueue',
                kind === 'csv' ? fixtures.csv : fixtures.jsonl,
                '--batch',
                'bench',
                '--out',
                scratch,
              ],
              { REDIS_URL: redisUrl, IMAGE_BATCH_QUEUE_PREFIX: prefix, LOG_LEVEL: 'warn' },
            );
    if ((kind === 'csv' || kind === 'jsonl') && !run.stdout.includes(`enqueued ${fixtures.rows}`))
      throw new Error(`enqueue did not enqueue every row:\n${run.stdout}${run.stderr}`);
    // Windowed ingest (issue 27): every row is registered in the batch; the rows past the window wait in the manifest.
    const inManifest = Number(/(\d+) of them wait in the manifest/.exec(run.stdout)?.[1] ?? 0);
    // Our rows' jobs carry their batch's priority (issue 30) and wait in the prioritized set; bare and peer jobs in
    // the wait list.
    const waiting =
      (await redis.zcard(`${prefix}:{provider-openai}:prioritized`)) +
      (await redis.llen(`${prefix}:{provider-openai}:wait`));
    if (waiting + inManifest !== fixtures.rows)
      throw new Error(
        `${kind}: ${waiting} jobs waiting and ${inManifest} in the manifest, not ${fixtures.rows}`,
      );
    if (inManifest > 0) windowSeen = waiting;
    return { rowsPerSecond: (fixtures.rows * 1000) / run.ms, peakRssBytes: run.peakRssBytes };
  } finally {
    await deletePrefix(redis, prefix);
  }
}

export async function ingest(redis: Redis): Promise<void> {
  const small = quick ? 20_000 : 100_000;
  const large = quick ? 100_000 : 1_000_000;
  const repeats = quick ? 1 : 2;
  log(`ingest: writing fixtures of ${small.toLocaleString('en')} and ${large.toLocaleString('en')} rows`);
  const fixtures = { small: await writeFixtures(scratch, small), large: await writeFixtures(scratch, large) };
  for (const [size, fixture, runs] of [
    ['small', fixtures.small, repeats],
    ['large', fixtures.large, 1],
  ] as const) {
    const samples: Record<
      'csv' | 'jsonl' | 'bare' | 'peer',
      Array<{ rowsPerSecond: number; peakRssBytes: number }>
    > = {
      csv: [],
      jsonl: [],
      bare: [],
      peer: [],
    };
    for (let run = 0; run < runs; run += 1) {
      // Interleaved, so a slow minute of the machine touches all three alike.
      for (const kind of ['bare', 'peer', 'csv', 'jsonl'] as const) {
        const sample = await ingestOnce(redis, kind, fixture);
        log(
          `ingest ${fixture.rows} ${kind}: ${perSecond(sample.rowsPerSecond)}, ${mebibytes(sample.peakRssBytes)}`,
        );
        samples[kind].push(sample);
      }
    }
    const bare = figure(samples.bare.map((sample) => sample.rowsPerSecond));
    const rowsLabel = fixture.rows.toLocaleString('en');
    for (const kind of ['csv', 'jsonl'] as const) {
      const ours = figure(samples[kind].map((sample) => sample.rowsPerSecond));
      const ratios = figure(
        samples[kind].map((sample, index) => sample.rowsPerSecond / samples.bare[index]!.rowsPerSecond),
      );
      // The peer reads CSV (csv-parse → zod → addBulk): it stands beside the CSV figures.
      const peer =
        kind === 'csv'
          ? {
              peer: formatFigure(figure(samples.peer.map((sample) => sample.rowsPerSecond)), perSecond),
              versusPeer: formatFigure(
                figure(
                  samples.csv.map(
                    (sample, index) => sample.rowsPerSecond / samples.peer[index]!.rowsPerSecond,
                  ),
                ),
                percent,
              ),
            }
          : {};
      const versusPeer = figure(
        samples.csv.map((sample, index) => sample.rowsPerSecond / samples.peer[index]!.rowsPerSecond),
      );
      rows.push({
        benchmark: `Ingest ${rowsLabel} rows, ${kind.toUpperCase()}`,
        measure:
          windowSeen === undefined
            ? 'rows/s (parse, validate, enqueue)'
            : `rows/s (parse, validate, price, register every row; jobs of the default window, ` +
              `${windowSeen.toLocaleString('en')} rows, added — bare and peer add every job)`,
        ours: formatFigure(ours, perSecond),
        ...peer,
        bare: formatFigure(bare, perSecond),
        ratio: formatFigure(ratios, percent),
        target: kind === 'csv' ? '≥ 85 % of bare, ≥ 100 % of peer' : '≥ 85 %',
        met: ratios.median >= 0.85 && (kind !== 'csv' || versusPeer.median >= 1),
      });
      const rss = figure(samples[kind].map((sample) => sample.peakRssBytes));
      rows.push({
        benchmark: `Ingest ${rowsLabel} rows, ${kind.toUpperCase()}`,
        measure: 'peak RSS of the producer',
        ours: formatFigure(rss, mebibytes),
        ...(kind === 'csv'
          ? { peer: formatFigure(figure(samples.peer.map((sample) => sample.peakRssBytes)), mebibytes) }
          : {}),
        bare: formatFigure(figure(samples.bare.map((sample) => sample.peakRssBytes)), mebibytes),
        ratio: '',
        target: size === 'large' ? '≤ 200 MB' : '',
        met: size === 'large' ? rss.median <= 200 * 1000 * 1000 : undefined,
      });
    }
  }
}
