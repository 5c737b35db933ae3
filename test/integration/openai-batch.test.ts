/**
 * OpenAI's Batch API (`--delivery batch`): rows go into request files, one OpenAI batch per file, at half the price;
 * results come back from the output and error files; a restarted run follows the same OpenAI batch; an expired batch
 * finishes its rows realtime with `--fallback realtime`.
 */
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { killSpawnedProcesses, runCliInProcess, spawnCli } from '../helpers/cli.js';
import { temporaryDirectory } from '../helpers/files.js';
import { jsonLine, manifestFolder, writeManifest } from '../helpers/manifests.js';
import { startReadOnlyDashboard } from '../helpers/read-only-dashboard.js';
import { resultLines } from '../helpers/results.js';
import { simulatorSuite } from '../helpers/simulator-suite.js';

const suite = simulatorSuite();

/** A manifest `<name>.jsonl` of `count` OpenAI 1024x1024 low generate rows `<id><n>`, prompts `<tag> <n>`. */
async function lowGenerateRows(name: string, tag: string, id: string, count: number): Promise<string> {
  const folder = await manifestFolder();
  const rows = Array.from({ length: count }, (_, index) =>
    jsonLine({
      id: `${id}${index}`,
      provider: 'openai',
      prompt: `${tag} ${index}`,
      resolution: '1024x1024',
      quality: 'low',
    }),
  );
  return writeManifest(folder, `${name}.jsonl`, rows);
}

describe('OpenAI Batch API delivery', () => {
  it('runs generate and edit rows through request files at half the price, each row once', async () => {
    const world = suite.simulator().openaiBatches;
    const batchesBefore = world.batchesCreated;
    const inputFiles = () => [...world.files.values()].filter((file) => file.purpose === 'user_data').length;
    const inputFilesBefore = inputFiles();
    const tag = `batchapi-${suite.prefix()}`;
    const folder = await manifestFolder();
    const manifest = await writeManifest(folder, 'batch.jsonl', [
      ...Array.from({ length: 6 }, (_, index) =>
        jsonLine({
          id: `g${index}`,
          provider: 'openai',
          prompt: `${tag} picture ${index}`,
          resolution: '1024x1024',
          quality: 'low',
        }),
      ),
      jsonLine({
        id: 'e0',
        provider: 'openai',
        prompt: `${tag} edit`,
        image_urls: ['images/dune.jpg'],
        mask_url: 'images/garden-sky-mask.png',
        resolution: '1024x1024',
        quality: 'low',
      }),
      jsonLine({
        id: 'e1',
        provider: 'openai',
        prompt: `${tag} edit again`,
        image_urls: ['images/dune.jpg'],
        resolution: '1024x1024',
        quality: 'low',
      }),
      jsonLine({
        id: 'refused',
        provider: 'openai',
        prompt: `${tag} [simulate:refuse] no`,
        resolution: '1024x1024',
      }),
    ]);
    const out = await temporaryDirectory();
    const estimate = await runCliInProcess(
      ['estimate', manifest, '--delivery', 'batch'],
      suite.environment(),
    );
    expect(estimate.stdout).toMatch(
      /9 rows go through OpenAI's Batch API \(results within 24 h\): \$[\d.]+ instead of \$[\d.]+ realtime/,
    );
    const run = await runCliInProcess(
      ['run', manifest, '--out', out, '--batch', 'batchapi', '--delivery', 'batch'],
      suite.environment(),
    );
    expect(run.stdout, run.stdout + run.stderr).toMatch(/8 completed, 1 failed, 0 pending/);
    // One file per operation: a generate batch and an edit batch.
    expect(world.batchesCreated - batchesBefore).toBe(2);
    // dune.jpg, named by both edits, was uploaded once; the mask (converted to alpha) once.
    expect(inputFiles() - inputFilesBefore).toBe(2);
    const lines = await resultLines(out, 'batchapi');
    expect(lines).toHaveLength(9);
    for (const key of [...Array.from({ length: 6 }, (_, index) => `g${index}`), 'e0', 'e1']) {
      expect(world.linesByCustomId.get(`batchapi--${key}`)).toBe(1);
      const line = lines.find((entry) => entry.row_key === key)!;
      expect(line.status).toBe('completed');
      expect(line.request_id).toMatch(/^batch_req_/);
      const image = await sharp(path.join(out, 'batchapi', line.outputs[0]!.path)).metadata();
      expect([image.width, image.height]).toEqual([1024, 1024]);
      // Half the realtime token price: 1024x1024 low is 196 output tokens ($0.00588 realtime), prompt text at $5/M.
      expect(line.cost_usd_actual).not.toBeNull();
      if (key.startsWith('g'))
        expect(line.cost_usd).toBeCloseTo(0.5 * (196 * 30e-6 + Math.ceil(line.prompt.length / 4) * 5e-6), 6);
      expect(Math.abs(line.cost_usd_difference!)).toBeLessThan(line.cost_usd * 0.1 + 1e-6);
    }
    const refused = lines.find((entry) => entry.row_key === 'refused')!;
    expect(refused).toMatchObject({ status: 'failed', error: { code: 'content_policy' } });
  });
});

