/**
 * `npm run test:faults`, issue 18.1–18.5: manifests written by a hostile or careless user. Each scenario runs the CLI
 * on real Redis (and the simulator when rows are run) and counts: records tried, rows that became jobs, rejects (each
 * at its own line), and rows lost — neither a job nor a reject. The table is printed at the end.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BatchStore } from '../../src/batch/batch-store.js';
import { rowKeyStem } from '../../src/shared/keys.js';
import { ProviderSimulator } from '../../src/simulator/server.js';
import { runCliInProcess } from '../helpers/cli.js';
import { removeTemporaryDirectories, temporaryDirectory } from '../helpers/files.js';
import { resultLines } from '../helpers/results.js';
import { deleteKeysWithPrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { simulatorEnvironment } from '../helpers/simulator-environment.js';

interface ManifestRow {
  point: string;
  scenario: string;
  /** Records in the manifest (rows, good and bad). */
  tried: number;
  jobs: number;
  rejects: number;
  /** Rejects printed by the CLI. */
  printed: number;
  /** Records neither a job nor a reject. */
  lost: number;
}

const table: ManifestRow[] = [];
/** One queue prefix per scenario: a `run` must not work through the jobs another scenario only enqueued. */
const prefixes: string[] = [];
let simulator: ProviderSimulator;
let redis: Redis;

beforeAll(async () => {
  simulator = new ProviderSimulator();
  await simulator.start();
  redis = new Redis(redisUrl(), { maxRetriesPerRequest: null });
});
afterAll(async () => {
  redis.disconnect();
  await simulator.stop();
  for (const prefix of prefixes) await deleteKeysWithPrefix(prefix);
  await removeTemporaryDirectories();
  const lines = [
    '| point | scenario | records | jobs | rejects | rejects printed | lost |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const row of table)
    lines.push(
      `| ${[row.point, row.scenario, row.tried, row.jobs, row.rejects, row.printed, row.lost].join(' | ')} |`,
    );
  process.stdout.write(`\nHostile manifests (issue 18.1-18.5)\n${lines.join('\n')}\n`);
});

interface RejectLine {
  line: number;
  code: string;
  message: string;
}

/**
 * Enqueue (or run, with the simulator) one manifest as its own batch and count what became of its records.
 * @returns the rejects.jsonl lines and the CLI's output.
 */
async function attempt(options: {
  point: string;
  scenario: string;
  fileName: string;
  content: string | Buffer;
  records: number;
  command: 'enqueue' | 'run';
}): Promise<{
  rejects: RejectLine[];
  stdout: string;
  batch: string;
  out: string;
  environment: Record<string, string>;
}> {
  const prefix = uniquePrefix();
  prefixes.push(prefix);
  const environment = {
    REDIS_URL: redisUrl(),
    IMAGE_BATCH_QUEUE_PREFIX: prefix,
    LOG_LEVEL: 'silent',
    ...simulatorEnvironment(simulator.url, 'sk-hostile-manifests'),
  };
  const out = await temporaryDirectory();
  const manifest = path.join(out, options.fileName);
  await writeFile(manifest, options.content);
  const batch = options.fileName.replace(/\W+/g, '-');
  const result = await runCliInProcess(
    [options.command, manifest, '--out', out, '--batch', batch, '--max-rejected', '1000000'],
    environment,
  );
  expect(result.stderr).not.toMatch(/at .*\.ts:\d+/);
  const rejects = (await readFile(path.join(out, batch, 'rejects.jsonl'), 'utf8').catch(() => ''))
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as RejectLine);
  const status = await new BatchStore(redis, prefix).status(batch);
  const jobs = status?.rows ?? 0;
  const printed = Number(/(\d+) rejected/.exec(result.stdout)?.[1] ?? Number.NaN);
  table.push({
    point: options.point,
    scenario: options.scenario,
    tried: options.records,
    jobs,
    rejects: rejects.length,
    printed,
    lost: options.records - jobs - rejects.length,
  });
  expect(printed).toBe(rejects.length);
  expect(options.records - jobs - rejects.length).toBe(0);
  return { rejects, stdout: result.stdout, batch, out, environment };
}

const csvRows = (count: number, from = 1, ending = '\n') =>
  Array.from(
    { length: count },
    (_, index) => `r${from + index},prompt ${from + index},1024x1024${ending}`,
  ).join('');

it('18.1 a stray quote at line 5 of a 20,000-row file is one reject; every later row is a job', async () => {
  const lines = ['id,prompt,resolution'];
  for (let index = 1; index <= 20_000; index += 1)
    lines.push(index === 4 ? 'l4,"bad"x,1024x1024' : `r${index},prompt ${index},1024x1024`);
  const { rejects } = await attempt({
    point: '18.1',
    scenario: 'stray quote at line 5 of 20,000 rows',
    fileName: 'stray.csv',
    content: `${lines.join('\n')}\n`,
    records: 20_000,
    command: 'enqueue',
  });
  expect(rejects.map((reject) => [reject.line, reject.code])).toEqual([[5, 'csv_stray_quote']]);
});

it('18.1 a 2 MB row at line 2 is one reject; the 5 valid rows after it are jobs', async () => {
  const { rejects } = await attempt({
    point: '18.1',
    scenario: '2 MB unquoted row, then 5 rows',
    fileName: 'huge.csv',
    content: `id,prompt,resolution\nbig,${'x'.repeat(2_000_000)},1024x1024\n${csvRows(5)}`,
    records: 6,
    command: 'enqueue',
  });
  expect(rejects.map((reject) => [reject.line, reject.code])).toEqual([[2, 'csv_record_too_large']]);
});

