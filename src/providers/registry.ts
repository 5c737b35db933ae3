/**
 * The provider adapters by name, built from the configuration.
 */
import type { Config, ProviderName } from '../shared/config.js';
import { FalProvider } from './fal/client.js';
import { OpenAIProvider } from './openai/client.js';
import { OxenProvider } from './oxen/client.js';
import type { ImageProvider } from './provider.js';
import { ReplicateProvider } from './replicate/client.js';
import { WavespeedProvider } from './wavespeed/client.js';

/** Build the adapter of `name` with its settings from `config`. */
export function createProvider(name: ProviderName, config: Config): ImageProvider {
  const settings = config.providers[name];
  switch (name) {
    case 'oxen':
      return new OxenProvider(settings);
    case 'fal':
      return new FalProvider(settings);
    case 'openai':
      return new OpenAIProvider(settings, config.allowedPrivateHosts);
    case 'replicate':
      return new ReplicateProvider(settings);
    case 'wavespeed':
      return new WavespeedProvider(settings);
    default:
      throw new Error(`unknown provider ${String(name)}`);
  }
}

/** The provider used for rows that name none. */
export const DEFAULT_PROVIDER: ProviderName = 'oxen';
