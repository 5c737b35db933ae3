/**
 * Several accounts of one host (issue 25): each account (`OPENAI_API_KEY`, `OPENAI_API_KEY_2`) is a candidate of its
 * own, with its own queue, limits and health: rows for the host spread over its accounts, and a key that fails is set
 * aside with its reason while the other account goes on — each row paid once.
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
const SECOND_KEY = 'sk-second-account';
afterEach(() => suite.simulator().clearFaults());

/** Run `count` OpenAI rows with two OpenAI accounts; what each key was sent, and what each row's line says. */
async function runOnTwoAccounts(
  batch: string,
  count: number,
  environment: Record<string, string> = {},
  extra: string[] = [],
) {
  suite.simulator().acceptKey(SECOND_KEY);
  const rows = Array.from({ length: count }, (_, index) => ({
    id: `r${index}`,
    provider: 'openai',
    prompt: `${batch}: a paper boat number ${index} on a pond`,
    quality: 'low',
  }));
  const manifest = await writeManifest(await manifestFolder(), `${batch}.jsonl`, rows.map(jsonLine));
  const out = await temporaryDirectory();
  const since = suite.simulator().recordedRequests.length;
  const result = await runCliInProcess(
    ['run', manifest, '--out', out, '--batch', batch, ...extra],
    suite.environment({ OPENAI_API_KEY_2: SECOND_KEY, ...environment }),
  );
  const lines = await readJsonLines<ResultLine>(path.join(out, batch, 'results.jsonl')).catch(() => []);
  const submissions = suite
    .simulator()
    .recordedRequests.slice(since)
    .filter((request) => request.method === 'POST' && request.path.startsWith('/v1/images/'));
  const byKey = (key: string, status?: number) =>
    submissions.filter(
      (request) =>
        request.headers.authorization === `Bearer ${key}` &&
        (status === undefined || request.status === status),
    );
  return { result, lines, byKey };
}

describe('several accounts of one host', () => {
  it('spreads the rows of one host over its accounts, each line naming the account that made it', async () => {
    const { result, lines, byKey } = await runOnTwoAccounts('two-accounts', 8, {
      OPENAI_REQUESTS_PER_MINUTE: '120',
      OPENAI_REQUESTS_PER_MINUTE_2: '120',
    });
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    expect(lines).toHaveLength(8);
    const first = lines.filter((line) => line.account === 1).length;
    const second = lines.filter((line) => line.account === 2).length;
    expect(first + second).toBe(8);
    expect(first).toBeGreaterThan(0);
    expect(second).toBeGreaterThan(0);
    // Each account's key was sent exactly the rows its lines name: one paid call per row.
    expect(byKey('sk-test', 200)).toHaveLength(first);
    expect(byKey(SECOND_KEY, 200)).toHaveLength(second);
    expect(lines.every((line) => line.provider === 'openai' && line.status === 'completed')).toBe(true);
  });

  it("holds an account to its share of the batch's budget cap; the other account makes the rest", async () => {
    // The first account may spend 10 % of the $0.10 cap, one row at a time (so no second row is in flight on it).
    const { result, lines } = await runOnTwoAccounts(
      'budget-share',
      6,
      { OPENAI_BUDGET_SHARE: '10', OPENAI_BUDGET_SHARE_2: '100', OPENAI_CONCURRENCY: '1' },
      ['--budget-usd', '0.1'],
    );
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    expect(lines.filter((line) => line.status === 'completed')).toHaveLength(6);
    const firstSpent = lines
      .filter((line) => line.account === 1)
      .reduce((sum, line) => sum + line.cost_usd, 0);
    expect(firstSpent).toBeLessThanOrEqual(0.01 + 1e-9);
    expect(lines.filter((line) => line.account === 2).length).toBeGreaterThanOrEqual(
      6 - Math.floor(0.01 / lines[0]!.cost_usd),
    );
    // A row the first account could not take within its share left it unsent, saying why.
    const left = lines.flatMap((line) => line.hosts_tried ?? []);
    expect(left.length).toBeGreaterThan(0);
    expect(left.every((host) => host.provider === 'openai' && /budget share is used/.test(host.reason))).toBe(
      true,
    );
  });

  it('sets a revoked key aside with its reason; the other account makes every row, each paid once', async () => {
    suite.simulator().revokeKey('sk-test');
    try {
      const { result, lines, byKey } = await runOnTwoAccounts('revoked-account', 6);
      expect(result.stdout + result.stderr).toMatch(/6 completed, 0 failed, 0 pending/);
      expect(lines).toHaveLength(6);
      for (const line of lines)
        expect(line).toMatchObject({ status: 'completed', provider: 'openai', account: 2 });
      // The revoked key billed nothing; every row that reached it (or waited for it when it was set aside) says so,
      // and left it for the other account.
      expect(byKey('sk-test', 200)).toHaveLength(0);
      expect(byKey('sk-test', 401).length).toBeGreaterThan(0);
      const left = lines.flatMap((line) => line.hosts_tried ?? []);
      expect(left.length).toBeGreaterThanOrEqual(byKey('sk-test', 401).length);
      expect(
        left.every((host) => host.provider === 'openai' && /authentication failed/.test(host.reason)),
      ).toBe(true);
      expect(byKey(SECOND_KEY, 200)).toHaveLength(6);
      const status = await runCliInProcess(
        ['status', 'revoked-account'],
        suite.environment({ OPENAI_API_KEY_2: SECOND_KEY }),
      );
      expect(status.stdout).toMatch(/openai@2\s+6 routed\s+6 images/);
      expect(status.stdout).toMatch(/openai\s+\d+ routed\s+0 images.*set aside: paused for its account/);
    } finally {
      suite.simulator().acceptKey('sk-test');
    }
  });
});
