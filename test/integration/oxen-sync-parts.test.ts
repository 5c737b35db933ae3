/**
 * Oxen.ai in sync mode: gpt-image-2's blocking endpoints take no `num_images`, so a row of several images is made in
 * as many calls, each image stored as its call returns; a retry goes on from the next image (the stored ones are not
 * paid again), and a call sent without an answer ends the row as an uncertain outcome without sending it again.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ResultLine } from '../../src/shared/job-definitions.js';
import { runCliInProcess } from '../helpers/cli.js';
import { temporaryDirectory } from '../helpers/files.js';
import { jsonLine, manifestFolder, writeManifest } from '../helpers/manifests.js';
import { readJsonLines } from '../helpers/results.js';
import { simulatorSuite } from '../helpers/simulator-suite.js';

const suite = simulatorSuite();

async function runSync(batch: string, extra: Record<string, string> = {}) {
  const manifest = await writeManifest(await manifestFolder(), `${batch}.jsonl`, [
    jsonLine({ id: 'three', provider: 'oxen', prompt: 'three foxes', num_images: 3, quality: 'low' }),
  ]);
  const out = await temporaryDirectory();
  const before = suite.simulator().submissionsByProvider.get('oxen') ?? 0;
  const result = await runCliInProcess(
    ['run', manifest, '--out', out, '--batch', batch],
    suite.environment({ OXEN_MODE: 'sync', ...extra }),
  );
  const lines = await readJsonLines<ResultLine>(path.join(out, batch, 'results.jsonl'));
  const submissions = (suite.simulator().submissionsByProvider.get('oxen') ?? 0) - before;
  return { result, line: lines[0]!, submissions };
}

describe('Oxen.ai sync rows of several images', () => {
  it('are made in one call per image, each stored, with every call named in request_id', async () => {
    const { result, line, submissions } = await runSync('parts');
    expect(result.exitCode).toBe(0);
    expect(submissions).toBe(3);
    expect(line.status).toBe('completed');
    expect(line.outputs.map((output) => output.path)).toEqual([
      'images/three-1.png',
      'images/three-2.png',
      'images/three-3.png',
    ]);
    expect(line.request_id?.split(',')).toHaveLength(3);
  });

  it('go on from the next image after a failed call: the stored ones are not paid for again', async () => {
    suite.simulator().injectFaults([{ provider: 'oxen', status: 500, after: 1 }]);
    const { result, line, submissions } = await runSync('parts-retry');
    expect(result.exitCode).toBe(0);
    expect(line).toMatchObject({ status: 'completed', attempts: 2 });
    expect(line.outputs).toHaveLength(3);
    // 3 images and the one call answered 500: image 1 was not made again on the second attempt.
    expect(submissions).toBe(4);
  });

  it('end as uncertain_outcome when a call got no answer, sending it never again', async () => {
    suite.simulator().injectFaults([{ provider: 'oxen', hang: true, after: 1 }]);
    const { result, line, submissions } = await runSync('parts-hang', { OXEN_TIMEOUT_MS: '1500' });
    expect(result.exitCode).toBe(1);
    expect(line.status).toBe('failed');
    expect(line.error?.code).toBe('uncertain_outcome');
    expect(line.error?.message).toMatch(/image 2 of this row may have been made and billed/);
    expect(submissions).toBe(2);
  });
});
