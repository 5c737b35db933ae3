/**
 * The CLI as a user meets it, run as a child process: help, exit codes, the simulator notice, dry runs, batch folders,
 * no secret in any output, and the provider list (the worker's signals: cli-worker-signals.test.ts).
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIMULATED_OXEN_COST_PER_IMAGE } from '../../src/simulator/apis/oxen.js';
import { ProviderSimulator } from '../../src/simulator/server.js';
import { killSpawnedProcesses, runCliInProcess, runCliProcess } from '../helpers/cli.js';
import { removeTemporaryDirectories, temporaryDirectory } from '../helpers/files.js';
import { jsonLine, manifestFolder, writeManifest } from '../helpers/manifests.js';
import { redisUrl, prefixPerTest, storedText } from '../helpers/redis.js';
import { simulatorEnvironment } from '../helpers/simulator-environment.js';

const SECRET = 'sk-TESTSECRET-0123456789';
const prefix = prefixPerTest();

afterAll(removeTemporaryDirectories);

async function keysUnderPrefix(): Promise<string[]> {
  const redis = new Redis(redisUrl());
  try {
    return await redis.keys(`${prefix()}:*`);
  } finally {
    redis.disconnect();
  }
}

describe('help and usage errors', () => {
  it('lists every verb, and each verb has its own --help', async () => {
    const help = await runCliProcess(['--help'], {});
    expect(help.exitCode).toBe(0);
    for (const verb of ['run', 'enqueue', 'worker', 'status', 'simulator'])
      expect(help.stdout).toContain(verb);
    const runHelp = await runCliProcess(['run', '--help'], {});
    expect(runHelp.exitCode).toBe(0);
    expect(runHelp.stdout).toContain('--concurrency');
    expect(runHelp.stdout).toContain('--out');
  });

  it('exits 2 on a bad flag or a missing manifest', async () => {
    const badFlag = await runCliProcess(['run', 'x.csv', '--concurrency', 'lots'], {});
    expect(badFlag.exitCode).toBe(2);
    expect(badFlag.stderr).toContain('--concurrency');
    const missing = await runCliProcess(['enqueue', '/nonexistent/rows.csv', '--dry-run'], {});
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain('/nonexistent/rows.csv: no such file');
  });

  it('exits 2 when Redis is unreachable, naming the URL (password hidden) and how to start Redis', async () => {
    const folder = await manifestFolder();
    const manifest = await writeManifest(folder, 'rows.jsonl', [jsonLine({ prompt: 'x' })]);
    const result = await runCliProcess(['run', manifest, '--out', folder], {
      REDIS_URL: 'redis://:hunter2@127.0.0.1:1',
    });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('cannot reach Redis at redis://:***@127.0.0.1:1');
    expect(result.stderr).toContain('redis-server');
    expect(result.stderr + result.stdout).not.toContain('hunter2');
  });
});

describe('run without an API key', () => {
  it('says on its first line that the simulator stands in, then completes the batch', async () => {
    const folder = await manifestFolder();
    const manifest = await writeManifest(folder, 'rows.csv', [
      'id,prompt,image_urls,resolution',
      'a,"a ladybird on a leaf, as a watercolor",images/ladybird.jpg,1024x768',
      'b,a lighthouse at night,,1024x1024',
    ]);
    const out = await temporaryDirectory();
    const result = await runCliProcess(['run', manifest, '--out', out, '--batch', 'no-key'], {
      REDIS_URL: redisUrl(),
      IMAGE_BATCH_QUEUE_PREFIX: prefix(),
    });
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    const lines = result.stdout.split('\n');
    expect(lines[0]).toMatch(
      /^No API key set for oxen, fal, openai, replicate, wavespeed .*simulator at http:\/\/127\.0\.0\.1:\d+/,
    );
    expect(result.stdout).toMatch(/2 completed, 0 failed/);
    // Oxen rows with a key (the simulator's) are priced at what its model endpoint serves: cost_per_image, per image.
    const usd = (2 * SIMULATED_OXEN_COST_PER_IMAGE).toFixed(4).replace('.', '\\.');
    expect(result.stdout).toMatch(new RegExp(`standard\\s+2 images\\s+\\$${usd}`));
    expect(await readdir(path.join(out, 'no-key', 'images'))).toEqual(['a.png', 'b.png']);
  });
});

describe('enqueue --dry-run', () => {
  it('validates and reports, touching neither Redis nor the output folder', async () => {
    const folder = await manifestFolder();
    const manifest = await writeManifest(folder, 'rows.jsonl', [
      jsonLine({ id: 'ok', prompt: 'fine', resolution: '2560x1440' }),
      jsonLine({ id: 'bad', prompt: 'bad', output_format: 'bmp' }),
    ]);
    const out = await temporaryDirectory();
    const result = await runCliProcess(['enqueue', manifest, '--dry-run', '--out', out], {
      REDIS_URL: redisUrl(),
      IMAGE_BATCH_QUEUE_PREFIX: prefix(),
    });
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toContain('would enqueue 1');
    expect(result.stdout).toMatch(
      /rows\.jsonl:2 \[output_format\]: output_format: must be one of: png, jpeg, webp/,
    );
    // 2560x1440 goes to Oxen.ai as 16:9 at 4K (2K delivers only 2048x1152): priced at 3840x2160 high.
    expect(result.stdout).toMatch(/high-resolution 1 images \$0\.4003/);
    expect(await keysUnderPrefix()).toEqual([]);
    expect(await readdir(out)).toEqual([]);
  });
});

describe('batch folders', () => {
  it('refuses a new batch whose folder differs from another batch folder in the same --out only in case', async () => {
    const manifest = await writeManifest(await manifestFolder(), 'case.jsonl', [
      jsonLine({ id: 'one', prompt: 'fine', resolution: '1024x1024' }),
    ]);
    const out = await temporaryDirectory();
    const environment = { REDIS_URL: redisUrl(), IMAGE_BATCH_QUEUE_PREFIX: prefix() };
    const first = await runCliInProcess(
      ['enqueue', manifest, '--out', out, '--batch', 'Case-Run'],
      environment,
    );
    expect(first.exitCode).toBe(0);
    const twin = await runCliInProcess(
      ['enqueue', manifest, '--out', out, '--batch', 'case-run'],
      environment,
    );
    expect(twin.exitCode).toBe(2);
    expect(twin.stderr).toMatch(/would share its folder with batch "Case-Run"/);
    const elsewhere = await runCliInProcess(
      ['enqueue', manifest, '--out', await temporaryDirectory(), '--batch', 'case-run'],
      environment,
    );
    expect(elsewhere.exitCode).toBe(0);
  });
});

describe('enqueue checks each row against its model before any paid call', () => {
  it('refuses a GIF input for OpenAI, xhigh on gpt-image-2, and an unpriced row in a capped batch; names file, line, field', async () => {
    const folder = await manifestFolder();
    // A 1x1 GIF: OpenAI's edits take png, webp or jpg only.
    await writeFile(
      path.join(folder, 'images', 'tiny.gif'),
      Buffer.from('R0lGODlhAQABAIAAAP///wAAACwAAAAAAQABAAACAkQBADs=', 'base64'),
    );
    const manifest = await writeManifest(folder, 'models.jsonl', [
      jsonLine({ id: 'gif', provider: 'openai', prompt: 'edit a gif', image_urls: ['images/tiny.gif'] }),
      jsonLine({ id: 'xhigh', provider: 'openai', prompt: 'too high', quality: 'xhigh' }),
      jsonLine({
        id: 'sunburst',
        provider: 'openai',
        model: 'gpt-image-2.5-sunburst',
        prompt: 'max',
        quality: 'max',
      }),
      jsonLine({ id: 'fine', provider: 'openai', prompt: 'fine' }),
    ]);
    const dry = await runCliProcess(['enqueue', manifest, '--dry-run'], {});
    expect(dry.stdout).toContain('would enqueue 2');
    expect(dry.stdout).toMatch(
      /models\.jsonl:1 \[image_urls\]: .*tiny\.gif is image\/gif; gpt-image-2 reads image\/png/,
    );
    expect(dry.stdout).toMatch(
      /models\.jsonl:2 \[quality\]: .*gpt-image-2: quality is one of low, medium, high/,
    );
    expect(dry.stdout).toMatch(/1 rows are unpriced .*no published price for quality "max"/);
    const capped = await runCliProcess(['enqueue', manifest, '--dry-run', '--budget-usd', '5'], {});
    expect(capped.stdout).toContain('would enqueue 1');
    expect(capped.stdout).toMatch(/models\.jsonl:3 \[quality\]: .*a batch with a budget cap cannot hold it/);
  });
});

describe('secrets', () => {
  let simulator: ProviderSimulator;
  beforeAll(async () => {
    simulator = new ProviderSimulator({ apiKey: SECRET });
    await simulator.start();
  });
  afterAll(async () => simulator.stop());

  it('never writes the API key to Redis, logs, output or results, even when calls fail', async () => {
    const folder = await manifestFolder();
    const manifest = await writeManifest(folder, 'rows.jsonl', [
      jsonLine({ id: 'good', prompt: 'a bridge', image_urls: ['images/dune.jpg'], resolution: '1024x768' }),
      jsonLine({ id: 'refused', prompt: '[simulate:refuse] nope', resolution: '1024x768' }),
    ]);
    const out = await temporaryDirectory();
    const result = await runCliProcess(
      ['run', manifest, '--out', out, '--batch', 'secret', '--concurrency', '1'],
      {
        REDIS_URL: redisUrl(),
        IMAGE_BATCH_QUEUE_PREFIX: prefix(),
        OXEN_API_KEY: SECRET,
        OXEN_BASE_URL: simulator.url,
        LOG_LEVEL: 'debug',
        // Completed jobs are removed at once by default; kept here, their data is searched for the key too.
        IMAGE_BATCH_KEEP_COMPLETED_JOBS: '100',
      },
    );
    expect(result.exitCode).toBe(1);
    expect(
      simulator.recordedRequests.every((request) => request.headers.authorization === `Bearer ${SECRET}`),
    ).toBe(true);
    expect(result.stderr.length).toBeGreaterThan(0);
    expect(result.stdout + result.stderr).not.toContain(SECRET);
    const stored = await storedText(prefix());
    expect(stored).toContain('a bridge');
    expect(stored).not.toContain(SECRET);
    for (const name of ['results.jsonl', 'summary.json']) {
      expect(await readFile(path.join(out, 'secret', name), 'utf8')).not.toContain(SECRET);
    }
  });
});

describe('providers', () => {
  it('lists every provider with its variables, whether a key is set, and what each model accepts', async () => {
    const result = await runCliProcess(['providers', '--json'], { FAL_KEY: 'set-for-this-test' });
    expect(result.exitCode).toBe(0);
    const rows = JSON.parse(result.stdout) as Array<{
      name: string;
      key_variable: string;
      key_set: boolean;
      models: Array<{ model: string; supports: string }>;
    }>;
    expect(rows.map((row) => [row.name, row.key_variable, row.key_set])).toEqual([
      ['oxen', 'OXEN_API_KEY', false],
      ['fal', 'FAL_KEY', true],
      ['openai', 'OPENAI_API_KEY', false],
      ['replicate', 'REPLICATE_API_TOKEN', false],
      ['wavespeed', 'WAVESPEED_API_KEY', false],
    ]);
    expect(result.stdout).not.toContain('set-for-this-test');
    for (const row of rows) expect(row.models[0]?.supports).toEqual(expect.stringContaining('generate'));
    const openai = rows.find((row) => row.name === 'openai')!;
    expect(openai.models.map((model) => model.model)).toContain('gpt-image-2.5-sunburst');
  });

  it('--check makes one free call per provider with a key: each says the key works and what the host serves', async () => {
    const checked = new ProviderSimulator({ apiKey: 'sk-check-key' });
    const origin = await checked.start();
    try {
      const result = await runCliProcess(
        ['providers', '--check'],
        simulatorEnvironment(origin, 'sk-check-key'),
      );
      expect(result.exitCode).toBe(0);
      expect(result.stdout.match(/check: {4}ok: key works/g)).toHaveLength(5);
      expect(result.stdout).toMatch(/gpt-image-2 takes prompt, input_image, aspect_ratio, resolution/);
      expect(result.stdout).toMatch(/serves gpt-image-2, gpt-image-2-2026-04-21, gpt-image-2\.5-flare/);
      expect(result.stdout).toMatch(/openai\/gpt-image-2 0\.22 USD\/image/);
      expect(result.stdout).toMatch(/aspect_ratio 1:1 3:2 2:3 16:9 9:16 auto/);
      expect(result.stdout).toMatch(/balance 100 USD/);
      expect(checked.paidRequestTotal).toBe(0);

      const wrong = await runCliProcess(
        ['providers', '--check', '--json'],
        simulatorEnvironment(origin, 'sk-wrong-key'),
      );
      expect(wrong.exitCode).toBe(1);
      const rows = JSON.parse(wrong.stdout) as Array<{ check: { ok: boolean; summary: string } }>;
      expect(rows.every((row) => !row.check.ok && /authentication_failed/.test(row.check.summary))).toBe(
        true,
      );
      expect(wrong.stdout + wrong.stderr).not.toContain('sk-wrong-key');
    } finally {
      await checked.stop();
    }
  });
});

afterAll(killSpawnedProcesses);
