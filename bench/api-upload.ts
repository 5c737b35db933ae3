/**
 * `npm run bench -- --only upload` (issue 29): a manifest posted to the HTTP API of `image-batch dashboard`, streamed
 * as it is read from disk, at 100,000 and at 1,000,000 rows. The server spools the body to disk, then checks, prices
 * and registers every row (windowed ingest: the jobs of the default window go to Redis, the rest wait in the spooled
 * manifest). Measured: the dashboard process's true peak RSS (getrusage, bench/peak-rss.cjs) and rows/s from the
 * first byte sent to the answer. Flat memory: the peak at 1,000,000 rows within 1.25× of the peak at 100,000.
 */
import { createReadStream } from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { Redis } from 'ioredis';
import { request } from 'undici';
import { writeFixtures } from './fixtures.js';
import {
  cli,
  deletePrefix,
  log,
  mebibytes,
  newPrefix,
  perSecond,
  quick,
  redisUrl,
  rows,
  runNode,
  scratch,
} from './harness.js';

const TOKEN = 'bench-upload-token-6a2f9d3c1e8b4750';

/** The dashboard's URL, from the line it prints when it listens. */
function urlOf(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const url = /Dashboard at (http:\/\/\S+?)\//.exec(text)?.[1];
      if (url !== undefined) resolve(url);
    });
    child.once('exit', (code) => reject(new Error(`the dashboard exited ${code} before listening`)));
  });
}

/** Post `size` rows to a dashboard of its own; its peak RSS and rows/s. */
async function uploadOnce(
  redis: Redis,
  size: number,
): Promise<{ peakRssBytes: number; rowsPerSecond: number }> {
  const fixtures = await writeFixtures(scratch, size);
  const prefix = newPrefix();
  let ms = 0;
  try {
    const environment = {
      REDIS_URL: redisUrl,
      IMAGE_BATCH_QUEUE_PREFIX: prefix,
      LOG_LEVEL: 'warn',
      IMAGE_BATCH_API_TOKENS: TOKEN,
      IMAGE_BATCH_OUTPUT_ROOT: path.join(scratch, prefix),
    };
    const run = await runNode([cli, 'dashboard', '--port', '0'], environment, async (child) => {
      try {
        const url = await urlOf(child);
        const started = performance.now();
        const answer = await request(`${url}/api/batches?name=upload-${size}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'text/csv' },
          body: createReadStream(fixtures.csv),
          headersTimeout: 0,
          bodyTimeout: 0,
        });
        const body = (await answer.body.json()) as { rows_read?: number; rejected?: number; error?: string };
        ms = performance.now() - started;
        if (answer.statusCode !== 201 || body.rows_read !== size || body.rejected !== 0)
          throw new Error(`upload of ${size} rows answered ${answer.statusCode}: ${JSON.stringify(body)}`);
      } finally {
        child.kill('SIGTERM');
      }
    });
    return { peakRssBytes: run.peakRssBytes, rowsPerSecond: (size * 1000) / ms };
  } finally {
    await deletePrefix(redis, prefix);
  }
}

export async function apiUpload(redis: Redis): Promise<void> {
  const [small, large] = quick ? [20_000, 100_000] : [100_000, 1_000_000];
  const smallRun = await uploadOnce(redis, small);
  log(`upload ${small}: ${mebibytes(smallRun.peakRssBytes)}, ${perSecond(smallRun.rowsPerSecond)}`);
  const largeRun = await uploadOnce(redis, large);
  log(`upload ${large}: ${mebibytes(largeRun.peakRssBytes)}, ${perSecond(largeRun.rowsPerSecond)}`);
  const growth = largeRun.peakRssBytes / smallRun.peakRssBytes;
  rows.push({
    benchmark: `Upload a ${large.toLocaleString('en')}-row CSV to the HTTP API`,
    measure: `peak RSS of the dashboard, ${small.toLocaleString('en')} → ${large.toLocaleString('en')} rows (rows/s, first byte to answer)`,
    ours: `${mebibytes(smallRun.peakRssBytes)} → ${mebibytes(largeRun.peakRssBytes)} (${perSecond(smallRun.rowsPerSecond)}, ${perSecond(largeRun.rowsPerSecond)})`,
    peer: '—',
    versusPeer: '—',
    bare: '—',
    ratio: `${growth.toFixed(2)}×`,
    target: 'flat: ≤ 1.25×',
    met: growth <= 1.25,
  });
}
