/**
 * `image-batch run` and its money verbs end to end: `estimate` by provider and resolution tier, `--budget-usd` caps
 * and `budget` raises, `--confirm-over`, `report` with actual costs and a formula-escaped CSV, and the reconciliation
 * of estimate and actual cost per row, in summary and budget.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { ResultLine } from '../../src/shared/job-definitions.js';
import { runCliInProcess } from '../helpers/cli.js';
import { temporaryDirectory } from '../helpers/files.js';
import { jsonLine, manifestFolder, writeManifest } from '../helpers/manifests.js';
import { redisUrl } from '../helpers/redis.js';
import { readJsonLines } from '../helpers/results.js';
import { simulatorSuite } from '../helpers/simulator-suite.js';
import { providerKey } from '../../src/shared/keys.js';

const suite = simulatorSuite();
const environment = (extra: Record<string, string> = {}) => suite.environment(extra);

describe('money', () => {
  it('estimate prices the example manifests by provider and resolution tier, without Redis', async () => {
    const result = await runCliInProcess(
      ['estimate', 'jobs/example-edits.csv', 'jobs/example-mixed.jsonl', 'jobs/example-all-providers.jsonl'],
      { REDIS_URL: 'redis://127.0.0.1:1', LOG_LEVEL: 'silent' },
    );
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/Estimate for 34 rows read \(30 priced, 4 could not be priced\)/);
    // 1920x1080 and 1024x1536 rows go to Oxen.ai at 2K, the smallest tier that delivers them: high-resolution.
    expect(result.stdout).toMatch(/oxen\s+high-resolution\s+14\s+\$/);
    // WaveSpeed: 1024x576 high (not published: medium 1k's $0.10 × 3,357 / 1,756 output tokens = $0.1912)
    // and 1024x1024 at its default medium ($0.10 published).
    expect(result.stdout).toMatch(/wavespeed\s+standard\s+2\s+\$0\.2912/);
    expect(result.stdout).toMatch(
      /Hint: openai 1024x1024 high \(1 rows, \$0\.2107 an image\): 1536x1024 high has at least as many pixels for \$0\.1646/,
    );
    expect(result.stdout).toMatch(/total\s+35\s+\$\d+\.\d+/);
    expect(result.stdout).toMatch(/not priced jobs\/example-edits\.csv:12 \[prompt\]/);
  });

  it('run with --budget-usd stops at the cap, says so, and continues after `budget` raises it', async () => {
    const folder = await manifestFolder();
    const manifest = await writeManifest(
      folder,
      'capped.jsonl',
      Array.from({ length: 4 }, (_, index) =>
        jsonLine({ id: `c${index}`, provider: 'fal', prompt: `capped ${index}`, resolution: '1024x1024' }),
      ),
    );
    const out = await temporaryDirectory();
    const environment_ = environment({ FAL_CONCURRENCY: '1', IMAGE_BATCH_BUDGET_RECHECK_MS: '200' });
    const first = await runCliInProcess(
      ['run', manifest, '--out', out, '--batch', 'capped', '--budget-usd', '0.45'],
      environment_,
    );
    expect(first.exitCode).toBe(1);
    // Each row: fal's $0.22 (7,024 tokens rounded up to the cent) and 2 prompt tokens at $5/M; a third would pass $0.45.
    expect(first.stdout).toMatch(/Budget reached: \$0\.4400 spent of the \$0\.45 cap; 2 rows held back/);
    expect(first.stdout).toMatch(/image-batch budget capped <usd>/);
    expect(await readJsonLines(path.join(out, 'capped', 'results.jsonl'))).toHaveLength(2);
    expect((await runCliInProcess(['budget', 'capped', '1'], environment_)).exitCode).toBe(0);
    const second = await runCliInProcess(['run', manifest, '--out', out, '--batch', 'capped'], environment_);
    expect(second.exitCode).toBe(0);
    expect(second.stdout).toMatch(/4 completed, 0 failed, 0 pending/);
    for (let index = 0; index < 4; index += 1)
      expect(suite.simulator().submissionsByPrompt.get(`capped ${index}`)).toBe(1);
  });

  it('--confirm-over refuses without a terminal when the estimate is over, enqueuing nothing', async () => {
    const folder = await manifestFolder();
    const manifest = await writeManifest(folder, 'pricey.jsonl', [
      jsonLine({ prompt: 'a 4K mural', resolution: '3840x2160' }),
    ]);
    const result = await runCliInProcess(
      ['enqueue', manifest, '--batch', 'pricey', '--confirm-over', '0.10'],
      environment(),
    );
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toMatch(/over --confirm-over \$0\.10; refusing without a terminal/);
    const status = await runCliInProcess(['status', 'pricey'], environment());
    expect(status.exitCode).toBe(2);
  });

  it('report: actual OpenAI cost beside the estimate, and a CSV with formula-escaped prompts', async () => {
    const folder = await manifestFolder();
    const manifest = await writeManifest(folder, 'report.jsonl', [
      jsonLine({
        id: 'formula',
        provider: 'openai',
        prompt: '=HYPERLINK("http://evil")',
        resolution: '1024x1024',
      }),
      jsonLine({
        id: 'refused',
        provider: 'openai',
        prompt: '[simulate:refuse] no',
        resolution: '1024x1024',
      }),
    ]);
    const out = await temporaryDirectory();
    await runCliInProcess(['run', manifest, '--out', out, '--batch', 'report'], environment());
    const json = JSON.parse(
      (await runCliInProcess(['report', 'report', '--format', 'json'], environment())).stdout,
    ) as Record<string, any>;
    expect(json.counts).toMatchObject({ completed: 1, failed: 1 });
    expect(json.failed_by_reason).toEqual({ content_policy: 1 });
    expect(json.by_provider.openai.standard.images).toBe(1);
    expect(json.by_provider.openai.standard.actual_usd).toBeGreaterThan(0);
    // 7,024 output tokens at $30/M and 7 prompt tokens at $5/M.
    expect(json.cost_by_tier.standard.cost_usd).toBeCloseTo(7024 * 30e-6 + 7 * 5e-6, 6);
    const csv = (await runCliInProcess(['report', 'report', '--format', 'csv'], environment())).stdout;
    expect(csv.split('\n')[0]).toBe(
      'row_key,manifest,line,provider,model,status,error_code,error_message,resolution,resolution_tier,images,cost_usd,cost_usd_actual,cost_usd_difference,request_id,prompt,c2pa',
    );
    expect(csv).toContain(`"'=HYPERLINK(""http://evil"")"`);
    expect(csv).not.toMatch(/,=HYPERLINK/);
    const table = (await runCliInProcess(['report', 'report'], environment())).stdout;
    expect(table).toMatch(/failed content_policy: 1/);
    const summary = JSON.parse(await readFile(path.join(out, 'report', 'summary.json'), 'utf8')) as Record<
      string,
      any
    >;
    expect(summary.by_provider.openai.standard.actual_usd).toBe(json.by_provider.openai.standard.actual_usd);
  });

  it('reconciles: each row records estimate, actual and difference; report, summary and budget use them', async () => {
    const folder = await manifestFolder();
    // 800x600 is magnified to 1024x768 and billed as 32 x 24 = 768 input image tokens (community thread 1382940).
    await sharp({ create: { width: 800, height: 600, channels: 3, background: '#6a8' } })
      .png()
      .toFile(path.join(folder, 'photo.png'));
    const manifest = await writeManifest(folder, 'reconcile.jsonl', [
      jsonLine({
        id: 'made',
        provider: 'openai',
        prompt: 'A red kite',
        resolution: '1024x1024',
        quality: 'high',
      }),
      jsonLine({
        id: 'edited',
        provider: 'openai',
        prompt: 'Add a blue sky',
        image_urls: ['photo.png'],
        resolution: '1536x1024',
        quality: 'low',
      }),
      jsonLine({
        id: 'fal-made',
        provider: 'fal',
        prompt: 'A lamp',
        resolution: '1024x1024',
        quality: 'low',
      }),
    ]);
    const out = await temporaryDirectory();
    const run = await runCliInProcess(
      ['run', manifest, '--out', out, '--batch', 'reconcile', '--budget-usd', '5'],
      environment(),
    );
    expect(run.exitCode, run.stdout + run.stderr).toBe(0);
    const lines = await readJsonLines<ResultLine>(path.join(out, 'reconcile', 'results.jsonl'));
    const byKey = new Map(lines.map((line) => [line.row_key, line]));
    const edited = byKey.get('edited')!;
    // Output 1536x1024 low: 158 tokens at $30/M; input 768 at $8/M; prompt 14 characters = 4 tokens at $5/M.
    expect(edited.cost_usd).toBeCloseTo(158 * 30e-6 + 768 * 8e-6 + 4 * 5e-6, 6);
    expect(edited.cost_usd_actual).not.toBeNull();
    expect(edited.cost_usd_difference).toBeCloseTo(edited.cost_usd_actual! - edited.cost_usd, 6);
    expect(Math.abs(edited.cost_usd_difference!)).toBeLessThan(edited.cost_usd * 0.1);
    // fal reports no usage: its row has an estimate and no actual.
    expect(byKey.get('fal-made')).toMatchObject({ cost_usd_actual: null, cost_usd_difference: null });
    const json = JSON.parse(
      (await runCliInProcess(['report', 'reconcile', '--format', 'json'], environment())).stdout,
    ) as Record<string, any>;
    const openai = json.by_provider.openai;
    const actual = lines.reduce((sum, line) => sum + (line.cost_usd_actual ?? 0), 0);
    expect(openai.standard.actual_usd).toBeCloseTo(actual, 4);
    expect(openai.standard.estimated_usd_with_actual).toBeCloseTo(
      byKey.get('made')!.cost_usd + edited.cost_usd,
      6,
    );
    expect(Math.abs(openai.standard.difference_percent as number)).toBeLessThan(10);
    expect(json.by_provider.fal.standard.difference_percent).toBeNull();
    // The budget settles on actual figures where reported, on the estimate elsewhere.
    expect(json.budget.spent_usd).toBeCloseTo(actual + byKey.get('fal-made')!.cost_usd, 4);
    const table = (await runCliInProcess(['report', 'reconcile'], environment())).stdout;
    expect(table).toMatch(/openai\s+standard\s+2\s+\$[\d.]+\s+\$[\d.]+\s+\$[\d.]+\s+[+−±]\d+\.\d %/);
    expect(run.stdout).toMatch(/all\s+standard\s+3\s+\$[\d.]+\s+\$[\d.]+\s+\$[\d.]+\s+[+−±]\d+\.\d %/);
  });

  it("records from OpenAI's usage on an n > 1 answer how the prompt is billed, for later estimates", async () => {
    const prompt =
      'a long prompt about a lighthouse on a cliff at dusk, waves below, gulls above, warm light';
    const manifest = await writeManifest(await manifestFolder(), 'twice.jsonl', [
      jsonLine({ id: 'pair', provider: 'openai', prompt, num_images: 2, quality: 'low' }),
    ]);
    const out = await temporaryDirectory();
    const run = await runCliInProcess(['run', manifest, '--out', out, '--batch', 'twice'], environment());
    expect(run.exitCode, run.stdout + run.stderr).toBe(0);
    const redis = new Redis(redisUrl());
    try {
      // The simulator bills n images as n calls (its picture of OpenAI): the usage shows two copies of the prompt.
      expect(await redis.hget(providerKey(suite.prefix(), 'openai', 'billing'), 'input-billing')).toBe(
        'per-image',
      );
    } finally {
      redis.disconnect();
    }
    const [line] = await readJsonLines<ResultLine>(path.join(out, 'twice', 'results.jsonl'));
    expect(line!.cost_usd_actual).toBeCloseTo(line!.cost_usd, 3);
  });
});
