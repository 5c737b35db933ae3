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
import { accountOf, hostName, MAX_ACCOUNTS, providerOf, type HostName } from '../shared/hosts.js';
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
  /** Each provider's settings: those of its first account (`OPENAI_API_KEY`, `OPENAI_REQUESTS_PER_MINUTE`, …). */
  readonly providers: { readonly [N in ProviderName]: Readonly<SettingsOf<N>> };
  /**
   * Each provider's further accounts, in order: account 2 is `[0]` (src/shared/hosts.ts). Empty for a provider with one
   * key. See {@link loadConfig} for their variables.
   */
  readonly accounts: { readonly [N in ProviderName]: readonly Readonly<SettingsOf<N>>[] };
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
 *
 * A provider's further accounts (issue 25) are numbered: `<KEY>_2`, `<KEY>_3`, … up to `_20` (`OPENAI_API_KEY_2`,
 * `FAL_KEY_2`, `REPLICATE_API_TOKEN_2`), without gaps, and only beside the first account's key. Each account's other
 * settings are the first account's unless the same variable with its number is set (`OPENAI_REQUESTS_PER_MINUTE_2`,
 * `OPENAI_CONCURRENCY_2`): each key has its own limits at its host.
 * @throws ConfigurationError listing every invalid variable (never its value, which may be a secret).
 */
export function loadConfig(environment: Record<string, string | undefined>): Config {
  const { config: kernel, problems } = parseKernelConfig(environment);
  const providers: Partial<Record<ProviderName, ProviderSettings>> = {};
  const accounts: Partial<Record<ProviderName, ProviderSettings[]>> = {};
  for (const name of PROVIDER_NAMES) {
    const first = parseAccount(name, environment, undefined, problems);
    if (first !== undefined) providers[name] = first;
    accounts[name] = [];
    for (const account of accountNumbers(name, environment, problems)) {
      const parsed = parseAccount(name, environment, account, problems);
      if (parsed !== undefined) accounts[name].push(parsed);
    }
  }
  if (kernel === undefined || problems.length > 0)
    throw new ConfigurationError(`invalid environment:\n${[...new Set(problems)].join('\n')}`);
  // Every name was parsed (a failure threw above), so `providers` is whole.
  for (const settings of [...Object.values(providers), ...Object.values(accounts).flat()])
    registerSecret(settings.apiKey);
  registerSecret(kernel.dashboardAuth?.password);
  registerSecret(kernel.notify.url);
  registerSecret(kernel.notify.secret);
  for (const token of kernel.apiTokens) registerSecret(token);
  return deepFreeze({
    ...kernel,
    providers: providers as Config['providers'],
    accounts: accounts as unknown as Config['accounts'],
  });
}

/** The settings of one account of `name` (`account` ≥ 2: its numbered variables over the first's); problems noted. */
function parseAccount(
  name: ProviderName,
  environment: Record<string, string | undefined>,
  account: number | undefined,
  problems: string[],
): ProviderSettings | undefined {
  const { schema, variables } = PROVIDERS[name].settings;
  const variableOf = (variable: string) => (account === undefined ? variable : `${variable}_${account}`);
  const values = Object.fromEntries(
    Object.entries(variables).map(([field, variable]) => [
      field,
      environment[variableOf(variable)] ?? (field === 'apiKey' ? undefined : environment[variable]),
    ]),
  );
  const parsed = schema.safeParse(values);
  if (parsed.success) return parsed.data;
  for (const issue of parsed.error.issues) {
    const variable = variables[String(issue.path[0])];
    problems.push(`  ${variable === undefined ? name : variableOf(variable)}: ${issue.message}`);
  }
  return undefined;
}

