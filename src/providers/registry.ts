/**
 * The providers, one line each: a provider is its folder (src/providers/<name>/: settings, capabilities, pricing,
 * wire format, client) and its line here. The compiler checks the lines against `PROVIDER_NAMES` (src/shared/config.ts).
 */
import type { ProviderName } from '../shared/config.js';
import type { ProviderFacts } from './definition.js';
import { FAL } from './fal/definition.js';
import { OPENAI } from './openai/definition.js';
import { OXEN } from './oxen/definition.js';
import { REPLICATE } from './replicate/definition.js';
import { WAVESPEED } from './wavespeed/definition.js';

/** Every provider's definition, by name. */
export const PROVIDERS = {
  oxen: OXEN,
  fal: FAL,
  openai: OPENAI,
  replicate: REPLICATE,
  wavespeed: WAVESPEED,
} satisfies Record<ProviderName, ProviderFacts>;

/** What is known of `name`: its settings, pricing, label and flow. */
export function providerFacts(name: ProviderName): ProviderFacts {
  return PROVIDERS[name];
}

/** The provider used for rows that name none. */
export const DEFAULT_PROVIDER: ProviderName = 'oxen';
