/**
 * `npm run test:faults`, issue 18.6–18.12: crashes, a dashboard probed from outside, and a provider that echoes the
 * API key. Each scenario counts what it tried, how much of it was handled as it must be, and what was lost or
 * leaked (which must be 0). The table is printed at the end.
 */
import { mkdir, readdir, readFile, symlink, utimes, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDashboard, type Dashboard } from '../../src/dashboard/server.js';
import { loadConfig } from '../../src/providers/configuration.js';
import { outputImagePath } from '../../src/storage/output-layout.js';
import { ProviderSimulator } from '../../src/simulator/server.js';
import { killSpawnedProcesses, runCliInProcess } from '../helpers/cli.js';
import { removeTemporaryDirectories, temporaryDirectory } from '../helpers/files.js';
import { jsonLine, manifestFolder, writeManifest } from '../helpers/manifests.js';
import { deleteKeysWithPrefix, redisUrl, storedText, uniquePrefix } from '../helpers/redis.js';
import { simulatorEnvironment } from '../helpers/simulator-environment.js';
import { runScenario, scenarioRows as rows } from './harness.js';
import { queueNameFor } from '../../src/shared/keys.js';

interface ServiceRow {
  point: string;
  scenario: string;
  tried: number;
  /** Handled as the issue requires (refused, cleaned, resumed, scrubbed…). */
  handled: number;
  /** Rows lost, files served or secrets found where they must not be. */
  leaked: number;
}

const table: ServiceRow[] = [];
let simulator: ProviderSimulator;

beforeAll(async () => {
  simulator = new ProviderSimulator();
  await simulator.start();
});
afterAll(async () => {
  killSpawnedProcesses();
  await simulator.stop();
  await removeTemporaryDirectories();
  const lines = [
    '| point | scenario | tried | handled | lost or leaked |',
    '| --- | --- | --- | --- | --- |',
  ];
  for (const row of table)
    lines.push(`| ${[row.point, row.scenario, row.tried, row.handled, row.leaked].join(' | ')} |`);
  process.stdout.write(`\nCrashes, dashboard and secrets (issue 18.6-18.12)\n${lines.join('\n')}\n`);
});

function record(row: ServiceRow): void {
  table.push(row);
  expect(row.leaked).toBe(0);
  expect(row.handled).toBe(row.tried);
}

describe('crashes', () => {
  it('18.6 Replicate: 3 kill -9s while predictions run; every prediction id was saved first, none uncertain', async () => {
    simulator.setLatency(4000);
    try {
      const { row, lines } = await runScenario({
        name: 'replicate kills',
        rows: rows('replicate kill', 12, { provider: 'replicate', resolution: '1024x1024', quality: 'low' }),
        simulator,
        redisUrl: redisUrl(),
        environment: { REPLICATE_CONCURRENCY: '12' },
        action: async (harness) => {
          // Every create call answered: from here on, each row is known by its prediction id.
          await harness.waitForSubmissions(12);
          await new Promise((resolve) => setTimeout(resolve, 300));
          for (let kill = 0; kill < 3; kill += 1) {
            harness.workers.at(-1)!.kill('SIGKILL');
            harness.startWorker();
            await new Promise((resolve) => setTimeout(resolve, 700));
          }
        },
      });
      const uncertain = lines.filter((line) => line.error?.code === 'uncertain_outcome').length;
      record({
        point: '18.6',
        scenario: 'Replicate, 12 rows, 3 kill -9s during predictions',
        tried: row.rows,
        handled: row.completed,
        leaked: row.lost + row.duplicatePaid + uncertain,
      });
    } finally {
      simulator.setLatency(0);
    }
  });

  it('18.7 kill -9 during sync calls with half-written *.part files: none left once the rows are settled', async () => {
    simulator.setLatency(1500);
    let planted = 0;
    let left = -1;
    try {
      await runScenario({
        name: 'part files',
        rows: rows('part files', 4),
        simulator,
        redisUrl: redisUrl(),
        environment: { OXEN_MODE: 'sync', OXEN_CONCURRENCY: '4' },
        action: async (harness) => {
          await harness.waitForSubmissions(4);
          // What a worker killed mid-write leaves beside each row's image (an hour old: no live writer's).
          planted = await plantPartFiles(harness.out, 4);
          harness.workers[0]!.kill('SIGKILL');
          harness.startWorker();
        },
        inspect: async ({ out }) => {
          left = (await listFiles(path.join(out, 'faults'))).filter((name) => name.endsWith('.part')).length;
        },
      });
    } finally {
      simulator.setLatency(0);
    }
    record({
      point: '18.7',
      scenario: 'kill -9 during 4 sync calls, a stale *.part beside each row',
      tried: planted,
      handled: planted - left,
      leaked: left,
    });
  });
});

async function plantPartFiles(out: string, count: number): Promise<number> {
  const hourAgo = new Date(Date.now() - 3_600_000);
  for (let index = 0; index < count; index += 1) {
    const target = path.join(out, 'faults', outputImagePath(`r${index}`, 0, 1, 'png'));
    await mkdir(path.dirname(target), { recursive: true });
    const part = `${target}.4242-dead${index}.part`;
    await writeFile(part, 'half an image');
    await utimes(part, hourAgo, hourAgo);
  }
  return count;
}

