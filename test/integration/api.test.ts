/**
 * The HTTP API (docs/api.md) served by the dashboard: a manifest posted with bad rows (its rejects with their lines,
 * its estimate), posted again (the same batch, nothing enqueued twice), run by workers the library started, its
 * status and results; the canary approved, a batch paused and resumed, failed rows retried only within a price; API
 * tokens (missing, wrong, right — never logged); every answer checked against the served OpenAPI document.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDashboard, type Dashboard } from '../../src/dashboard/server.js';
import { ImageBatch } from '../../src/library/image-batch.js';
import type { WorkerPool } from '../../src/worker/worker-pool.js';
import { loadConfig } from '../../src/providers/configuration.js';
import { ProviderSimulator } from '../../src/simulator/server.js';
import { removeTemporaryDirectories, temporaryDirectory } from '../helpers/files.js';
import { openApiChecker } from '../helpers/openapi.js';
import { deleteKeysWithPrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { simulatorEnvironment } from '../helpers/simulator-environment.js';

const TOKENS = ['first-token-7f3a9c2e5b1d4086', 'second-token-0e8d6b4a2c9f1735'];
const prefix = uniquePrefix();
let simulator: ProviderSimulator;
let redis: Redis;
let dashboard: Dashboard;
let images: ImageBatch;
let workers: WorkerPool;
let checker: ReturnType<typeof openApiChecker>;
let logged = '';
let outputRoot: string;

/** Every file under `folder`, relative to it (none when it does not exist). */
async function filesUnder(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(folder, path.join(entry.parentPath, entry.name)));
}

beforeAll(async () => {
  simulator = new ProviderSimulator({ apiKey: 'sk-test' });
  await simulator.start();
  const config = loadConfig({
    REDIS_URL: redisUrl(),
    IMAGE_BATCH_QUEUE_PREFIX: prefix,
    ...simulatorEnvironment(simulator.url, 'sk-test'),
    IMAGE_BATCH_BACKOFF_MS: '50',
    IMAGE_BATCH_API_TOKENS: TOKENS.join(','),
    IMAGE_BATCH_OUTPUT_ROOT: (outputRoot = await temporaryDirectory()),
    IMAGE_BATCH_API_MAX_MANIFEST_BYTES: '200000',
    // The manifest server below listens on 127.0.0.1: allowed by address, not by the name `localhost`.
    IMAGE_BATCH_ALLOWED_PRIVATE_HOSTS: '127.0.0.1',
  });
  const sink = new Writable({
    write: (chunk: Buffer, _encoding, done) => void ((logged += chunk.toString()), done()),
  });
  const log = pino({ level: 'debug' }, sink);
  redis = new Redis(redisUrl());
  dashboard = await startDashboard({ config, redis, log, host: '127.0.0.1', port: 0, readOnly: false });
  images = new ImageBatch({ config, log });
  workers = await images.startWorkers({ providers: ['openai', 'fal'] });
  checker = openApiChecker(
    (await (await fetch(`${dashboard.url}/api/openapi.json`)).json()) as Record<string, unknown>,
  );
});
afterAll(async () => {
  await workers?.close();
  await images?.close();
  await dashboard?.close();
  redis?.disconnect();
  await simulator?.stop();
  await deleteKeysWithPrefix(prefix);
  await removeTemporaryDirectories();
});

/** A request to the API: with the first token unless `token` says otherwise (null: none). */
async function call(
  method: string,
  path: string,
  options: { token?: string | null; body?: string; type?: string } = {},
): Promise<{ status: number; body: unknown; text: string }> {
  const token = options.token === undefined ? TOKENS[0] : options.token;
  const response = await fetch(`${dashboard.url}${path}`, {
    method,
    headers: {
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      ...(options.type === undefined ? {} : { 'content-type': options.type }),
    },
    ...(options.body === undefined ? {} : { body: options.body }),
  });
  const text = await response.text();
  const json = (response.headers.get('content-type') ?? '').startsWith('application/json');
  return { status: response.status, body: json ? JSON.parse(text) : text, text };
}

