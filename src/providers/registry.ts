/**
 * The provider adapters by name, built from the configuration.
 */
import type { Config, ProviderName } from '../shared/config.js';
import { OxenProvider } from './oxen/client.js';
import type { ImageProvider } from './provider.js';

/** Build the adapter of `name` with its settings from `config`. */
export function createProvider(name: ProviderName, config: Config): ImageProvider {
  switch (name) {
    case 'oxen':
      return new OxenProvider(config.providers.oxen);
  }
}

/** The provider used for rows that name none. */
export const DEFAULT_PROVIDER: ProviderName = 'oxen';
