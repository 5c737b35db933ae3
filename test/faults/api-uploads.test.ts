/**
 * Hostile uploads through the HTTP API (issue 29): random manifests mixing valid rows with every kind of broken record
 * (a stray quote, a wrong column count, invalid UTF-8, a record over the 1 MB CSV limit, a line that is not a JSON
 * object, a bad field, a repeated row key, CRLF), each posted in chunks of random sizes and given to the CLI as a file:
 * the API answers below 500, reads as many rows as the CLI, enqueues and rejects the same rows — each reject at the
 * same line with the same reason — and loses none. An upload cut off half-way makes no batch and leaves no file.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BatchStore } from '../../src/batch/batch-store.js';
import { startDashboard, type Dashboard } from '../../src/dashboard/server.js';
import { loadConfig } from '../../src/providers/configuration.js';
import { runCliInProcess } from '../helpers/cli.js';
import { removeTemporaryDirectories, temporaryDirectory } from '../helpers/files.js';
import { readJsonLines } from '../helpers/results.js';
import { deleteKeysWithPrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { simulatorEnvironment } from '../helpers/simulator-environment.js';

const TOKEN = 'upload-test-token-4c8e2a6f0b1d3957';
const prefix = uniquePrefix();
let environment: Record<string, string>;
let redis: Redis;
let dashboard: Dashboard;
let apiRoot: string;

beforeAll(async () => {
  apiRoot = await temporaryDirectory();
  environment = {
    REDIS_URL: redisUrl(),
    IMAGE_BATCH_QUEUE_PREFIX: prefix,
    LOG_LEVEL: 'silent',
    // Never called: nothing here runs rows.
    ...simulatorEnvironment('http://127.0.0.1:9', 'sk-test'),
    IMAGE_BATCH_API_TOKENS: TOKEN,
    IMAGE_BATCH_OUTPUT_ROOT: apiRoot,
  };
  redis = new Redis(redisUrl());
  dashboard = await startDashboard({
    config: loadConfig(environment),
    redis,
    log: pino({ level: 'silent' }),
    host: '127.0.0.1',
    port: 0,
    readOnly: false,
  });
});
afterAll(async () => {
  await dashboard?.close();
  redis?.disconnect();
  await deleteKeysWithPrefix(prefix);
  await removeTemporaryDirectories();
});

/** One record of a manifest: its bytes (without the line ending). */
const text = fc.string({ unit: fc.constantFrom('a', 'b', ' ', 'é', '😀', ',', '"', '\t'), maxLength: 20 });
const csvRecord = (id: number) =>
  fc.oneof(
    {
      weight: 6,
      arbitrary: text.map((prompt) => `r${id},"${prompt.replaceAll('"', '""')} x",1024x1024,openai`),
    },
    { weight: 1, arbitrary: fc.constant(`r${id},"bad"x,1024x1024,openai`) },
    { weight: 1, arbitrary: fc.constant(`r${id},only two`) },
    { weight: 1, arbitrary: fc.constant(`r${id},"wrong size",banana,openai`) },
    { weight: 1, arbitrary: fc.constant(`r${Math.max(0, id - 1)},"a repeated key",1024x1024,openai`) },
    { weight: 1, arbitrary: fc.constant(`r${id},"\u0000bytes \uFFFD",1024x1024,openai`) },
    { weight: 1, arbitrary: fc.constant('') },
  );
const jsonRecord = (id: number) =>
  fc.oneof(
    { weight: 6, arbitrary: text.map((prompt) => JSON.stringify({ id: `j${id}`, prompt: `${prompt} x` })) },
    { weight: 1, arbitrary: fc.constant('[1, 2, 3]') },
    { weight: 1, arbitrary: fc.constant(`{"id": "j${id}", "prompt": "cut`) },
    {
      weight: 1,
      arbitrary: fc.constant(JSON.stringify({ id: `j${id}`, prompt: 'p', resolution: 'banana' })),
    },
    { weight: 1, arbitrary: fc.constant('null') },
    { weight: 1, arbitrary: fc.constant(JSON.stringify({ id: `j${Math.max(0, id - 1)}`, prompt: 'again' })) },
  );

/** A hostile manifest: its bytes, with invalid UTF-8 and an oversized record spliced in at random lines. */
function manifestOf(format: 'csv' | 'jsonl'): fc.Arbitrary<Buffer> {
  return fc
    .tuple(
      fc
        .integer({ min: 5, max: 40 })
        .chain((rows) =>
          fc.tuple(
            ...Array.from({ length: rows }, (_, id) => (format === 'csv' ? csvRecord(id) : jsonRecord(id))),
          ),
        ),
      fc.constantFrom('\n', '\r\n'),
      fc.boolean(),
      fc.boolean(),
    )
    .map(([records, ending, invalidUtf8, oversized]) => {
      const lines: Buffer[] = records.map((record) => Buffer.from(record));
      if (format === 'csv') lines.unshift(Buffer.from('id,prompt,resolution,provider'));
      if (invalidUtf8)
        lines.splice(Math.min(2, lines.length), 0, Buffer.from([0x78, 0x2c, 0xff, 0xfe, 0x2c, 0x79]));
      if (oversized && format === 'csv')
        lines.splice(
          Math.min(3, lines.length),
          0,
          Buffer.from(`big,"${'z'.repeat(1_100_000)}",1024x1024,openai`),
        );
      return Buffer.concat(lines.flatMap((line) => [line, Buffer.from(ending)]));
    });
}

