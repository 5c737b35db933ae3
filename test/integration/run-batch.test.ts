/**
 * `image-batch run` end to end against real Redis and the provider simulator: every valid row gets exactly one
 * results line and real image files of the requested size and format; bad rows are rejected with file, line and
 * field; a re-run pays for nothing; a 429 is waited out; permanent errors fail the row without a retry.
 */
import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { ResultLine } from '../../src/shared/job-definitions.js';
import { runCliInProcess } from '../helpers/cli.js';
import { temporaryDirectory } from '../helpers/files.js';
import { jsonLine, manifestFolder, writeManifest } from '../helpers/manifests.js';
import { readJsonLines } from '../helpers/results.js';
import { simulatorSuite } from '../helpers/simulator-suite.js';

const suite = simulatorSuite();
const environment = (extra: Record<string, string> = {}) => suite.environment(extra);

interface Expected {
  width: number;
  height: number;
  format: 'png' | 'jpeg' | 'webp';
  images: number;
}

describe('run, end to end', () => {
  it('runs a 58-row manifest pair: 55 rows complete with real images, 3 are rejected, and a re-run pays nothing', async () => {
    const folder = await manifestFolder();
    const expected = new Map<string, Expected>();
    const csvLines = ['id,prompt,mode,image_urls,mask_url,resolution,num_images,output_format'];
    for (let index = 1; index <= 40; index += 1) {
      const id = `csv-${index}`;
      const highResolution = index === 5 || index === 17;
      const images = index === 10 ? 2 : 1;
      const variant = index % 4;
      const format = (['png', 'jpeg', 'webp', 'png'] as const)[variant]!;
      const resolution = highResolution
        ? '2560x1440'
        : variant === 2 || variant === 0
          ? '1024x1024'
          : '1024x768';
      const [width, height] = resolution.split('x').map(Number) as [number, number];
      const inputs = ['', 'images/ladybird.jpg', 'images/dune.jpg|images/storm.jpg', 'images/garden.jpg'][
        variant
      ]!;
      const mask = variant === 3 ? 'images/garden-sky-mask.png' : '';
      const mode = variant === 0 ? 'generate' : 'edit';
      csvLines.push(
        `${id},"Prompt number ${index}, with a comma",${mode},${inputs},${mask},${resolution},${images},${format}`,
      );
      expected.set(id, { width, height, format, images });
    }
    csvLines.push('bad-size,"too small",generate,,,12x,1,png');
    csvLines.push('missing-file,"edit a file that is not there",edit,images/nope.jpg,,1024x1024,1,png');
    const jsonLines: string[] = [];
    for (let index = 1; index <= 15; index += 1) {
      const id = `jsonl-${index}`;
      const resolution = index === 3 ? '1920x1080' : '1024x768';
      const images = index === 7 ? 3 : 1;
      jsonLines.push(
        jsonLine({
          id,
          prompt: `Generated picture ${index}`,
          resolution,
          num_images: images,
          output_format: 'jpeg',
        }),
      );
      if (index === 8) jsonLines.push('{"id": "broken", "prompt": ');
      const [width, height] = resolution.split('x').map(Number) as [number, number];
      expected.set(id, { width, height, format: 'jpeg', images });
    }
    const csv = await writeManifest(folder, 'rows.csv', csvLines);
    const jsonl = await writeManifest(folder, 'more-rows.jsonl', jsonLines);
    const out = await temporaryDirectory();

    const first = await runCliInProcess(
      ['run', csv, jsonl, '--out', out, '--batch', 'e2e', '--concurrency', '8', '--max-rejected', '3'],
      environment(),
    );
    expect(first.stderr).toBe('');
    expect(first.exitCode).toBe(0);
    expect(first.stdout).toContain('enqueued 55');
    expect(first.stdout).toContain('3 rejected');
    expect(first.stdout).toMatch(/55 completed, 0 failed, 0 pending/);
    const paidAfterFirstRun = suite.simulator().paidRequestTotal;

    const batchDirectory = path.join(out, 'e2e');
    const results = await readJsonLines<ResultLine>(path.join(batchDirectory, 'results.jsonl'));
    expect(results).toHaveLength(55);
    expect(new Set(results.map((line) => line.row_key))).toEqual(new Set(expected.keys()));
    for (const line of results) {
      const want = expected.get(line.row_key)!;
      expect(line).toMatchObject({ status: 'completed', provider: 'oxen', attempts: 1, error: null });
      expect(line.request_id).toMatch(/^[0-9a-f-]{36}(,[0-9a-f-]{36})*$/);
      expect(line.outputs).toHaveLength(want.images);
      // Billed at the size its tier delivers: 1920x1080 and 2560x1440 go at 2K and 4K (more than 1920x1080 pixels).
      expect(line.resolution_tier).toBe(
        want.width * want.height >= 1920 * 1080 ? 'high-resolution' : 'standard',
      );
      expect(line.cost_usd).toBeGreaterThan(0);
      expect(line.size_requested).toMatchObject({ aspect_ratio: expect.stringMatching(/^\d+:\d+$/) });
      for (const output of line.outputs) {
        const file = path.join(batchDirectory, output.path);
        const bytes = await readFile(file);
        const metadata = await sharp(bytes).metadata();
        // Oxen.ai makes the nearest aspect ratio at a 1K/2K/4K tier: the shape asked for, the size the tier gives,
        // never fewer pixels than asked.
        expect(metadata.format).toBe(want.format);
        expect(metadata.width).toBeGreaterThanOrEqual(want.width);
        expect(metadata.height).toBeGreaterThanOrEqual(want.height);
        expect(Math.abs(metadata.width / metadata.height / (want.width / want.height) - 1)).toBeLessThan(
          0.02,
        );
        expect(output).toMatchObject({ width: metadata.width, height: metadata.height, bytes: bytes.length });
        expect(output.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
      }
    }
    const imageFiles = await readdir(path.join(batchDirectory, 'images'));
    expect(imageFiles.filter((name) => name.endsWith('.part'))).toEqual([]);
    expect(imageFiles).toHaveLength([...expected.values()].reduce((sum, want) => sum + want.images, 0));

    const rejects = await readJsonLines<{
      manifest: string;
      line: number;
      field: string | null;
      message: string;
    }>(path.join(batchDirectory, 'rejects.jsonl'));
    expect(
      rejects.map(({ manifest, line, field }) => ({ manifest: path.basename(manifest), line, field })),
    ).toEqual([
      { manifest: 'rows.csv', line: 42, field: 'resolution' },
      { manifest: 'rows.csv', line: 43, field: 'image_urls' },
      { manifest: 'more-rows.jsonl', line: 9, field: null },
    ]);
    expect(rejects[1]?.message).toMatch(/file not found/);

    const summary = JSON.parse(await readFile(path.join(batchDirectory, 'summary.json'), 'utf8')) as Record<
      string,
      any
    >;
    expect(summary.batch_id).toBe('e2e');
    expect(summary.counts).toEqual({ rows: 58, completed: 55, failed: 0, rejected: 3, pending: 0 });
    const tierImages = summary.cost_by_tier.standard.images + summary.cost_by_tier['high-resolution'].images;
    expect(tierImages).toBe(imageFiles.length);
    expect(summary.cost_by_tier['high-resolution'].images).toBe(3);
    const lineCost = results.reduce((sum, line) => sum + line.cost_usd, 0);
    expect(summary.cost_usd_total).toBeCloseTo(lineCost, 6);

    const second = await runCliInProcess(
      ['run', csv, jsonl, '--out', out, '--batch', 'e2e', '--max-rejected', '3'],
      environment(),
    );
    expect(second.exitCode).toBe(0);
    expect(second.stdout).toContain('enqueued 0; 55 already enqueued');
    expect(suite.simulator().paidRequestTotal).toBe(paidAfterFirstRun);
    expect(await readJsonLines(path.join(batchDirectory, 'results.jsonl'))).toHaveLength(55);
    expect(await readJsonLines(path.join(batchDirectory, 'rejects.jsonl'))).toHaveLength(3);
  });

  it('derives the batch id from the manifest name and content, so the same file lands in the same batch', async () => {
    const folder = await manifestFolder();
    const manifest = await writeManifest(folder, 'weekly.jsonl', [
      jsonLine({ prompt: 'a kite', resolution: '1024x768' }),
    ]);
    const out = await temporaryDirectory();
    const first = await runCliInProcess(['run', manifest, '--out', out], environment());
    const second = await runCliInProcess(['run', manifest, '--out', out], environment());
    expect(first.exitCode).toBe(0);
    expect(second.stdout).toContain('already enqueued');
    const [batchDirectory] = await readdir(out);
    expect(batchDirectory).toMatch(/^weekly-[0-9a-f]{8}$/);
    const results = await readJsonLines<ResultLine>(path.join(out, batchDirectory!, 'results.jsonl'));
    expect(results.map((line) => line.row_key)).toEqual(['weekly-1']);
  });
});

describe('run across every provider', () => {
  it('runs the shipped all-providers manifest: each row has its images and a results line with provider, model and request id', async () => {
    const out = await temporaryDirectory();
    const manifest = path.resolve('jobs/example-all-providers.jsonl');
    const result = await runCliInProcess(['run', manifest, '--out', out, '--batch', 'all'], environment());
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/10 completed, 0 failed, 0 pending/);
    const results = await readJsonLines<ResultLine>(path.join(out, 'all', 'results.jsonl'));
    const expected: Record<string, [string, string, string]> = {
      // Oxen.ai and WaveSpeedAI deliver their tier's size (the simulator's 1K): at least the size asked for.
      'oxen-lighthouse': ['oxen', 'gpt-image-2', '1280x960 png'],
      'oxen-dune-edit': ['oxen', 'gpt-image-2', '1280x1280 jpeg'],
      'fal-poster': ['fal', 'openai/gpt-image-2', '1024x1536 png'],
      'fal-flower-sky': ['fal', 'openai/gpt-image-2/edit', '1536x1024 webp'],
      'openai-icon-set': ['openai', 'gpt-image-2', '1024x1024 png'],
      'openai-storm-edit': ['openai', 'gpt-image-2', '1536x1024 png'],
      'replicate-robot': ['replicate', 'openai/gpt-image-2', '1024x1024 png'],
      'replicate-ladybird-edit': ['replicate', 'openai/gpt-image-2', '1536x1024 jpeg'],
      'wavespeed-city': ['wavespeed', 'openai/gpt-image-2/text-to-image', '1280x720 png'],
      'wavespeed-flower-edit': ['wavespeed', 'openai/gpt-image-2/edit', '1280x1280 png'],
    };
    expect(results.map((line) => line.row_key).sort()).toEqual(Object.keys(expected).sort());
    for (const line of results) {
      const [provider, model, shape] = expected[line.row_key]!;
      expect(line).toMatchObject({ status: 'completed', provider, model });
      expect(line.request_id).toBeTruthy();
      for (const output of line.outputs) {
        const metadata = await sharp(path.join(out, 'all', output.path)).metadata();
        expect(`${metadata.width}x${metadata.height} ${metadata.format}`).toBe(shape);
      }
    }
    expect(results.find((line) => line.row_key === 'openai-icon-set')?.outputs).toHaveLength(2);
    // WaveSpeedAI takes an aspect ratio and a tier: the results line records what was sent for the row's size.
    expect(results.find((line) => line.row_key === 'wavespeed-city')?.size_requested).toEqual({
      aspect_ratio: '16:9',
      resolution: '1k',
    });
    expect(results.find((line) => line.row_key === 'openai-icon-set')?.size_requested).toBeNull();
    expect(results.find((line) => line.provider === 'openai')?.usage).toMatchObject({
      output_tokens: expect.any(Number),
    });
    for (const line of results.filter((entry) => entry.provider !== 'openai')) expect(line.usage).toBeNull();
  });
});