/** `call`, its answer checked against the OpenAPI document (path as a template). */
async function checked(
  method: string,
  template: string,
  path: string,
  options: Parameters<typeof call>[2] = {},
) {
  const answer = await call(method, path, options);
  expect(answer.status, answer.text).toBeLessThan(500);
  expect(checker.problems(method.toLowerCase(), template, answer.status, answer.body), answer.text).toEqual(
    [],
  );
  return answer as { status: number; body: Record<string, unknown>; text: string };
}

async function until(batchId: string, states: string[]): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { body } = await checked('GET', '/api/batches/{id}', `/api/batches/${batchId}`);
    if (states.includes(body.state as string)) return body;
    if (Date.now() > deadline) throw new Error(`batch ${batchId} stayed ${String(body.state)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const CSV = [
  'id,prompt,resolution,provider',
  'lamp,"A brass lamp on a desk",1024x1024,openai',
  'chair,"A wooden chair, studio light",1024x1024,openai',
  'huge,"Too big",99999x99999,openai',
  'stray,"quote"x,1024x1024,openai',
].join('\n');

describe('the HTTP API', () => {
  it('prices a manifest without keeping it, and names its bad rows by line', async () => {
    const estimate = await checked('POST', '/api/estimates', '/api/estimates?name=priced', {
      body: CSV,
      type: 'text/csv',
    });
    expect(estimate.status).toBe(200);
    expect(estimate.body).toMatchObject({ rows_read: 4, rejected: 2 });
    const lines = (estimate.body.reject_samples as Array<{ line: number }>).map((reject) => reject.line);
    expect(lines.sort()).toEqual([4, 5]);
    // Nothing of the estimate is left in the spool: no batch was started from it.
    expect(await filesUnder(path.join(outputRoot, '.manifests'))).toEqual([]);
  });

  it('starts a batch from a CSV with bad rows, finds it again for the same CSV, and runs it to its results', async () => {
    const first = await checked('POST', '/api/batches', '/api/batches?name=catalogue&budget_usd=2', {
      body: CSV,
      type: 'text/csv',
    });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ created: true, rows_read: 4, enqueued: 2, rejected: 2 });
    const batchId = first.body.batch_id as string;
    expect(batchId).toMatch(/^catalogue-[0-9a-f]{8}$/);
    const samples = first.body.reject_samples as Array<{ line: number; field: string | null; code: string }>;
    expect(samples.map((sample) => sample.line)).toEqual([4, 5]);
    expect(samples[1]!.code).toBe('csv_stray_quote');
    expect((first.body.estimate as { cost_usd: number }).cost_usd).toBeGreaterThan(0);

    const again = await checked('POST', '/api/batches', '/api/batches?name=catalogue&budget_usd=2', {
      body: CSV,
      type: 'text/csv',
    });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ batch_id: batchId, created: false, enqueued: 0, already_enqueued: 2 });

    const finished = await until(batchId, ['finished']);
    expect(finished).toMatchObject({ completed: 2, failed: 0, rejected: 2, budget_usd: 2 });
    expect(finished.estimate_usd as number).toBeGreaterThan(0);
    const results = await call('GET', `/api/batches/${batchId}/results`);
    expect(results.status).toBe(200);
    const lines = results.text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { row_key: string; status: string });
    expect(lines.map((line) => `${line.row_key} ${line.status}`).sort()).toEqual([
      'chair completed',
      'lamp completed',
    ]);
    const rejects = await call('GET', `/api/batches/${batchId}/rejects`);
    expect(
      rejects.text
        .trim()
        .split('\n')
        .map((line) => (JSON.parse(line) as { line: number }).line),
    ).toEqual([4, 5]);
    // Enqueued twice, paid once.
    expect(simulator.submissionsByPrompt.get('A brass lamp on a desk')).toBe(1);
  });

  it('approves a canary, pauses and resumes, and retries failed rows only within the price given', async () => {
    const rows = ['a', 'b', 'c'].map((id) =>
      JSON.stringify({ id, prompt: `canary row ${id}`, provider: 'fal' }),
    );
    const posted = await checked('POST', '/api/batches', '/api/batches?name=held&canary=1', {
      body: `${rows.join('\n')}\n`,
      type: 'application/x-ndjson',
    });
    const batchId = posted.body.batch_id as string;
    expect(posted.body.canary).toMatchObject({ size: 1, held: 2 });
    await until(batchId, ['awaiting_approval']);
    const approved = await checked('POST', '/api/batches/{id}/approve', `/api/batches/${batchId}/approve`);
    expect(approved.body).toMatchObject({ released: 2 });
    expect(await until(batchId, ['finished'])).toMatchObject({ completed: 3 });

    const refused = JSON.stringify({
      id: 'no',
      prompt: '[simulate:refuse] a refused row',
      provider: 'openai',
    });
    const failing = await checked('POST', '/api/batches', '/api/batches?name=refused', {
      body: `${refused}\n`,
      type: 'application/x-ndjson',
    });
    const failingId = failing.body.batch_id as string;
    const paused = await checked('POST', '/api/batches/{id}/pause', `/api/batches/${failingId}/pause`);
    expect(['paused', 'finished']).toContain(paused.body.state);
    await checked('POST', '/api/batches/{id}/resume', `/api/batches/${failingId}/resume`);
    expect(await until(failingId, ['finished'])).toMatchObject({ failed: 1 });
    const plan = await checked(
      'GET',
      '/api/batches/{id}/retry-failed',
      `/api/batches/${failingId}/retry-failed`,
    );
    expect(plan.body).toMatchObject({ rows: 1, blocked_reason: null });
    const price = plan.body.estimate_usd as number;
    expect(price).toBeGreaterThan(0);
    const path = `/api/batches/${failingId}/retry-failed`;
    const tooDear = await checked('POST', '/api/batches/{id}/retry-failed', path, {
      body: JSON.stringify({ max_usd: price / 2 }),
      type: 'application/json',
    });
    expect(tooDear.status).toBe(409);
    const retried = await checked('POST', '/api/batches/{id}/retry-failed', path, {
      body: JSON.stringify({ max_usd: price }),
      type: 'application/json',
    });
    expect(retried.body).toMatchObject({ retried: 1 });
  });

  it('starts a batch at a priority and weight, and changes its priority while it runs', async () => {
    const rows = ['p', 'q'].map((id) =>
      JSON.stringify({ id, prompt: `priority row ${id}`, provider: 'openai' }),
    );
    const posted = await checked(
      'POST',
      '/api/batches',
      '/api/batches?name=later&priority=background&weight=2',
      {
        body: `${rows.join('\n')}\n`,
        type: 'application/x-ndjson',
      },
    );
    const batchId = posted.body.batch_id as string;
    const before = await checked('GET', '/api/batches/{id}', `/api/batches/${batchId}`);
    expect(before.body.priority).toEqual({ level: 9, name: 'background', weight: 2 });
    const changed = await checked('POST', '/api/batches/{id}/priority', `/api/batches/${batchId}/priority`, {
      body: JSON.stringify({ priority: 'urgent' }),
      type: 'application/json',
    });
    expect(changed.body).toMatchObject({ batch_id: batchId, priority: 1 });
    const after = await checked('GET', '/api/batches/{id}', `/api/batches/${batchId}`);
    expect(after.body.priority).toEqual({ level: 1, name: 'urgent', weight: 2 });
    const bad = await checked('POST', '/api/batches/{id}/priority', `/api/batches/${batchId}/priority`, {
      body: JSON.stringify({ priority: 'soonish' }),
      type: 'application/json',
    });
    expect(bad.status).toBe(400);
    expect(await until(batchId, ['finished'])).toMatchObject({ completed: 2 });
  });

  it('writes sidecars and reuses earlier outputs when asked (sidecar=true, reuse=true)', async () => {
    const rows = ['s', 't'].map((id) =>
      JSON.stringify({ id, prompt: `api reuse row ${id}`, provider: 'openai' }),
    );
    const body = `${rows.join('\n')}\n`;
    const type = 'application/x-ndjson';
    const first = await checked('POST', '/api/batches', '/api/batches?name=once&sidecar=true', {
      body,
      type,
    });
    const done = await until(first.body.batch_id as string, ['finished']);
    const [line] = (await readFile(path.join(done.output as string, 'results.jsonl'), 'utf8')).split('\n');
    const image = (JSON.parse(line!) as { outputs: Array<{ path: string }> }).outputs[0]!.path;
    const sidecar = JSON.parse(
      await readFile(path.join(done.output as string, `${image}.json`), 'utf8'),
    ) as object;
    expect(sidecar).toMatchObject({ image, derivative: false, batch: first.body.batch_id });
    const paid = simulator.submissionsByPrompt.get('api reuse row s');
    const again = await checked('POST', '/api/batches', '/api/batches?name=twice&reuse=true', { body, type });
    expect(await until(again.body.batch_id as string, ['finished'])).toMatchObject({ completed: 2 });
    expect(simulator.submissionsByPrompt.get('api reuse row s')).toBe(paid);
  });

  it('refuses a missing or wrong token, a bad option, an unknown type and a manifest over the limit', async () => {
    const body = 'id,prompt\nx,"a token test"\n';
    const missing = await checked('POST', '/api/batches', '/api/batches', {
      token: null,
      body,
      type: 'text/csv',
    });
    expect(missing.status).toBe(401);
    const wrong = await checked('POST', '/api/batches', '/api/batches', {
      token: 'nope',
      body,
      type: 'text/csv',
    });
    expect(wrong.status).toBe(401);
    expect((await call('GET', '/api/batches/anything', { token: `${TOKENS[0]}x` })).status).toBe(401);
    expect((await call('GET', '/api/batches/anything', { token: TOKENS[1]! })).status).toBe(404);
    const invalid = await checked('POST', '/api/batches', '/api/batches?budget_usd=-3&colour=red', {
      body,
      type: 'text/csv',
    });
    expect(invalid.status).toBe(400);
    expect((invalid.body.issues as Array<{ field: string }>).map((issue) => issue.field).sort()).toEqual([
      '(body)',
      'budget_usd',
    ]);
    // A batch named like one of the dashboard's own paths could never be opened there.
    const reserved = await checked('POST', '/api/batches', '/api/batches?batch_id=new', {
      body,
      type: 'text/csv',
    });
    expect(reserved.status).toBe(400);
    expect(reserved.body.issues).toEqual([expect.objectContaining({ field: 'batch_id' })]);
    expect((await call('GET', '/api/batches/new')).status).toBe(404);
    expect((await call('POST', '/api/batches', { body, type: 'image/png' })).status).toBe(415);
    const big = `id,prompt\n${'r,"padding padding padding padding"\n'.repeat(8000)}`;
    const tooBig = await checked('POST', '/api/batches', '/api/batches', { body: big, type: 'text/csv' });
    expect(tooBig.status).toBe(413);
    const location = await checked('POST', '/api/batches', '/api/batches', {
      body: JSON.stringify({ manifest: '/etc/passwd' }),
      type: 'application/json',
    });
    expect(location.status).toBe(400);
    for (const token of TOKENS) expect(logged).not.toContain(token);
  });

  it('reads a manifest from a URL it may fetch, refuses one on a private address, and files the batch under out', async () => {
    const served = `${JSON.stringify({ id: 'u1', prompt: 'a row from a URL', provider: 'openai' })}\n`;
    const server = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/x-ndjson' }).end(served);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      const fetched = await checked('POST', '/api/batches', '/api/batches?name=fetched&out=team/december', {
        body: JSON.stringify({ manifest: `http://127.0.0.1:${port}/rows.jsonl` }),
        type: 'application/json',
      });
      expect(fetched.status, fetched.text).toBe(201);
      const finished = await until(fetched.body.batch_id as string, ['finished']);
      expect(finished).toMatchObject({ completed: 1 });
      expect(finished.output as string).toMatch(/team\/december\/fetched-[0-9a-f]{8}$/);
      const refused = await checked('POST', '/api/batches', '/api/batches', {
        body: JSON.stringify({ manifest: `http://localhost:${port}/rows.jsonl` }),
        type: 'application/json',
      });
      expect(refused.status).toBe(400);
      expect(refused.body.error).toMatch(/loopback/);
      const escape = await checked('POST', '/api/batches', '/api/batches?out=../elsewhere', {
        body: served,
        type: 'application/x-ndjson',
      });
      expect(escape.status).toBe(400);
    } finally {
      server.close();
    }
  });
});