async function listFiles(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { recursive: true }).catch(() => [] as string[]);
  return entries.map(String);
}

describe('a dashboard probed from outside', () => {
  const prefix = uniquePrefix();
  let redis: Redis;
  let dashboard: Dashboard;
  let out: string;
  let port: string;

  beforeAll(async () => {
    const environment = {
      REDIS_URL: redisUrl(),
      IMAGE_BATCH_QUEUE_PREFIX: prefix,
      LOG_LEVEL: 'silent',
      ...simulatorEnvironment(simulator.url, 'sk-hostile-dashboard'),
    };
    const manifest = await writeManifest(await manifestFolder(), 'probe.jsonl', [
      jsonLine({ id: 'kite', prompt: 'a kite', resolution: '1024x768' }),
      jsonLine({ id: 'refused', prompt: '[simulate:refuse] no', resolution: '1024x768' }),
    ]);
    out = await temporaryDirectory();
    await runCliInProcess(['run', manifest, '--out', out, '--batch', 'probe'], environment);
    redis = new Redis(redisUrl());
    dashboard = await startDashboard({
      config: loadConfig(environment),
      redis,
      log: pino({ level: 'silent' }),
      host: '127.0.0.1',
      port: 0,
      readOnly: false,
    });
    port = new URL(dashboard.url).port;
  });
  afterAll(async () => {
    await dashboard.close();
    redis.disconnect();
    await deleteKeysWithPrefix(prefix);
  });

  it('18.8 links out of the batch folder are never followed, by files or thumbnails', async () => {
    const batch = path.join(out, 'probe');
    const links: Array<[string, string]> = [
      ['images/passwd.png', '/etc/passwd'],
      ['images/hostname.jpg', '/etc/hostname'],
      ['images/etc', '/etc'],
      ['stolen.jsonl', '/etc/passwd'],
      ['images/up.png', path.join(out, '..')],
    ];
    for (const [name, target] of links) await symlink(target, path.join(batch, name));
    const requests = links.flatMap(([name]) => [
      `/batches/probe/files/${name}`,
      `/batches/probe/thumbnails/${name}`,
      `/batches/probe/files/${name.replace('/', '%2F')}`,
    ]);
    requests.push('/batches/probe/files/images/etc/passwd', '/batches/probe/files/images%2Fetc%2Fpasswd');
    let refused = 0;
    let served = 0;
    for (const route of requests) {
      const response = await fetch(`${dashboard.url}${route}`);
      const body = await response.text();
      if (response.status === 404 || response.status === 403) refused += 1;
      if (response.ok || body.includes('root:')) served += 1;
    }
    record({
      point: '18.8',
      scenario: `${links.length} symlinks out of the batch, ${requests.length} requests`,
      tried: requests.length,
      handled: refused,
      leaked: served,
    });
  });

  it('18.9 only its own host names are answered (DNS rebinding)', async () => {
    const foreign = [
      `attacker.example:${port}`,
      'attacker.example',
      `127.0.0.1.nip.io:${port}`,
      `localhost.attacker.example:${port}`,
      `evil.localhost:${port}`,
      `[::2]:${port}`,
      `10.0.0.1:${port}`,
      '',
    ];
    const own = [`localhost:${port}`, `127.0.0.1:${port}`];
    let handled = 0;
    let leaked = 0;
    for (const host of foreign) {
      const status = await statusForHost(port, host);
      if (status === 421 || status === 400) handled += 1;
      if (status >= 200 && status < 400) leaked += 1;
    }
    for (const host of own) if ((await statusForHost(port, host)) === 200) handled += 1;
    record({
      point: '18.9',
      scenario: `${foreign.length} foreign Host headers, ${own.length} own`,
      tried: foreign.length + own.length,
      handled,
      leaked,
    });
  });

  it('18.10 every bull-board write from another site is refused, and retries of paid jobs are refused from its own', async () => {
    const queue = new Queue(queueNameFor('oxen'), { connection: redis, prefix });
    const before = await queue.getJobCounts();
    const failedJob = (await queue.getFailed(0, 0))[0]?.id ?? 'none';
    const writes: Array<[string, string]> = [
      ['POST', '/queues/api/queues/provider-oxen/add'],
      ['PUT', '/queues/api/queues/provider-oxen/retry/failed'],
      ['PUT', '/queues/api/queues/provider-oxen/promote'],
      ['PUT', '/queues/api/queues/provider-oxen/clean/completed'],
      ['PUT', '/queues/api/queues/provider-oxen/pause'],
      ['PUT', '/queues/api/queues/provider-oxen/empty'],
      ['PUT', '/queues/api/queues/provider-oxen/obliterate'],
      ['PUT', '/queues/api/queues/pause'],
      ['PUT', `/queues/api/queues/provider-oxen/${failedJob}/retry`],
      ['PUT', `/queues/api/queues/provider-oxen/${failedJob}/clean`],
      ['PATCH', `/queues/api/queues/provider-oxen/${failedJob}/update-data`],
      ['POST', '/batches/probe/pause'],
      ['POST', '/batches/probe/retry-failed'],
    ];
    let refused = 0;
    for (const [method, route] of writes) {
      const response = await fetch(`${dashboard.url}${route}`, {
        method,
        headers: { origin: 'http://attacker.example', 'content-type': 'text/plain' },
        body: JSON.stringify({ name: 'planted', data: {} }),
      });
      if (response.status === 403) refused += 1;
    }
    const retries = [
      ['PUT', '/queues/api/queues/provider-oxen/retry/failed'],
      ['PUT', `/queues/api/queues/provider-oxen/${failedJob}/retry`],
    ];
    for (const [method, route] of retries) {
      const response = await fetch(`${dashboard.url}${route}`, {
        method: method!,
        headers: { origin: dashboard.url },
      });
      if (response.status === 403 && /retries of paid jobs are off/.test(await response.text())) refused += 1;
    }
    const after = await queue.getJobCounts();
    await queue.close();
    const changed = Object.keys(before).filter((state) => before[state] !== after[state]).length;
    record({
      point: '18.10',
      scenario: `${writes.length} cross-site writes, ${retries.length} same-origin retries of paid jobs`,
      tried: writes.length + retries.length,
      handled: refused,
      leaked: changed,
    });
  });

  it('18.11 [::1] as a listen address, and paths with NUL, bad escapes or traversal: 4xx, never a 500', async () => {
    const ipv6 = await startDashboard({
      config: loadConfig({ REDIS_URL: redisUrl(), IMAGE_BATCH_QUEUE_PREFIX: prefix, LOG_LEVEL: 'silent' }),
      redis,
      log: pino({ level: 'silent' }),
      host: '[::1]',
      port: 0,
      readOnly: true,
    });
    const listened = (await fetch(`${ipv6.url}/`)).status === 200 ? 1 : 0;
    await ipv6.close();
    const paths = [
      '/batches/probe/files/%00',
      '/batches/probe/files/images%2F%00.png',
      '/batches/probe/thumbnails/%00',
      '/batches/probe/files/%E0%A4%A',
      '/batches/probe/files/%ff',
      '/batches/probe/files/..%2F..%2F..%2Fetc%2Fpasswd',
      '/batches/%00/files/x',
      '/batches/..%2F..%2Fetc/files/passwd',
      `/batches/probe/files/${'a'.repeat(5000)}`,
      '/batches/probe/thumbnails/images%2F..%2F..%2Fsecret.png',
    ];
    let clean = 0;
    let errors = 0;
    for (const route of paths) {
      const { status } = await fetch(`${dashboard.url}${route}`);
      if (status >= 400 && status < 500) clean += 1;
      if (status >= 500) errors += 1;
    }
    record({
      point: '18.11',
      scenario: `--host [::1], ${paths.length} hostile paths`,
      tried: 1 + paths.length,
      handled: listened + clean,
      leaked: errors,
    });
  });
});