/** `bytes` as a stream of chunks of random sizes (1 byte to 64 KiB). */
function chunked(bytes: Buffer, seed: number): ReadableStream<Uint8Array> {
  let offset = 0;
  let state = seed;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.length) return controller.close();
      state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
      const size = 1 + (state % (state % 3 === 0 ? 7 : 65_536));
      controller.enqueue(bytes.subarray(offset, offset + size));
      offset += size;
    },
  });
}

type Reject = { line: number; code: string; field: string | null; row_key: string | null };
const comparable = (rejects: Reject[]) =>
  rejects.map(({ line, code, field, row_key }) => ({ line, code, field, row_key }));

it('random hostile manifests: the API answers below 500 and rejects exactly what the CLI rejects, losing nothing', async () => {
  const folder = await temporaryDirectory();
  const cliOut = await temporaryDirectory();
  const samples = [
    ...fc
      .sample(manifestOf('csv'), { numRuns: 7, seed: 29 })
      .map((bytes) => ({ bytes, format: 'csv' as const })),
    ...fc
      .sample(manifestOf('jsonl'), { numRuns: 7, seed: 92 })
      .map((bytes) => ({ bytes, format: 'jsonl' as const })),
  ];
  const store = new BatchStore(redis, prefix);
  const codes = new Set<string>();
  for (const [index, { bytes, format }] of samples.entries()) {
    const file = path.join(folder, `hostile-${index}.${format}`);
    await writeFile(file, bytes);
    const cli = await runCliInProcess(
      [
        'enqueue',
        file,
        '--out',
        cliOut,
        '--batch',
        `cli-${index}`,
        '--window',
        '0',
        '--max-rejected',
        '100000',
      ],
      environment,
    );
    expect(cli.exitCode, cli.stderr).toBe(0);
    const response = await fetch(
      `${dashboard.url}/api/batches?name=hostile-${index}&batch_id=api-${index}&window=0`,
      {
        method: 'POST',
        headers: {
          authorization: `Bearer ${TOKEN}`,
          'content-type': format === 'csv' ? 'text/csv' : 'application/x-ndjson',
        },
        body: chunked(bytes, index + 1),
        duplex: 'half',
      },
    );
    expect(response.status, `manifest ${index}`).toBeLessThan(500);
    const answer = (await response.json()) as { rows_read: number; enqueued: number; rejected: number };
    const cliStatus = (await store.status(`cli-${index}`))!;
    expect(answer.enqueued, `manifest ${index}`).toBe(cliStatus.rows);
    expect(answer.rejected, `manifest ${index}`).toBe(cliStatus.rejected);
    // Nothing lost: every row read is a job or a reject.
    expect(answer.enqueued + answer.rejected, `manifest ${index}`).toBe(answer.rows_read);
    const apiRejects = await readJsonLines<Reject>(path.join(apiRoot, `api-${index}`, 'rejects.jsonl')).catch(
      () => [],
    );
    const cliRejects = await readJsonLines<Reject>(path.join(cliOut, `cli-${index}`, 'rejects.jsonl')).catch(
      () => [],
    );
    expect(comparable(apiRejects), `manifest ${index}`).toEqual(comparable(cliRejects));
    for (const reject of apiRejects) codes.add(reject.code);
    // The upload kept the bytes as sent.
    const spooled = (await readdir(path.join(apiRoot, '.manifests'), { recursive: true })).find((name) =>
      name.endsWith(`hostile-${index}.${format}`),
    );
    expect(await readFile(path.join(apiRoot, '.manifests', spooled!))).toEqual(bytes);
  }
  // The samples held every kind of broken record.
  expect([...codes].sort()).toEqual([
    'csv_column_count',
    'csv_record_too_large',
    'csv_stray_quote',
    'duplicate_row_key',
    'invalid_field',
    'invalid_json',
    'invalid_utf8',
  ]);
});

it('an upload cut off half-way makes no batch and leaves no file behind', async () => {
  const rows = Array.from(
    { length: 20_000 },
    (_, index) => `c${index},"a cut-off row ${index}",1024x1024,openai`,
  );
  const bytes = Buffer.from(`id,prompt,resolution,provider\n${rows.join('\n')}\n`);
  const abort = new AbortController();
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent > bytes.length / 2) {
        abort.abort();
        return controller.error(new Error('the client went away'));
      }
      controller.enqueue(bytes.subarray(sent, sent + 16_384));
      sent += 16_384;
    },
  });
  await fetch(`${dashboard.url}/api/batches?name=cutoff&batch_id=cutoff`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'text/csv' },
    body,
    duplex: 'half',
    signal: abort.signal,
  }).catch(() => undefined);
  // The server is still there, and made nothing of the half it got.
  await expect
    .poll(async () => {
      const answer = await fetch(`${dashboard.url}/api/batches/cutoff`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      const spool = await readdir(path.join(apiRoot, '.manifests'), { recursive: true }).catch(() => []);
      return `${answer.status} ${spool.filter((name) => name.endsWith('.part') || name.includes('cutoff')).length}`;
    })
    .toBe('404 0');
});
