/** Replicate, as the registry knows it. */
import type { ProviderDefinition } from '../definition.js';
import { replicateWebhookVerifier } from './webhooks.js';
import { ReplicateProvider } from './client.js';
import { REPLICATE_PRICING } from './pricing.js';
import { REPLICATE_SETTINGS } from './settings.js';

export const REPLICATE: ProviderDefinition<typeof REPLICATE_SETTINGS.schema> = {
  name: 'replicate',
  label: 'Replicate',
  flow: 'prediction (answered at once with its id), then polling or a webhook; large local files via the files API',
  settings: REPLICATE_SETTINGS,
  pricing: REPLICATE_PRICING,
  create: (settings) => new ReplicateProvider(settings),
  webhooks: (settings) => replicateWebhookVerifier(settings),
};
