/** Oxen.ai, as the registry knows it. */
import type { ProviderDefinition } from '../definition.js';
import { OxenProvider } from './client.js';
import { OXEN_PRICING } from './pricing.js';
import { OXEN_SETTINGS } from './settings.js';

export const OXEN: ProviderDefinition<typeof OXEN_SETTINGS.schema> = {
  name: 'oxen',
  label: 'Oxen.ai',
  flow: 'async queue (OXEN_MODE=queue, default) or blocking (OXEN_MODE=sync); request schema read from the host',
  settings: OXEN_SETTINGS,
  pricing: OXEN_PRICING,
  create: (settings) => new OxenProvider(settings),
};
