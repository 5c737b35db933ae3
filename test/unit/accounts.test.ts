/**
 * Several accounts per host (issue 25): `<KEY>_2`, `<KEY>_3` … are further accounts of a provider, each a host of its
 * own (`openai@2`) with its own key and — where its numbered variable is set — its own limits.
 */
import { describe, expect, it } from 'vitest';
import {
  createProvider,
  hostsOf,
  loadConfig,
  settingsOfHost,
  withProviderSettings,
} from '../../src/providers/configuration.js';
import { ConfigurationError } from '../../src/shared/errors.js';
import { accountOf, hostName, isHostName, providerOf } from '../../src/shared/hosts.js';
import { scrubSecrets } from '../../src/shared/secrets.js';

describe('accounts of a host', () => {
  it('reads numbered keys as further accounts, each with its own key and its numbered limits over the first', () => {
    const config = loadConfig({
      OPENAI_API_KEY: 'sk-first-account-key',
      OPENAI_API_KEY_2: 'sk-second-account-key',
      OPENAI_API_KEY_3: 'sk-third-account-key',
      OPENAI_REQUESTS_PER_MINUTE: '50',
      OPENAI_REQUESTS_PER_MINUTE_2: '500',
      OPENAI_CONCURRENCY_3: '2',
    });
    expect(hostsOf(config, 'openai')).toEqual(['openai', 'openai@2', 'openai@3']);
    expect(hostsOf(config, 'fal')).toEqual(['fal']);
    expect(settingsOfHost(config, 'openai@2')).toMatchObject({
      apiKey: 'sk-second-account-key',
      requestsPerMinute: 500,
      concurrency: 5,
    });
    expect(settingsOfHost(config, 'openai@3')).toMatchObject({
      apiKey: 'sk-third-account-key',
      requestsPerMinute: 50,
      concurrency: 2,
    });
    expect(settingsOfHost(config, 'openai').apiKey).toBe('sk-first-account-key');
    expect(() => settingsOfHost(config, 'openai@4')).toThrow(/no account 4 of openai/);
    // Every account's key is a secret: never printed.
    expect(scrubSecrets('failed with sk-third-account-key')).not.toContain('sk-third-account-key');
    expect(createProvider('openai@2', config).name).toBe('openai');
  });

  it('refuses a gap in the numbers and a further account without the first key, naming the variable', () => {
    const problem = (environment: Record<string, string>) => {
      try {
        loadConfig(environment);
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigurationError);
        return (error as Error).message;
      }
      return 'accepted';
    };
    expect(problem({ FAL_KEY: 'a', FAL_KEY_3: 'c' })).toMatch(/FAL_KEY_3: set, but FAL_KEY_2 is not/);
    expect(problem({ REPLICATE_API_TOKEN_2: 'b' })).toMatch(
      /REPLICATE_API_TOKEN_2: set, but the first account's REPLICATE_API_TOKEN is not/,
    );
    expect(problem({ OPENAI_API_KEY: 'a', OPENAI_API_KEY_2: 'b', OPENAI_CONCURRENCY_2: 'x' })).toMatch(
      /OPENAI_CONCURRENCY_2/,
    );
  });

  it('points every account at a new base URL while each keeps its own key', () => {
    const config = withProviderSettings(
      loadConfig({ WAVESPEED_API_KEY: 'one', WAVESPEED_API_KEY_2: 'two' }),
      'wavespeed',
      { baseUrl: 'http://127.0.0.1:1/api/v3', apiKey: 'simulator' },
    );
    expect(settingsOfHost(config, 'wavespeed')).toMatchObject({ apiKey: 'simulator' });
    expect(settingsOfHost(config, 'wavespeed@2')).toMatchObject({
      apiKey: 'two',
      baseUrl: 'http://127.0.0.1:1/api/v3',
    });
  });

  it('names hosts: a provider, or a provider with @2 … @20', () => {
    expect(hostName('fal')).toBe('fal');
    expect(hostName('fal', 2)).toBe('fal@2');
    expect(providerOf('replicate@12')).toBe('replicate');
    expect(accountOf('replicate@12')).toBe(12);
    expect(accountOf('replicate')).toBe(1);
    for (const good of ['oxen', 'openai@2', 'fal@20']) expect(isHostName(good)).toBe(true);
    for (const bad of ['openai@1', 'openai@21', 'midjourney@2', 'openai@', '@2', 'OPENAI'])
      expect(isHostName(bad)).toBe(false);
  });
});
