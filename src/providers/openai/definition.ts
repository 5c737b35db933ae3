/** OpenAI, as the registry knows it. */
import type { ProviderDefinition } from '../definition.js';
import { OpenAIProvider } from './client.js';
import { OPENAI_PRICING } from './pricing.js';
import { OPENAI_SETTINGS } from './settings.js';

export const OPENAI: ProviderDefinition<typeof OPENAI_SETTINGS.schema> = {
  name: 'openai',
  label: 'OpenAI',
  flow: 'synchronous; edits as multipart, masks converted to alpha',
  settings: OPENAI_SETTINGS,
  pricing: OPENAI_PRICING,
  create: (settings, environment) => new OpenAIProvider(settings, environment.allowedPrivateHosts),
};
