/**
 * What the registry knows of a provider: everything in its folder, in one object (src/providers/<name>/definition.ts).
 */
import type { z } from 'zod';
import type { ProviderName } from '../shared/config.js';
import type { ProviderPricing } from './pricing.js';
import type { ProviderSettings, ProviderSettingsDefinition } from './provider-settings.js';
import type { ImageProvider } from './provider.js';
import type { WebhookVerifier } from './webhooks.js';

/** What building a client may need beyond the provider's own settings. */
export interface ClientEnvironment {
  /** Hosts that user-supplied input URLs may name although private or loopback. */
  allowedPrivateHosts: readonly string[];
}

/** One provider: its name, how it is configured, billed and reached. */
export interface ProviderDefinition<
  Schema extends z.ZodType<ProviderSettings> = z.ZodType<ProviderSettings>,
> {
  name: ProviderName;
  /** The provider's name for people (`Oxen.ai`, `fal.ai`, …). */
  label: string;
  /** How its requests flow, in one line (`image-batch providers`). */
  flow: string;
  settings: ProviderSettingsDefinition<Schema>;
  pricing: ProviderPricing;
  /** Build the client from the provider's settings. */
  create(settings: z.output<Schema>, environment: ClientEnvironment): ImageProvider;
  /** Build the reader of the provider's webhook deliveries, where it sends any (./webhooks.ts). */
  webhooks?(settings: z.output<Schema>): WebhookVerifier;
}

/** What anyone may read of a definition without knowing its settings' exact type (all but `create`). */
export type ProviderFacts = Omit<ProviderDefinition, 'create' | 'webhooks'>;
