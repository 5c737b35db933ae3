/** WaveSpeedAI, as the registry knows it. */
import type { ProviderDefinition } from '../definition.js';
import { wavespeedWebhookVerifier } from './webhooks.js';
import { WavespeedProvider } from './client.js';
import { WAVESPEED_PRICING } from './pricing.js';
import { WAVESPEED_SETTINGS } from './settings.js';

export const WAVESPEED: ProviderDefinition<typeof WAVESPEED_SETTINGS.schema> = {
  name: 'wavespeed',
  label: 'WaveSpeedAI',
  flow: 'submit, then polling /predictions/{id}/result; local files via the media upload',
  settings: WAVESPEED_SETTINGS,
  pricing: WAVESPEED_PRICING,
  create: (settings) => new WavespeedProvider(settings),
  webhooks: (settings) => wavespeedWebhookVerifier(settings),
};