/** The status answered to a request whose Host header is exactly `host` (sent raw: an HTTP client fills an empty one). */
function statusForHost(port: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => {
      socket.write(`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    });
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    socket.on('end', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0)));
    socket.on('error', reject);
  });
}

describe('secrets', () => {
  it('18.12 an API key echoed in provider error bodies reaches no results line, report, log, output or Redis', async () => {
    const planted = 'sk-proj-PLANTEDsecretKEY0123456789abcdef';
    const echo = {
      error: { message: `Incorrect API key provided: ${planted}.`, type: 'invalid_request_error' },
    };
    let places = 0;
    let found = 0;
    await runScenario({
      name: 'echoed key',
      rows: rows('echoed key', 3, { provider: 'openai' }),
      simulator,
      redisUrl: redisUrl(),
      environment: { OPENAI_API_KEY: planted, LOG_LEVEL: 'debug', IMAGE_BATCH_ATTEMPTS: '2' },
      faults: [
        { provider: 'openai', status: 400, body: echo, times: 1 },
        { provider: 'openai', status: 500, body: echo, times: 1 },
      ],
      inspect: async ({ prefix, out, workerOutput }) => {
        const texts: string[] = [workerOutput];
        for (const name of ['results.jsonl', 'summary.json'])
          texts.push(await readFile(path.join(out, 'faults', name), 'utf8').catch(() => ''));
        const report = await runCliInProcess(['report', 'faults', '--format', 'csv'], {
          REDIS_URL: redisUrl(),
          IMAGE_BATCH_QUEUE_PREFIX: prefix,
          LOG_LEVEL: 'silent',
        });
        texts.push(report.stdout + report.stderr);
        texts.push(await storedText(prefix));
        places = texts.length;
        found = texts.filter((text) => text.includes(planted)).length;
        expect(texts.join('\n')).toMatch(/Incorrect API key provided/);
      },
    });
    record({
      point: '18.12',
      scenario: 'key echoed by a 400 and a 500: worker output, results, summary, CSV report, Redis',
      tried: places,
      handled: places - found,
      leaked: found,
    });
  });
});
