/**
 * Provenance (issue 31): every stored original is the host's bytes, unchanged, on each host's path and on S3; the C2PA
 * manifest each image carries is read and summed up in its results line — valid, tampered with (invalid), missing, and
 * trusted once its signer's root is a configured trust anchor.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResultLine } from '../../src/shared/job-definitions.js';
import { makeTestSigningIdentity, type TestSigningIdentity } from '../helpers/c2pa-identity.js';
import { runCliInProcess, runCliProcess } from '../helpers/cli.js';
import { temporaryDirectory } from '../helpers/files.js';
import { jsonLine, manifestFolder, writeManifest } from '../helpers/manifests.js';
import { readObject, startObjectStorage, type ObjectStorage } from '../helpers/object-storage.js';
import { startReadOnlyDashboard } from '../helpers/read-only-dashboard.js';
import { resultLines } from '../helpers/results.js';
import { simulatorSuite } from '../helpers/simulator-suite.js';

let signing: TestSigningIdentity;
const suite = simulatorSuite(async () => {
  signing = await makeTestSigningIdentity();
  return { c2pa: signing.identity };
});
let storage: ObjectStorage;
beforeAll(async () => {
  storage = await startObjectStorage();
});
afterAll(async () => {
  await storage.stop();
});

const HOSTS = ['oxen', 'fal', 'openai', 'replicate', 'wavespeed'] as const;
const TRAINED = 'http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia';

/** A manifest of one row per host (and `extra` rows), prompts `<tag> <host>`. */
async function rowsOnEveryHost(tag: string, extra: Array<Record<string, unknown>> = []): Promise<string> {
  const rows = [
    ...HOSTS.map((provider) => ({ id: provider, provider, prompt: `${tag} ${provider}`, quality: 'low' })),
    ...extra,
  ];
  return writeManifest(await manifestFolder(), `${tag}.jsonl`, rows.map(jsonLine));
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

describe('provenance of stored outputs', () => {
  it('stores each host’s bytes unchanged and reads their C2PA manifest: valid, tampered, missing', async () => {
    const tag = `prov-${suite.prefix()}`;
    const manifest = await rowsOnEveryHost(tag, [
      {
        id: 'tampered',
        provider: 'openai',
        prompt: `${tag} edited [simulate:c2pa-tampered]`,
        quality: 'low',
      },
      { id: 'unsigned', provider: 'fal', prompt: `${tag} plain [simulate:c2pa-unsigned]`, quality: 'low' },
      { id: 'jpeg', provider: 'openai', prompt: `${tag} jpeg`, quality: 'low', output_format: 'jpeg' },
      { id: 'batch-api', provider: 'openai', prompt: `${tag} batch`, quality: 'low', delivery: 'batch' },
    ]);
    const out = await temporaryDirectory();
    const run = await runCliInProcess(
      ['run', manifest, '--out', out, '--batch', 'prov'],
      suite.environment(),
    );
    expect(run.stdout, run.stdout + run.stderr).toMatch(/9 completed, 0 failed/);
    const lines = new Map((await resultLines(out, 'prov')).map((line) => [line.row_key, line]));
    for (const key of [...HOSTS, 'jpeg', 'batch-api', 'tampered', 'unsigned']) {
      const line = lines.get(key)!;
      const [output] = line.outputs;
      const stored = await readFile(path.join(out, 'prov', output!.path));
      // Byte for byte what the host delivered: the results line's digest, the file's and the host's agree.
      expect(sha256(stored), key).toBe(output!.sha256);
      expect(suite.simulator().deliveredSha256ByPrompt.get(line.prompt), key).toEqual([output!.sha256]);
    }
    for (const key of [...HOSTS, 'jpeg', 'batch-api']) {
      expect(lines.get(key)!.outputs[0]!.c2pa, key).toEqual({
        state: 'valid',
        failure_codes: ['signingCredential.untrusted'],
        claim_generator: 'image-batch provider simulator 1',
        signer: 'Simulated image host (image-batch simulator)',
        digital_source_type: TRAINED,
      });
    }
    const tampered = lines.get('tampered')!.outputs[0]!.c2pa!;
    expect(tampered.state).toBe('invalid');
    expect(tampered.failure_codes).toContain('assertion.dataHash.mismatch');
    expect(tampered.signer).toBe('Simulated image host (image-batch simulator)');
    expect(lines.get('unsigned')!.outputs[0]!.c2pa).toEqual({
      state: 'missing',
      failure_codes: [],
      claim_generator: null,
      signer: null,
      digital_source_type: null,
    });
  });

  it('says trusted when the signer chains to a trust anchor given in IMAGE_BATCH_C2PA_TRUST_ANCHORS', async () => {
    const tag = `trust-${suite.prefix()}`;
    const manifest = await writeManifest(await manifestFolder(), `${tag}.jsonl`, [
      jsonLine({ id: 'a', provider: 'oxen', prompt: `${tag} a`, quality: 'low' }),
    ]);
    const out = await temporaryDirectory();
    const run = await runCliInProcess(
      ['run', manifest, '--out', out, '--batch', 'trusted'],
      suite.environment({ IMAGE_BATCH_C2PA_TRUST_ANCHORS: signing.trustAnchorPath }),
    );
    expect(run.stdout, run.stdout + run.stderr).toMatch(/1 completed, 0 failed/);
    const [line] = await resultLines(out, 'trusted');
    expect(line!.outputs[0]!.c2pa).toMatchObject({ state: 'trusted', failure_codes: [] });
  });

  it('--sidecar writes <image>.json beside each image, with what made it and its provenance', async () => {
    const tag = `sidecar-${suite.prefix()}`;
    const manifest = await writeManifest(await manifestFolder(), `${tag}.jsonl`, [
      jsonLine({ id: 'pair', provider: 'openai', prompt: `${tag} pair`, quality: 'low', num_images: 2 }),
      jsonLine({ id: 'plain', provider: 'fal', prompt: `${tag} plain`, quality: 'low' }),
    ]);
    const out = await temporaryDirectory();
    const run = await runCliInProcess(
      ['run', manifest, '--out', out, '--batch', 'sidecars', '--sidecar'],
      suite.environment(),
    );
    expect(run.stdout, run.stdout + run.stderr).toMatch(/2 completed, 0 failed/);
    const lines = await resultLines(out, 'sidecars');
    expect(lines.flatMap((line) => line.outputs)).toHaveLength(3);
    for (const line of lines) {
      for (const output of line.outputs) {
        const sidecar = JSON.parse(
          await readFile(path.join(out, 'sidecars', `${output.path}.json`), 'utf8'),
        ) as Record<string, unknown>;
        expect(sidecar).toEqual({
          image: output.path,
          derivative: false,
          batch: 'sidecars',
          row_key: line.row_key,
          prompt: line.prompt,
          operation: 'generate',
          model: line.model,
          host: line.provider,
          request_id: line.request_id,
          created: line.finished_at,
          cost_usd: line.cost_usd,
          width: output.width,
          height: output.height,
          bytes: output.bytes,
          sha256: output.sha256,
          c2pa: output.c2pa,
          reused_from: null,
        });
        expect(line.request_id).not.toBeNull();
        expect((sidecar.c2pa as { state: string }).state).toBe('valid');
      }
    }
    // Without --sidecar there are none.
    const plainOut = await temporaryDirectory();
    await runCliInProcess(['run', manifest, '--out', plainOut, '--batch', 'bare'], suite.environment());
    const [bare] = await resultLines(plainOut, 'bare');
    await expect(readFile(path.join(plainOut, 'bare', `${bare!.outputs[0]!.path}.json`))).rejects.toThrow(
      /ENOENT/,
    );
  });

  it('report and the batch page count images by provenance', async () => {
    const tag = `count-${suite.prefix()}`;
    const manifest = await writeManifest(await manifestFolder(), `${tag}.jsonl`, [
      jsonLine({ id: 'a', provider: 'openai', prompt: `${tag} a`, quality: 'low', num_images: 2 }),
      jsonLine({ id: 'b', provider: 'fal', prompt: `${tag} b [simulate:c2pa-tampered]`, quality: 'low' }),
      jsonLine({ id: 'c', provider: 'oxen', prompt: `${tag} c [simulate:c2pa-unsigned]`, quality: 'low' }),
    ]);
    const out = await temporaryDirectory();
    await runCliInProcess(['run', manifest, '--out', out, '--batch', 'counted'], suite.environment());
    const report = await runCliInProcess(['report', 'counted'], suite.environment());
    expect(report.stdout, report.stdout + report.stderr).toContain(
      'provenance (C2PA) of the images: 2 valid, 1 invalid, 1 missing',
    );
    const json = await runCliInProcess(['report', 'counted', '--format', 'json'], suite.environment());
    expect((JSON.parse(json.stdout) as { provenance: unknown }).provenance).toEqual({
      valid: 2,
      invalid: 1,
      missing: 1,
    });
    const board = await startReadOnlyDashboard(suite.environment());
    try {
      const page = await (await fetch(`${board.url}/batches/counted`)).text();
      expect(page).toContain(
        '<table id="provenance"><tbody><tr><td>valid</td><td>2</td></tr><tr><td>invalid</td><td>1</td></tr><tr><td>missing</td><td>1</td></tr>',
      );
    } finally {
      await board.close();
    }
  });

  it('stores each host’s bytes unchanged on S3, and reads provenance from them', async () => {
    const tag = `s3prov-${suite.prefix()}`;
    const manifest = await rowsOnEveryHost(tag);
    const run = await runCliProcess(
      ['run', manifest, '--out', `s3://${storage.bucket}/runs`, '--batch', 's3prov'],
      suite.environment(storage.environment),
    );
    expect(run.stdout, run.stdout + run.stderr).toMatch(/5 completed, 0 failed/);
    const read = (key: string) => readObject(storage, `runs/s3prov/${key}`);
    for (const host of HOSTS) {
      const line = JSON.parse((await read(`results/${host}.json`)).toString('utf8')) as ResultLine;
      const output = line.outputs[0]!;
      expect(sha256(await read(output.path)), host).toBe(output.sha256);
      expect(suite.simulator().deliveredSha256ByPrompt.get(line.prompt), host).toEqual([output.sha256]);
      expect(output.c2pa?.state, host).toBe('valid');
    }
  });
});
