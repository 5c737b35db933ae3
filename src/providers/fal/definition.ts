/** fal.ai, as the registry knows it. */
import type { ProviderDefinition } from '../definition.js';
import { falWebhookVerifier } from './webhooks.js';
import { FalProvider } from './client.js';
import { FAL_PRICING } from './pricing.js';
import { FAL_SETTINGS } from './settings.js';

export const FAL: ProviderDefinition<typeof FAL_SETTINGS.schema> = {
  name: 'fal',
  label: 'fal.ai',
  flow: 'queue API (submit, status_url, response_url); local files via fal storage',
  settings: FAL_SETTINGS,
  pricing: FAL_PRICING,
  create: (settings) => new FalProvider(settings),
  webhooks: (settings) => falWebhookVerifier(settings),
};
