/**
 * REDIS_URL through Sentinel (issue 26): `redis+sentinel://[:password@]host:port,…/<master>[/<db>]`; a Redis Cluster
 * (issue 27): `redis+cluster://[[user]:password@]host:port,…`, and the hash tags that spread keys over its slots.
 */
import calculateSlot from 'cluster-key-slot';
import { describe, expect, it } from 'vitest';
import {
  batchKeys,
  collectQueueNameFor,
  hashTag,
  providerItemKey,
  providerKey,
  queueNameFor,
  queueTitle,
} from '../../src/shared/keys.js';
import { clusterSettingsOf, isRedisUrl, redactRedisUrl, sentinelOptionsOf } from '../../src/shared/redis.js';

describe('a Sentinel REDIS_URL', () => {
  it('names the sentinels, the master, the servers’ password and the database', () => {
    expect(
      sentinelOptionsOf('redis+sentinel://:s%40cret@10.0.0.1:26379,10.0.0.2:26380,10.0.0.3/mymaster/2'),
    ).toEqual({
      sentinels: [
        { host: '10.0.0.1', port: 26379 },
        { host: '10.0.0.2', port: 26380 },
        { host: '10.0.0.3', port: 26379 },
      ],
      name: 'mymaster',
      password: 's@cret',
      db: 2,
    });
    expect(sentinelOptionsOf('redis://127.0.0.1:6379')).toBeUndefined();
  });

  it('is accepted as REDIS_URL and printed without its password', () => {
    expect(isRedisUrl('redis+sentinel://h1:26379,h2:26379/main')).toBe(true);
    expect(isRedisUrl('redis://127.0.0.1:6379/0')).toBe(true);
    expect(isRedisUrl('redis+sentinel://no-master')).toBe(false);
    expect(redactRedisUrl('redis+sentinel://:pw@h1:26379/main')).toBe('redis+sentinel://***@h1:26379/main');
  });
});

describe('a Redis Cluster REDIS_URL', () => {
  it('names the nodes to start from, the user, the password and TLS', () => {
    expect(clusterSettingsOf('redis+cluster://10.0.0.1:7000,10.0.0.2:7001,10.0.0.3')).toEqual({
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
        { host: '10.0.0.3', port: 6379 },
      ],
      redisOptions: {},
    });
    expect(clusterSettingsOf('rediss+cluster://app:s%40cret@cache.example.com:6380/')).toEqual({
      nodes: [{ host: 'cache.example.com', port: 6380 }],
      redisOptions: { username: 'app', password: 's@cret', tls: {} },
    });
    expect(clusterSettingsOf('redis+cluster://:pa:ss@h1:7000')?.redisOptions).toEqual({ password: 'pa:ss' });
    expect(clusterSettingsOf('redis://127.0.0.1:6379')).toBeUndefined();
  });

  it('is accepted as REDIS_URL and printed without its password', () => {
    expect(isRedisUrl('redis+cluster://h1:7000,h2:7000')).toBe(true);
    expect(isRedisUrl('redis+cluster://h1:7000/2')).toBe(false);
    expect(isRedisUrl('redis+cluster://h1:port,h2:7000')).toBe(false);
    expect(isRedisUrl('redis+cluster://')).toBe(false);
    expect(redactRedisUrl('redis+cluster://:pw@h1:7000,h2:7000')).toBe('redis+cluster://***@h1:7000,h2:7000');
  });
});

/** The cluster slots `keys` fall in. */
function slotsOf(keys: string[]): Set<number> {
  return new Set(keys.map((key) => calculateSlot(key)));
}

describe('hash tags', () => {
  it('give each queue, batch and host a slot of its own, the same for all its keys', () => {
    const prefix = 'image-batch';
    const batch = Object.values(batchKeys(prefix, 'nightly-2026')) as string[];
    expect(slotsOf(batch).size).toBe(1);
    const host = [
      providerKey(prefix, 'openai@2', 'retry-after'),
      providerKey(prefix, 'openai@2', 'tokens-bucket'),
      providerItemKey(prefix, 'openai@2', 'finished', 'job-1'),
    ];
    expect(slotsOf(host).size).toBe(1);
    const queues = (['openai', 'fal', 'oxen', 'replicate', 'wavespeed'] as const).flatMap((name) => [
      `${prefix}:${queueNameFor(name)}:wait`,
      `${prefix}:${collectQueueNameFor(name)}:wait`,
    ]);
    // Ten queues, ten slots: a cluster spreads them over its masters.
    expect(slotsOf(queues).size).toBe(10);
    expect(
      slotsOf([`${prefix}:${queueNameFor('fal')}:wait`, `${prefix}:${queueNameFor('fal')}:job-1`]).size,
    ).toBe(1);
    expect(queueTitle(queueNameFor('fal'))).toBe('provider-fal');
  });

  it('keep a batch in one slot whatever braces its id holds', () => {
    for (const id of ['}x', '{}', 'a{b}c', '{']) {
      expect(hashTag(id)).toMatch(/^\{[^{}]+\}$/);
      expect(slotsOf(Object.values(batchKeys('p', id)) as string[]).size).toBe(1);
    }
  });
});