describe('provider failures during run', () => {
  async function runOneRow(prompt: string, extraEnvironment: Record<string, string> = {}) {
    const folder = await manifestFolder();
    const manifest = await writeManifest(folder, 'one.jsonl', [
      jsonLine({ id: 'only', prompt, resolution: '1024x768' }),
    ]);
    const out = await temporaryDirectory();
    const before = suite.simulator().paidRequestTotal;
    const result = await runCliInProcess(
      ['run', manifest, '--out', out, '--batch', 'one'],
      environment(extraEnvironment),
    );
    const [line] = await readJsonLines<ResultLine>(path.join(out, 'one', 'results.jsonl'));
    return { result, line: line!, paidRequests: suite.simulator().paidRequestTotal - before };
  }

  it('waits out a 429 with Retry-After, then completes without spending an attempt', async () => {
    suite.simulator().injectFaults([{ status: 429, retryAfterSeconds: 1 }]);
    const { result, line, paidRequests } = await runOneRow('a patient fox');
    expect(result.exitCode).toBe(0);
    expect(line).toMatchObject({ status: 'completed', attempts: 1 });
    expect(paidRequests).toBe(2);
  });

  it('retries a 500 and completes on the second attempt', async () => {
    suite.simulator().injectFaults([{ status: 500 }]);
    const { result, line, paidRequests } = await runOneRow('a resilient owl');
    expect(result.exitCode).toBe(0);
    expect(line).toMatchObject({ status: 'completed', attempts: 2 });
    expect(paidRequests).toBe(2);
  });

  it.each([
    ['async', 'queue'],
    ['sync', 'sync'],
  ])(
    'does not re-send a %s submission that got no answer: the row records the uncertain outcome',
    async (_, mode) => {
      suite.simulator().injectFaults([{ hang: true }]);
      const { result, line, paidRequests } = await runOneRow(`a lost letter (${mode})`, {
        OXEN_TIMEOUT_MS: '1000',
        OXEN_MODE: mode,
      });
      expect(result.exitCode).toBe(1);
      expect(line).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'uncertain_outcome' } });
      expect(line.error?.message).toMatch(/not sent again/);
      expect(paidRequests).toBe(1);
    },
  );

  it("fails a row on a permanent 400 at once, with the provider's reason, and never retries it", async () => {
    suite.simulator().injectFaults([
      {
        status: 400,
        body: {
          error: { type: 'invalid_params', title: 'Invalid parameters', detail: 'prompt: not allowed here' },
        },
      },
    ]);
    const { result, line, paidRequests } = await runOneRow('a doomed request');
    expect(result.exitCode).toBe(1);
    expect(line).toMatchObject({ status: 'failed', attempts: 1, outputs: [], cost_usd: 0 });
    expect(line.error).toEqual({ code: 'bad_request', message: 'Oxen.ai: prompt: not allowed here' });
    expect(paidRequests).toBe(1);
    expect(result.stdout).toMatch(/0 completed, 1 failed/);
  });

  it('fails a content-policy refusal as such, without a retry', async () => {
    const { result, line, paidRequests } = await runOneRow('[simulate:refuse] something forbidden');
    expect(result.exitCode).toBe(1);
    expect(line.error?.code).toBe('content_policy');
    expect(paidRequests).toBe(1);
  });

  it('fails a row after its attempts run out on repeated 503s', async () => {
    suite.simulator().injectFaults([{ status: 503, times: 3 }]);
    const { result, line, paidRequests } = await runOneRow('an unlucky heron');
    expect(result.exitCode).toBe(1);
    expect(line).toMatchObject({ status: 'failed', attempts: 3, error: { code: 'server_error' } });
    expect(paidRequests).toBe(3);
  });
});
