/**
 * The autoscaling signal (issue 27): `status --json` and the workers' `/metrics` say how many more workers the queued
 * work could use — none while a limit holds the host back, none once nothing waits — and the example KEDA manifest in
 * deploy/ scales workers on a metric image-batch serves.
 */
import { readFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { killSpawnedProcesses, runCliInProcess, spawnCli } from '../helpers/cli.js';
import { temporaryDirectory } from '../helpers/files.js';
import { providerManifest } from '../helpers/manifests.js';
import { freePort } from '../helpers/ports.js';
import { simulatorSuite } from '../helpers/simulator-suite.js';

const suite = simulatorSuite();
afterEach(() => {
  killSpawnedProcesses();
  suite.simulator().setLatency(0);
  suite.simulator().clearFaults();
});

interface Signal {
  workers: number;
  wantedWorkers: number;
  moreWorkers: number;
  hosts: Array<{ host: string; ready: number; active: number; heldBy?: string; wantedWorkers: number }>;
}

async function signalOf(batch: string, environment: Record<string, string>): Promise<Signal> {
  const result = await runCliInProcess(['status', batch, '--json'], environment);
  expect(result.exitCode, result.stderr).toBe(0);
  return (JSON.parse(result.stdout) as { autoscaling: Signal }).autoscaling;
}

/** Poll `read` every 100 ms until `check` holds (at most 40 s); returns the last value read. */
async function until<T>(read: () => Promise<T>, check: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 40_000;
  let value = await read();
  while (!check(value) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    value = await read();
  }
  return value;
}

describe('the autoscaling signal', () => {
  it('asks for more workers while ready rows wait under the host concurrency, and for none once done', async () => {
    suite.simulator().setLatency(1500);
    const manifest = await providerManifest('scale', 24, 'openai');
    const out = await temporaryDirectory();
    // 8 OpenAI jobs at once across all workers; this worker takes 2 of them.
    const environment = suite.environment({ OPENAI_CONCURRENCY: '8', OPENAI_REQUESTS_PER_MINUTE: '0' });
    const enqueued = await runCliInProcess(
      ['enqueue', manifest, '--out', out, '--batch', 'scale'],
      environment,
    );
    expect(enqueued.exitCode, enqueued.stderr).toBe(0);
    const waiting = await signalOf('scale', environment);
    // No worker yet: one is wanted (a worker of the default concurrency takes all 8 slots).
    expect(waiting).toMatchObject({ workers: 0, wantedWorkers: 1, moreWorkers: 1 });
    const port = await freePort();
    spawnCli(
      ['worker', '--provider', 'openai', '--concurrency', '2', '--metrics-port', String(port)],
      environment,
    );
    const busy = await until(
      () => signalOf('scale', environment),
      (signal) => signal.workers === 1 && signal.hosts.some((host) => host.active > 0),
    );
    // 8 slots could be filled, a worker offers 2: 4 workers, 3 more.
    expect(busy).toMatchObject({ workers: 1, wantedWorkers: 4, moreWorkers: 3 });
    const metrics = await until(
      async () => (await fetch(`http://127.0.0.1:${port}/metrics`).catch(() => undefined))?.text() ?? '',
      (text) => /image_batch_workers\{count="more"\} 3/.test(text),
    );
    expect(metrics).toMatch(/image_batch_workers\{count="wanted"\} 4/);
    const done = await until(
      () => signalOf('scale', environment),
      (signal) => signal.wantedWorkers === 0,
    );
    expect(done).toMatchObject({ wantedWorkers: 0, moreWorkers: 0 });
  });

  it('wants no more workers for a host held back by its Retry-After, only the one that waits it out', async () => {
    suite.simulator().injectFaults([{ provider: 'openai', status: 429, retryAfterSeconds: 30 }]);
    const manifest = await providerManifest('held', 20, 'openai');
    const out = await temporaryDirectory();
    const environment = suite.environment({ OPENAI_CONCURRENCY: '8', OPENAI_REQUESTS_PER_MINUTE: '0' });
    expect(
      (await runCliInProcess(['enqueue', manifest, '--out', out, '--batch', 'held'], environment)).exitCode,
    ).toBe(0);
    spawnCli(['worker', '--provider', 'openai', '--concurrency', '2'], environment);
    const held = await until(
      () => signalOf('held', environment),
      (signal) => signal.hosts.some((host) => host.host === 'openai' && host.heldBy !== undefined),
    );
    expect(held.hosts.find((host) => host.host === 'openai')).toMatchObject({
      heldBy: 'retry-after',
      wantedWorkers: 1,
    });
    expect(held.moreWorkers).toBe(0);
  });
});

describe('deploy/', () => {
  it('the KEDA example scales the worker Deployment on a metric image-batch serves, with real settings', async () => {
    const text = await readFile('deploy/keda-workers.yaml', 'utf8');
    const documents = parseAllDocuments(text).map((document) => {
      expect(document.errors).toEqual([]);
      return document.toJS() as Record<string, any>;
    });
    const deployment = documents.find((document) => document.kind === 'Deployment')!;
    const scaled = documents.find((document) => document.kind === 'ScaledObject')!;
    expect(scaled.apiVersion).toBe('keda.sh/v1alpha1');
    expect(scaled.spec.scaleTargetRef.name).toBe(deployment.metadata.name);
    const trigger = scaled.spec.triggers[0];
    expect(trigger.type).toBe('prometheus');
    expect(trigger.metadata.query).toContain('image_batch_workers{count="wanted"}');
    const container = deployment.spec.template.spec.containers[0];
    expect((container.args as string[])[0]).toBe('worker');
    // Every variable it sets is one the documentation names (a provider's key, or a named setting).
    const readme =
      (await readFile('docs/configuration.md', 'utf8')) + (await readFile('docs/hosts.md', 'utf8'));
    for (const { name } of container.env as Array<{ name: string }>) {
      const generic = name.replace(/^(OXEN|FAL|OPENAI|REPLICATE|WAVESPEED)_(?!API_KEY|KEY)/, '<PROVIDER>_');
      expect(readme.includes(`\`${name}\``) || readme.includes(`\`${generic}\``), name).toBe(true);
    }
  });
});