/** The numbers of `name`'s further accounts set in `environment` (2, 3, …), gaps and a missing first key noted. */
function accountNumbers(
  name: ProviderName,
  environment: Record<string, string | undefined>,
  problems: string[],
): number[] {
  const keyVariable = PROVIDERS[name].settings.keyVariable;
  const isSet = (account: number) => (environment[`${keyVariable}_${account}`] ?? '') !== '';
  const numbers: number[] = [];
  for (let account = 2; account <= MAX_ACCOUNTS; account += 1) {
    if (!isSet(account)) continue;
    if (numbers.length !== account - 2)
      problems.push(
        `  ${keyVariable}_${account}: set, but ${keyVariable}_${numbers.length + 2} is not (no gaps)`,
      );
    else if ((environment[keyVariable] ?? '') === '')
      problems.push(`  ${keyVariable}_${account}: set, but the first account's ${keyVariable} is not`);
    else numbers.push(account);
  }
  return numbers;
}

/**
 * A copy of `config` with one provider's settings replaced (used to point a provider at the simulator), on every one
 * of its accounts — each further account keeps its own API key.
 */
export function withProviderSettings<N extends ProviderName>(
  config: Config,
  provider: N,
  settings: Partial<SettingsOf<N>>,
): Config {
  const { apiKey: _key, ...shared } = settings;
  return deepFreeze({
    ...config,
    providers: { ...config.providers, [provider]: { ...config.providers[provider], ...settings } },
    accounts: {
      ...config.accounts,
      [provider]: config.accounts[provider].map((account) => ({ ...account, ...shared })),
    },
  });
}

/** Every host of `provider` in `config`: its first account (named as the provider), then `<provider>@2` … */
export function hostsOf(config: Config, provider: ProviderName): HostName[] {
  return [provider, ...config.accounts[provider].map((_, index) => hostName(provider, index + 2))];
}

/** Every host of `providers` in `config`, in order. */
export function hostsOfAll(config: Config, providers: readonly ProviderName[]): HostName[] {
  return providers.flatMap((provider) => hostsOf(config, provider));
}

/**
 * The hosts configured here and each one's share of a batch's budget cap, percent (src/batch/batch-hosts.ts
 * `ConfiguredHosts`).
 */
export function configuredHosts(config: Config): {
  accounts: HostName[];
  shareOf(host: HostName): number;
} {
  return {
    accounts: hostsOfAll(config, PROVIDER_NAMES),
    shareOf: (host) => settingsOfHost(config, host).budgetSharePercent,
  };
}

/**
 * The settings of `host`: its provider's for the first account, else that account's.
 * @throws Error for an account `config` does not have.
 */
export function settingsOfHost<N extends ProviderName>(
  config: Config,
  host: N | `${N}@${number}`,
): SettingsOf<N> {
  const provider = providerOf(host) as N;
  const account = accountOf(host);
  if (account === 1) return config.providers[provider] as SettingsOf<N>;
  const settings = config.accounts[provider][account - 2];
  if (settings === undefined) throw new Error(`no account ${account} of ${provider} is configured`);
  return settings as SettingsOf<N>;
}

/** Build the client of `host` (a provider, or one of its further accounts) with its settings from `config`. */
export function createProvider(host: HostName, config: Config): ImageProvider {
  const definition = PROVIDERS[providerOf(host)] as {
    create(settings: unknown, environment: Config): ImageProvider;
  };
  // The settings of `host` are the output of its own definition's schema (loadConfig above), which is what its
  // `create` takes; the compiler cannot follow that correlation through the union of definitions.
  return definition.create(settingsOfHost(config, host), config);
}

/** OpenAI's Batch API with the OpenAI settings of `config` (src/providers/openai/batch-api.ts). */
export function createOpenAIBatchApi(config: Config): OpenAIBatchApi {
  const settings = config.providers.openai;
  return new OpenAIBatchApi(new OpenAIProvider(settings, config.allowedPrivateHosts), settings);
}

/**
 * The reader of `host`'s webhook deliveries with its settings from `config` (each account has its own signing secret),
 * or undefined when its provider sends none.
 */
export function createWebhookVerifier(host: HostName, config: Config): WebhookVerifier | undefined {
  const definition = PROVIDERS[providerOf(host)] as { webhooks?(settings: unknown): WebhookVerifier };
  return definition.webhooks?.(settingsOfHost(config, host));
}

/** The providers with an API key set: what `auto` means, and whom a worker serves by default. */
export function providersWithKeys(config: Config): ProviderName[] {
  return PROVIDER_NAMES.filter((name) => config.providers[name].apiKey !== undefined);
}