it('18.1 an unclosed quote mid-file is one reject; the rows after it are jobs', async () => {
  const { rejects } = await attempt({
    point: '18.1',
    scenario: 'unclosed quote at line 3 of 1,000 rows',
    fileName: 'unclosed.csv',
    content: `id,prompt,resolution\n${csvRows(1)}u,"never closed,1024x1024\n${csvRows(998, 3)}`,
    records: 1000,
    command: 'enqueue',
  });
  expect(rejects.map((reject) => [reject.line, reject.code])).toEqual([[3, 'csv_unclosed_quote']]);
});

it('18.2 row keys that once shared a job id, and a SHA-256 prefix collision: every row a result or a reject', async () => {
  const colliding = ['k//////://:/::////://::', 'k/////://:://::////:://'];
  expect(rowKeyStem(colliding[0]!)).toBe(rowKeyStem(colliding[1]!));
  const keys = ['a/b', 'a_b-c14cddc0', 'a_b', ...colliding];
  const content = keys.map((id, index) =>
    JSON.stringify({ id, prompt: `key ${index}`, resolution: '1024x768' }),
  );
  const { rejects, batch, out, stdout } = await attempt({
    point: '18.2',
    scenario: 'row keys a/b, a_b-c14cddc0, a_b and a 32-bit stem collision, run',
    fileName: 'keys.jsonl',
    content: `${content.join('\n')}\n`,
    records: keys.length,
    command: 'run',
  });
  expect(rejects.map((reject) => [reject.line, reject.code])).toEqual([[5, 'row_key_collision']]);
  const results = await resultLines(out, batch);
  expect(results.map((line) => line.row_key).sort()).toEqual(keys.slice(0, 4).sort());
  expect(stdout).toMatch(/0 pending/);
});

it('18.3 CRLF with a quoted line break: every later reject names its own line', async () => {
  const content = [
    'id,prompt,resolution\r\n',
    'r1,"two\r\nlines",1024x1024\r\n',
    'r2,fine,1024x1024\r\n',
    'r3,"x"y,1024x1024\r\n',
    'r4,"more\r\nlines\r\nhere",1024x1024\r\n',
    'r5,bad size,12x\r\n',
    'r6,fine,1024x1024\r\n',
  ].join('');
  const { rejects } = await attempt({
    point: '18.3',
    scenario: 'CRLF, quoted line breaks, rejects after them',
    fileName: 'crlf.csv',
    content,
    records: 6,
    command: 'enqueue',
  });
  expect(rejects.map((reject) => [reject.line, reject.code])).toEqual([
    [5, 'csv_stray_quote'],
    [9, 'invalid_field'],
  ]);
});

it('18.4 invalid UTF-8 is a reject naming its byte; a prompt is sent with the spaces the user wrote', async () => {
  const head = Buffer.from('id,prompt,resolution\nspaced,  a kite with spaces  ,1024x768\nlatin1,caf');
  const content = Buffer.concat([
    head,
    Buffer.from([0xe9]),
    Buffer.from(' au lait,1024x768\nplain,plain kite,1024x768\n'),
  ]);
  const { rejects } = await attempt({
    point: '18.4',
    scenario: 'invalid UTF-8 byte, prompt with spaces, run',
    fileName: 'utf8.csv',
    content,
    records: 3,
    command: 'run',
  });
  expect(rejects).toEqual([
    expect.objectContaining({
      line: 3,
      code: 'invalid_utf8',
      message: expect.stringContaining(`byte ${head.length} `),
    }),
  ]);
  expect(simulator.submissionsByPrompt.get('  a kite with spaces  ')).toBe(1);
  expect([...simulator.submissionsByPrompt.keys()].some((prompt) => prompt.includes('\uFFFD'))).toBe(false);
});

it('18.5 the printed reject count equals the lines of rejects.jsonl (749 bad records of every kind)', async () => {
  const kinds = [
    (index: number) => `b${index},"bad"x,1024x1024\n`,
    (index: number) => `b${index},too,many,fields\n`,
    (index: number) => `b${index},bad size,12x\n`,
    (index: number) => `b${index},"quoted ""fine"" prompt",huge\n`,
  ];
  const parts: Buffer[] = [Buffer.from('id,prompt,resolution\n')];
  for (let index = 0; index < 749; index += 1) {
    if (index % 5 === 4)
      parts.push(Buffer.from(`b${index},caf`), Buffer.from([0xff]), Buffer.from(',1024x1024\n'));
    else parts.push(Buffer.from(kinds[index % 5]!(index)));
    parts.push(Buffer.from(`g${index},good ${index},1024x1024\n`));
  }
  const { rejects, out, batch, environment } = await attempt({
    point: '18.5',
    scenario: '749 bad records among 749 good ones',
    fileName: 'many.csv',
    content: Buffer.concat(parts),
    records: 1498,
    command: 'enqueue',
  });
  expect(rejects).toHaveLength(749);
  expect(new Set(rejects.map((reject) => reject.line)).size).toBe(749);
  // Again into the same batch, the manifest given twice: the same 749, printed and in the file once.
  const manifest = path.join(out, 'many.csv');
  const again = await runCliInProcess(
    ['enqueue', manifest, manifest, '--out', out, '--batch', batch, '--max-rejected', '1000000'],
    environment,
  );
  expect(again.stdout).toMatch(/749 rejected/);
  expect((await readFile(path.join(out, batch, 'rejects.jsonl'), 'utf8')).trim().split('\n')).toHaveLength(
    749,
  );
});
