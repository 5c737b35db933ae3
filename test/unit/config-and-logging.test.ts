import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/providers/configuration.js';
import { ConfigurationError } from '../../src/shared/errors.js';
import { createLogger } from '../../src/shared/logger.js';
import { redactRedisUrl } from '../../src/shared/redis.js';

describe('loadConfig', () => {
  it('has documented defaults', () => {
    const config = loadConfig({});
    expect(config.redisUrl).toBe('redis://127.0.0.1:6379');
    expect(config.queuePrefix).toBe('image-batch');
    expect(config.providers.oxen).toEqual({
      apiKey: undefined,
      baseUrl: 'https://hub.oxen.ai',
      concurrency: 8,
      requestsPerMinute: 300,
      // No images or tokens a minute of ours unless configured.
      imagesPerMinute: 0,
      tokensPerMinute: 0,
      // No share of a batch's budget of its own (all of it).
      budgetSharePercent: 100,
      timeoutMs: 180_000,
      pollIntervalMs: 2000,
      pollsPerMinute: 600,
      maxWaitMs: 1_800_000,
      mode: 'queue',
    });
    // Replicate's published limit for every endpoint but creating predictions.
    expect(config.providers.replicate.pollsPerMinute).toBe(3000);
    expect(config.providers.openai).toMatchObject({
      baseUrl: 'https://api.openai.com/v1',
      requestsPerMinute: 5,
      // openai-node's default: high-quality 3840x2160 calls take minutes, and a cut-short call is never re-sent.
      timeoutMs: 600_000,
    });
    expect(config.providers.fal).toMatchObject({
      baseUrl: 'https://queue.fal.run',
      restUrl: 'https://rest.fal.ai',
      platformUrl: 'https://api.fal.ai/v1',
    });
    expect(Object.isFrozen(config.providers.oxen)).toBe(true);
  });

  it('reads and trims the environment; a blank key counts as unset', () => {
    const config = loadConfig({
      OXEN_API_KEY: '  ',
      OXEN_BASE_URL: 'http://127.0.0.1:8790/',
      OXEN_CONCURRENCY: '3',
    });
    expect(config.providers.oxen.apiKey).toBeUndefined();
    expect(config.providers.oxen.baseUrl).toBe('http://127.0.0.1:8790');
    expect(config.providers.oxen.concurrency).toBe(3);
  });

  it('lists every bad variable by name, never its value', () => {
    let error: unknown;
    try {
      loadConfig({
        OXEN_CONCURRENCY: 'sk-secret-value',
        REDIS_URL: 'not a url',
        OXEN_API_KEY: 'sk-real-key',
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigurationError);
    const message = (error as Error).message;
    expect(message).toContain('OXEN_CONCURRENCY');
    expect(message).toContain('REDIS_URL');
    expect(message).not.toContain('sk-secret-value');
    expect(message).not.toContain('sk-real-key');
  });

  it('refuses a C2PA trust anchor file that is not there, at start rather than after a paid call', () => {
    expect(() => loadConfig({ IMAGE_BATCH_C2PA_TRUST_ANCHORS: '/nowhere/anchors.pem' })).toThrow(
      /IMAGE_BATCH_C2PA_TRUST_ANCHORS.*no such file/,
    );
    expect(loadConfig({ IMAGE_BATCH_C2PA_TRUST_ANCHORS: 'package.json' }).c2paTrustAnchorsPath).toBe(
      'package.json',
    );
  });
});

describe('logging', () => {
  it('redacts API keys and authorization headers wherever they appear', () => {
    const stream = new PassThrough();
    const lines: string[] = [];
    stream.on('data', (chunk: Buffer) => lines.push(...chunk.toString().trim().split('\n')));
    const log = createLogger({ level: 'info', destination: stream, pretty: false });
    log.info(
      { apiKey: 'sk-TESTSECRET', request: { headers: { authorization: 'Bearer sk-TESTSECRET' } } },
      'calling',
    );
    log.info({ config: { providers: { oxen: { apiKey: 'sk-TESTSECRET' } } } }, 'config');
    const parsed = lines.map((line) => JSON.parse(line) as Record<string, any>);
    expect(parsed[0]?.apiKey).toBe('[Redacted]');
    expect(parsed[0]?.request.headers.authorization).toBe('[Redacted]');
    expect(parsed[1]?.config.providers.oxen.apiKey).toBe('[Redacted]');
    expect(lines.join('\n')).not.toContain('sk-TESTSECRET');
  });

  it('hides a Redis password in printed URLs', () => {
    expect(redactRedisUrl('redis://:hunter2@redis.internal:6379/0')).toBe(
      'redis://:***@redis.internal:6379/0',
    );
  });
});
