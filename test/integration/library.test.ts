/**
 * The library (`import { ImageBatch } from 'image-batch'`, docs/library.md): the README's example run as written,
 * rows given in code (a stream, spooled once: the same rows are the same batch, a bad row rejected at its line), and
 * workers started by the library taking a batch the CLI enqueued.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ImageBatch, loadConfig } from 'image-batch';
import { runCliInProcess } from '../helpers/cli.js';
import { temporaryDirectory } from '../helpers/files.js';
import { jsonLine, manifestFolder, writeManifest } from '../helpers/manifests.js';
import { readJsonLines, resultLines } from '../helpers/results.js';
import { simulatorSuite } from '../helpers/simulator-suite.js';

const suite = simulatorSuite();
const openLibraries: ImageBatch[] = [];

/** An ImageBatch on this test's Redis prefix and the simulator. */
function library(): ImageBatch {
  const images = new ImageBatch({ config: loadConfig(suite.environment()) });
  openLibraries.push(images);
  return images;
}

afterEach(async () => {
  await Promise.all(openLibraries.splice(0).map((images) => images.close()));
});

function* generatedRows(count: number): Generator<Record<string, unknown>> {
  for (let index = 0; index < count; index += 1)
    yield {
      id: `row-${index}`,
      prompt: `a lantern number ${index}`,
      resolution: '1024x1024',
      provider: 'openai',
    };
}

describe('the library', () => {
  it("runs the README's example as written", async () => {
    const readme = await readFile('README.md', 'utf8');
    const section = readme.slice(readme.indexOf('## From your own code'));
    const code = /```js\n([\s\S]*?)```/.exec(section)![1]!;
    expect(code).toContain("from 'image-batch'");
    const folder = await temporaryDirectory();
    const file = path.join(folder, 'readme-library.mjs');
    await writeFile(file, code);
    const saved = { ...process.env };
    const directory = process.cwd();
    const printed: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((...parts: unknown[]) => {
      printed.push(parts.join(' '));
    });
    try {
      Object.assign(process.env, suite.environment());
      process.chdir(folder);
      await import(file);
    } finally {
      process.chdir(directory);
      process.env = saved;
      log.mockRestore();
    }
    expect(printed[0]).toMatch(/^foxes-[0-9a-f]{8}: 1 rows, about \$0\.\d+$/);
    const batchId = printed[0]!.split(':')[0]!;
    const [line] = await resultLines(path.join(folder, 'output'), batchId);
    expect(line).toMatchObject({ row_key: 'fox', status: 'completed', provider: 'openai' });
    expect(printed[1]).toBe(`fox completed ${line!.cost_usd}`);
  });

  it('spools a stream of rows once: the same rows are the same batch, paid once; a bad row is rejected at its line', async () => {
    const out = await temporaryDirectory();
    const images = library();
    const rows = function* () {
      yield* generatedRows(40);
      yield { id: 'bad', prompt: 'no size', resolution: 'huge' };
    };
    const first = await images.enqueue({ rows: rows(), name: 'lanterns' }, { out });
    expect(first.batchId).toMatch(/^lanterns-[0-9a-f]{8}$/);
    expect(first.report).toMatchObject({ rowsRead: 41, enqueued: 40, rejected: 1 });
    const again = await images.enqueue({ rows: rows(), name: 'lanterns' }, { out });
    expect(again.batchId).toBe(first.batchId);
    expect(again.report).toMatchObject({ enqueued: 0, alreadyEnqueued: 40 });
    const [reject] = await readJsonLines<{ line: number; manifest: string }>(
      path.join(out, first.batchId, 'rejects.jsonl'),
    );
    expect(reject).toMatchObject({ line: 41, row_key: 'bad', field: 'resolution' });
    expect(reject!.manifest).toContain(path.join(out, '.manifests'));
    const outcome = await images.run(first.batchId, { providers: ['openai'] });
    expect(outcome.status).toMatchObject({ completed: 40, failed: 0, pending: 0 });
    const results: string[] = [];
    for await (const line of images.results(first.batchId)) results.push(line.row_key);
    expect(results.sort()).toEqual([...Array(40).keys()].map((index) => `row-${index}`).sort());
    // Enqueued twice, paid once: each row's prompt reached the host once.
    const submissions = suite.simulator().submissionsByPrompt;
    for (let index = 0; index < 40; index += 1)
      expect(submissions.get(`a lantern number ${index}`), `row-${index}`).toBe(1);
  });

  it('estimates rows without Redis, and its workers take a batch the CLI enqueued', async () => {
    const estimate = await new ImageBatch({
      config: loadConfig({ ...suite.environment(), REDIS_URL: 'redis://127.0.0.1:1' }),
    }).estimate({ rows: generatedRows(5), name: 'priced' }, { out: await temporaryDirectory() });
    expect(estimate).toMatchObject({ rowsRead: 5, rejected: 0 });
    expect(estimate.estimate.costUsd).toBeGreaterThan(0);

    const folder = await manifestFolder();
    const manifest = await writeManifest(
      folder,
      'handed.jsonl',
      [1, 2, 3].map((index) => jsonLine({ id: `h${index}`, prompt: `handed ${index}`, provider: 'fal' })),
    );
    const out = await temporaryDirectory();
    const enqueued = await runCliInProcess(
      ['enqueue', manifest, '--out', out, '--batch', 'handed'],
      suite.environment(),
    );
    expect(enqueued.exitCode, enqueued.stderr).toBe(0);
    const images = library();
    const pool = await images.startWorkers({ providers: ['fal'] });
    const status = await images.waitForBatch('handed', { pollIntervalMs: 100 });
    await pool.close();
    expect(status).toMatchObject({ state: 'finished', completed: 3, failed: 0 });
    expect((await resultLines(out, 'handed')).map((line) => line.status)).toEqual([
      'completed',
      'completed',
      'completed',
    ]);
  });
});
