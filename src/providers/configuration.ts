/**
 * The whole configuration: the kernel settings (src/shared/config.ts) and each provider's, declared in its folder
 * (src/providers/<name>/settings.ts). Parsed once from the environment by the CLI and passed down frozen.
 */
import type { z } from 'zod';
import {
  deepFreeze,
  parseKernelConfig,
  PROVIDER_NAMES,
  type KernelConfig,
  type ProviderName,
} from '../shared/config.js';
import { ConfigurationError } from '../shared/errors.js';
import { registerSecret } from '../shared/secrets.js';
import type { ImageProvider } from './provider.js';
import type { ProviderSettings } from './provider-settings.js';
import { OpenAIBatchApi } from './openai/batch-api.js';
import { OpenAIProvider } from './openai/client.js';
import { PROVIDERS } from './registry.js';
import type { WebhookVerifier } from './webhooks.js';

export type { ProviderSettings } from './provider-settings.js';

/** The parsed settings of provider `N`. */
export type SettingsOf<N extends ProviderName> = z.output<(typeof PROVIDERS)[N]['settings']['schema']>;

/** The whole configuration (frozen): the kernel settings and each provider's. */
export type Config = KernelConfig & {
  readonly providers: { readonly [N in ProviderName]: Readonly<SettingsOf<N>> };
};

/** The environment variable holding a provider's API key (`FAL_KEY`, `REPLICATE_API_TOKEN`, `<NAME>_API_KEY`). */
export function apiKeyVariable(provider: ProviderName): string {
  return PROVIDERS[provider].settings.keyVariable;
}

/** The environment variable of a provider's base URL (`FAL_QUEUE_URL` for fal, else `<NAME>_BASE_URL`). */
export function baseUrlVariable(provider: ProviderName): string {
  return PROVIDERS[provider].settings.baseUrlVariable;
}

/**
 * Parse the environment into a frozen {@link Config}.
 * @throws ConfigurationError listing every invalid variable (never its value, which may be a secret).
 */
export function loadConfig(environment: Record<string, string | undefined>): Config {
  const { config: kernel, problems } = parseKernelConfig(environment);
  const providers: Partial<Record<ProviderName, ProviderSettings>> = {};
  for (const name of PROVIDER_NAMES) {
    const { schema, variables } = PROVIDERS[name].settings;
    const values = Object.fromEntries(
      Object.entries(variables).map(([field, variable]) => [field, environment[variable]]),
    );
    const parsed = schema.safeParse(values);
    if (parsed.success) providers[name] = parsed.data;
    else {
      for (const issue of parsed.error.issues)
        problems.push(`  ${variables[String(issue.path[0])] ?? name}: ${issue.message}`);
    }
  }
  if (kernel === undefined || problems.length > 0)
    throw new ConfigurationError(`invalid environment:\n${[...new Set(problems)].join('\n')}`);
  // Every name was parsed (a failure threw above), so `providers` is whole.
  for (const settings of Object.values(providers)) registerSecret(settings.apiKey);
  registerSecret(kernel.dashboardAuth?.password);
  return deepFreeze({ ...kernel, providers: providers as Config['providers'] });
}

/** A copy of `config` with one provider's settings replaced (used to point a provider at the simulator). */
export function withProviderSettings<N extends ProviderName>(
  config: Config,
  provider: N,
  settings: Partial<SettingsOf<N>>,
): Config {
  return deepFreeze({
    ...config,
    providers: { ...config.providers, [provider]: { ...config.providers[provider], ...settings } },
  });
}

/** Build the client of `name` with its settings from `config`. */
export function createProvider(name: ProviderName, config: Config): ImageProvider {
  const definition = PROVIDERS[name] as { create(settings: unknown, environment: Config): ImageProvider };
  // The settings of `name` are the output of its own definition's schema (loadConfig above), which is what its
  // `create` takes; the compiler cannot follow that correlation through the union of definitions.
  return definition.create(config.providers[name], config);
}

/** OpenAI's Batch API with the OpenAI settings of `config` (src/providers/openai/batch-api.ts). */
export function createOpenAIBatchApi(config: Config): OpenAIBatchApi {
  const settings = config.providers.openai;
  return new OpenAIBatchApi(new OpenAIProvider(settings, config.allowedPrivateHosts), settings);
}

/** The reader of `name`'s webhook deliveries with its settings from `config`, or undefined when it sends none. */
export function createWebhookVerifier(name: ProviderName, config: Config): WebhookVerifier | undefined {
  const definition = PROVIDERS[name] as { webhooks?(settings: unknown): WebhookVerifier };
  return definition.webhooks?.(config.providers[name]);
}