describe('OpenAI Batch API rows that cannot go', () => {
  it('rejects batch delivery on another provider, and an unknown delivery, naming file, line and field', async () => {
    const folder = await manifestFolder();
    const manifest = await writeManifest(folder, 'bad-delivery.jsonl', [
      jsonLine({ id: 'fal-batch', provider: 'fal', prompt: 'p', delivery: 'batch' }),
      jsonLine({ id: 'later', provider: 'openai', prompt: 'p', delivery: 'later' }),
      jsonLine({ id: 'fine', provider: 'openai', prompt: 'p', delivery: 'batch' }),
    ]);
    const estimate = await runCliInProcess(['estimate', manifest], suite.environment());
    expect(estimate.exitCode, estimate.stdout + estimate.stderr).toBe(0);
    expect(estimate.stdout).toMatch(
      /not priced .*bad-delivery\.jsonl:1 \[delivery\]: delivery: batch delivery is OpenAI's Batch API; this row goes to fal/,
    );
    expect(estimate.stdout).toMatch(
      /not priced .*bad-delivery\.jsonl:2 \[delivery\]: delivery: must be one of/,
    );
    expect(estimate.stdout).toMatch(/1 rows go through OpenAI's Batch API/);
  });
});

describe('OpenAI Batch API edits of a size its JSON edits do not take', () => {
  it('go realtime, said at enqueue, instead of failing a day later', async () => {
    const world = suite.simulator().openaiBatches;
    const batchesBefore = world.batchesCreated;
    const manifest = await writeManifest(await manifestFolder(), 'wide-edit.jsonl', [
      jsonLine({
        id: 'wide',
        provider: 'openai',
        prompt: 'widen the dune',
        image_urls: ['images/dune.jpg'],
        resolution: '2048x1152',
        quality: 'low',
      }),
    ]);
    const out = await temporaryDirectory();
    const run = await runCliInProcess(
      ['run', manifest, '--out', out, '--batch', 'wide', '--delivery', 'batch'],
      suite.environment(),
    );
    expect(run.stdout, run.stdout + run.stderr).toMatch(/1 completed, 0 failed, 0 pending/);
    expect(run.stdout).toMatch(
      /Warning: .*wide-edit\.jsonl: 1 edit row\(s\) asking for the Batch API go realtime, at the realtime price \(lines 1\): Batch API edits take only the sizes 1024x1024, 1536x1024, 1024x1536/,
    );
    expect(world.batchesCreated).toBe(batchesBefore);
    const [line] = await resultLines(out, 'wide');
    expect(line?.request_id).not.toMatch(/^batch_req_/);
    expect(line?.outputs[0]).toMatchObject({ width: 2048, height: 1152 });
  });
});

describe('OpenAI Batch API under a budget cap', () => {
  it('puts in a request file only the rows the cap allows, reserved at the batch price', async () => {
    const tag = `capped-${suite.prefix()}`;
    const folder = await manifestFolder();
    const rows = Array.from({ length: 6 }, (_, index) => ({
      id: `b${index}`,
      provider: 'openai',
      prompt: `${tag} ${index}`,
      resolution: '1024x1024',
      quality: 'low',
      delivery: 'batch',
    }));
    const manifest = await writeManifest(folder, 'capped.jsonl', rows.map(jsonLine));
    // Each row: half of 196 output tokens (1024x1024 low) at $30/M and its prompt tokens at $5/M; a cap of three and a half rows.
    const perRow = 0.5 * (196 * 30e-6 + Math.ceil(`${tag} 0`.length / 4) * 5e-6);
    const out = await temporaryDirectory();
    const run = await runCliInProcess(
      ['run', manifest, '--out', out, '--batch', 'capped', '--budget-usd', (3.5 * perRow).toFixed(6)],
      suite.environment(),
    );
    expect(run.stdout, run.stdout + run.stderr).toMatch(/Budget reached/);
    expect(run.stdout).toMatch(/3 completed, 0 failed, 3 pending/);
    expect(run.stdout).toMatch(/3 rows held back \(not paid for\)/);
    const paid = rows.filter((row) =>
      suite.simulator().openaiBatches.linesByCustomId.has(`capped--${row.id}`),
    );
    expect(paid).toHaveLength(3);
  });
});

describe('OpenAI Batch API after a crash', () => {
  it('a run killed after its batch was created follows the same batch when started again: nothing submitted twice', async () => {
    const world = suite.simulator().openaiBatches;
    world.behaviour = { processingMs: 4000 };
    const tag = `crash-${suite.prefix()}`;
    const manifest = await lowGenerateRows('crash', tag, 'c', 20);
    const out = await temporaryDirectory();
    const before = world.batchesCreated;
    // The dashboard shows the OpenAI batch the killed run left behind: its id, state and window.
    const board = await startReadOnlyDashboard(suite.environment());
    const recordedBatch =
      /<td>batch_[0-9a-f]+<\/td><td>generate<\/td><td>20<\/td><td>(validating|in_progress)<\/td>/;
    try {
      const first = spawnCli(
        ['run', manifest, '--out', out, '--batch', 'crash', '--delivery', 'batch'],
        suite.environment(),
      );
      // Killed once the run has recorded the batch the host answered with (a kill between the host's answer and
      // the record is the lost-answer case below).
      let page = '';
      for (let wait = 0; wait < 200 && !recordedBatch.test(page); wait += 1) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        page = await (await fetch(`${board.url}/batches/crash`)).text();
      }
      expect(world.batchesCreated).toBe(before + 1);
      first.kill('SIGKILL');
      await new Promise((resolve) => first.once('exit', resolve));
      page = await (await fetch(`${board.url}/batches/crash`)).text();
      expect(page).toMatch(/<h2>OpenAI Batch API<\/h2>/);
      expect(page).toMatch(recordedBatch);
      expect(page).toMatch(/\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC/);
      world.behaviour = { processingMs: 50 };
      const second = await runCliInProcess(
        ['run', manifest, '--out', out, '--batch', 'crash', '--delivery', 'batch'],
        suite.environment(),
      );
      expect(second.stdout, second.stdout + second.stderr).toMatch(/20 completed, 0 failed, 0 pending/);
      expect(world.batchesCreated).toBe(before + 1);
      for (let index = 0; index < 20; index += 1)
        expect(world.linesByCustomId.get(`crash--c${index}`)).toBe(1);
      expect(await resultLines(out, 'crash')).toHaveLength(20);
    } finally {
      killSpawnedProcesses();
      world.behaviour = { processingMs: 50 };
      await board.close();
    }
  });

  it('a batch created whose answer was lost is found by its metadata, not created again', async () => {
    const world = suite.simulator().openaiBatches;
    world.behaviour = { processingMs: 50, dropCreateAnswers: 1 };
    const tag = `lost-${suite.prefix()}`;
    const manifest = await lowGenerateRows('lost', tag, 'l', 5);
    const out = await temporaryDirectory();
    const before = world.batchesCreated;
    try {
      const run = await runCliInProcess(
        ['run', manifest, '--out', out, '--batch', 'lost', '--delivery', 'batch'],
        suite.environment(),
      );
      expect(run.stdout, run.stdout + run.stderr).toMatch(/5 completed, 0 failed, 0 pending/);
      expect(world.batchesCreated).toBe(before + 1);
      for (let index = 0; index < 5; index += 1) expect(world.linesByCustomId.get(`lost--l${index}`)).toBe(1);
    } finally {
      world.behaviour = { processingMs: 50 };
    }
  });

  it('a row the completed batch has no readable line for fails, and is not sent again (it may have been billed)', async () => {
    const world = suite.simulator().openaiBatches;
    world.behaviour = { processingMs: 50, unreadableLines: 1 };
    const tag = `unreadable-${suite.prefix()}`;
    const manifest = await lowGenerateRows('unreadable', tag, 'u', 4);
    const out = await temporaryDirectory();
    try {
      const run = await runCliInProcess(
        [
          'run',
          manifest,
          '--out',
          out,
          '--batch',
          'unreadable',
          '--delivery',
          'batch',
          '--fallback',
          'realtime',
        ],
        suite.environment(),
      );
      expect(run.stdout, run.stdout + run.stderr).toMatch(/3 completed, 1 failed, 0 pending/);
      const failed = (await resultLines(out, 'unreadable')).filter((line) => line.status === 'failed');
      expect(failed).toHaveLength(1);
      expect(failed[0]!.error).toMatchObject({ code: 'invalid_response' });
      expect(failed[0]!.error!.message).toMatch(/may have been billed/);
      // Made once inside the batch; neither the batch nor the realtime fallback sent it again.
      for (let index = 0; index < 4; index += 1) {
        expect(world.linesByCustomId.get(`unreadable--u${index}`)).toBe(1);
        expect(suite.simulator().submissionsByPrompt.get(`${tag} ${index}`)).toBe(1);
      }
    } finally {
      world.behaviour = { processingMs: 50 };
    }
  });

  it('an expired batch with --fallback realtime finishes its remaining rows through the ordinary API', async () => {
    const world = suite.simulator().openaiBatches;
    world.behaviour = { processingMs: 50, expireAfterLines: 3 };
    const tag = `expire-${suite.prefix()}`;
    const manifest = await lowGenerateRows('expire', tag, 'x', 8);
    const out = await temporaryDirectory();
    try {
      const run = await runCliInProcess(
        ['run', manifest, '--out', out, '--batch', 'expire', '--delivery', 'batch', '--fallback', 'realtime'],
        suite.environment(),
      );
      expect(run.stdout, run.stdout + run.stderr).toMatch(/8 completed, 0 failed, 0 pending/);
      const lines = await resultLines(out, 'expire');
      expect(lines.filter((line) => line.request_id?.startsWith('batch_req_'))).toHaveLength(3);
      expect(lines.filter((line) => !line.request_id?.startsWith('batch_req_'))).toHaveLength(5);
      // Each prompt was paid once: three in the batch, five realtime.
      for (let index = 0; index < 8; index += 1)
        expect(suite.simulator().submissionsByPrompt.get(`${tag} ${index}`)).toBe(1);
    } finally {
      world.behaviour = { processingMs: 50 };
    }
  });
});
