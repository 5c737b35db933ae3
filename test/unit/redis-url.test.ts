/** REDIS_URL through Sentinel (issue 26): `redis+sentinel://[:password@]host:port,…/<master>[/<db>]`. */
import { describe, expect, it } from 'vitest';
import { isRedisUrl, redactRedisUrl, sentinelOptionsOf } from '../../src/shared/redis.js';

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
