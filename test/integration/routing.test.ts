/**
 * Rows with several candidate hosts (issue 25): routed when a worker can send them — to the cheapest healthy host —
 * and moved to another host only when their host certainly did not bill them (a revoked key, a 429), never paid on two
 * hosts; a row no candidate can make is one reject naming each host's reason.
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ResultLine } from '../../src/shared/job-definitions.js';
import { runCliInProcess } from '../helpers/cli.js';
import { temporaryDirectory } from '../helpers/files.js';
import { jsonLine, manifestFolder, writeManifest } from '../helpers/manifests.js';
import { readJsonLines } from '../helpers/results.js';
import { simulatorSuite } from '../helpers/simulator-suite.js';

const suite = simulatorSuite();
afterEach(() => suite.simulator().clearFaults());

async function run(
  batch: string,
  rows: Array<Record<string, unknown>>,
  extra: string[] = [],
  environment: Record<string, string> = {},
) {
  const manifest = await writeManifest(await manifestFolder(), `${batch}.jsonl`, rows.map(jsonLine));
  const out = await temporaryDirectory();
  const before = new Map(suite.simulator().submissionsByProvider);
  const result = await runCliInProcess(['run', manifest, '--out', out, '--batch', batch, ...extra], {
    ...suite.environment(),
    ...environment,
  });
  const lines = await readJsonLines<ResultLine>(path.join(out, batch, 'results.jsonl')).catch(() => []);
  const sent = (name: string) =>
    (suite.simulator().submissionsByProvider.get(name as never) ?? 0) - (before.get(name as never) ?? 0);
  return { result, lines, sent };
}

const rows = (count: number, provider: unknown) =>
  Array.from({ length: count }, (_, index) => ({
    id: `r${index}`,
    provider,
    prompt: `a small kite number ${index} over green hills at noon`,
    quality: 'low',
  }));

describe('routing rows over several hosts', () => {
  it('sends each row to the cheapest candidate that can start it (OpenAI for 1024x1024 low, not fal)', async () => {
    const { result, lines, sent } = await run('cheapest', rows(4, ['fal', 'openai']));
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    expect(lines.map((line) => line.provider)).toEqual(['openai', 'openai', 'openai', 'openai']);
    expect(lines.every((line) => Array.isArray(line.hosts_tried) && line.hosts_tried.length === 0)).toBe(
      true,
    );
    expect(sent('openai')).toBe(4);
    expect(sent('fal')).toBe(0);
  });

  it('moves rows off a host whose key is revoked (401) to the next candidate: each paid once, the first host named', async () => {
    suite.simulator().injectFaults([{ provider: 'openai', status: 401, times: 100 }]);
    const { result, lines, sent } = await run('revoked', rows(5, ['openai', 'fal']));
    expect(result.stdout + result.stderr).toMatch(/5 completed, 0 failed, 0 pending/);
    expect(lines).toHaveLength(5);
    for (const line of lines) {
      expect(line).toMatchObject({ status: 'completed', provider: 'fal' });
    }
    // Every row that reached OpenAI (or waited on it when its queue was paused for the 401) says so, with why it
    // left.
    const left = lines.flatMap((line) => line.hosts_tried ?? []);
    expect(
      left.every((host) => host.provider === 'openai' && /authentication failed/.test(host.reason)),
    ).toBe(true);
    expect(sent('openai')).toBeGreaterThan(0);
    expect(left.length).toBeGreaterThanOrEqual(sent('openai'));
    // fal made each row once; OpenAI billed nothing (401s).
    expect(sent('fal')).toBe(5);
    expect(new Set(lines.map((line) => line.row_key)).size).toBe(5);
    // status names each host's part, and the host set aside with why.
    const status = await runCliInProcess(['status', 'revoked'], suite.environment());
    expect(status.stdout).toMatch(/fal\s+5 routed\s+5 images/);
    expect(status.stdout).toMatch(
      /openai\s+\d+ routed\s+0 images.*set aside: paused for its account — authentication failed/,
    );
    const json = JSON.parse(
      (await runCliInProcess(['status', 'revoked', '--json'], suite.environment())).stdout,
    ) as { hosts: Array<{ provider: string; routedRows: number; setAside?: string }> };
    expect(json.hosts.find((host) => host.provider === 'fal')).toMatchObject({ routedRows: 5 });
  });

  it('rejects a row no candidate can make, naming each host and why', async () => {
    const manifest = await writeManifest(await manifestFolder(), 'nohost.jsonl', [
      jsonLine({
        id: 'masked',
        provider: ['replicate', 'wavespeed'],
        prompt: 'edit the sky',
        image_urls: ['images/garden.jpg'],
        mask_url: 'images/garden-sky-mask.png',
      }),
      jsonLine({ id: 'unknown', provider: 'openai|midjourney', prompt: 'p' }),
    ]);
    const estimate = await runCliInProcess(['estimate', manifest], suite.environment());
    expect(estimate.stdout).toMatch(
      /nohost\.jsonl:1 \[provider\]: provider: no candidate host can make this row — replicate: .*takes no mask \| wavespeed: .*takes no mask/,
    );
    expect(estimate.stdout).toMatch(/nohost\.jsonl:2 \[provider\]: provider: must be auto, or one of/);
  });

  it('estimate prints the plan: rows per host and the saving against the most expensive and the first-named host', async () => {
    const manifest = await writeManifest(
      await manifestFolder(),
      'plan.jsonl',
      rows(3, ['wavespeed', 'openai']).map(jsonLine),
    );
    const estimate = await runCliInProcess(['estimate', manifest], suite.environment());
    expect(estimate.stdout).toMatch(/openai\s+standard\s+3\s+\$/);
    expect(estimate.stdout).toMatch(
      /3 rows have several candidate hosts: \$0\.0178 on the cheapest of each — saves \$0\.1622 against all on wavespeed \(the most expensive single host\); saves \$0\.1622 against the first host each names\./,
    );
  });

  it('--max-premium bounds what fastest pays: with 0 %, every row goes to the cheapest host', async () => {
    const { result, lines, sent } = await run('premium', rows(8, ['openai', 'wavespeed']), [
      '--route',
      'fastest',
      '--max-premium',
      '0',
    ]);
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    expect(lines.map((line) => line.provider)).toEqual(Array.from({ length: 8 }, () => 'openai'));
    expect(sent('wavespeed')).toBe(0);
  });

  it('fastest spreads rows over the hosts in proportion to their rate limits (1:3); each line names the host that made it', async () => {
    // Limits low enough that rows wait on the hosts, as under load: 1 and 3 requests a second.
    const { result, lines, sent } = await run('spread', rows(8, ['openai', 'fal']), ['--route', 'fastest'], {
      OPENAI_REQUESTS_PER_MINUTE: '60',
      FAL_REQUESTS_PER_MINUTE: '180',
    });
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    expect(sent('openai')).toBe(2);
    expect(sent('fal')).toBe(6);
    expect(lines.filter((line) => line.provider === 'fal')).toHaveLength(6);
  });

  it('a row may pick its own policy (route: fastest) over the batch default', async () => {
    const spread = rows(10, 'auto').map((row) => ({ ...row, route: 'fastest' }));
    const { result, lines } = await run('own-policy', spread);
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    // Five hosts of equal capacity here: the ten rows use all five (the cheapest policy would send all to one).
    expect(new Set(lines.map((line) => line.provider)).size).toBe(5);
    expect(lines).toHaveLength(10);
  });
});
