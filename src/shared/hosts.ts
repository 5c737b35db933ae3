/**
 * Hosts and accounts (issue 25). A host is one provider account that rows are sent through: `openai` is OpenAI's first
 * account (the key in `OPENAI_API_KEY`), `openai@2` its second (`OPENAI_API_KEY_2`), and so on. Each host has its own
 * queue, rate limits, concurrency, circuit breaker and pause; what a provider is (capabilities, prices, wire format)
 * stays keyed by its {@link ProviderName}. A provider with one key has one host, named as the provider, so every name
 * and key of a single-account setup is what it was before accounts.
 */
import { PROVIDER_NAMES, type ProviderName } from './config.js';

/** A provider account: `<provider>` (its first account) or `<provider>@<n>` (its n-th, n ≥ 2). */
export type HostName = ProviderName | `${ProviderName}@${number}`;

/** The most accounts one provider may have (`<KEY>_2` … `<KEY>_20`). */
export const MAX_ACCOUNTS = 20;

const HOST_PATTERN = /^([a-z]+)(?:@([2-9]|1[0-9]|20))?$/;

/** The host of `provider`'s account number `account` (1-based; 1 is named as the provider). */
export function hostName(provider: ProviderName, account = 1): HostName {
  return account <= 1 ? provider : `${provider}@${account}`;
}

/** Whether `text` names a host: a provider name, alone or with `@2` … `@20`. */
export function isHostName(text: string): text is HostName {
  const match = HOST_PATTERN.exec(text);
  return match !== null && (PROVIDER_NAMES as readonly string[]).includes(match[1]!);
}

/** The provider of `host` (`openai@2` → `openai`). */
export function providerOf(host: HostName): ProviderName {
  const at = host.indexOf('@');
  return (at < 0 ? host : host.slice(0, at)) as ProviderName;
}

/** The account number of `host`, 1-based (`openai` → 1, `openai@2` → 2). */
export function accountOf(host: HostName): number {
  const at = host.indexOf('@');
  return at < 0 ? 1 : Number(host.slice(at + 1));
}

/** The host a job's row is on: its provider and account (job data `provider`, `account`; absent account: the first). */
export function hostOfJob(data: { provider: ProviderName; account?: number }): HostName {
  return hostName(data.provider, data.account ?? 1);
}
