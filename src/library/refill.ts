/**
 * Windowed ingest (issue 27) as the library runs it: the window an enqueue uses, and the refill a worker pool runs on a
 * timer (src/producer/refill.ts) — the worker room does not read manifests, so the library hands it this.
 */
import type { RedisConnection } from '../shared/redis.js';
import type { BatchStore } from '../batch/batch-store.js';
import type { PriceCatalogue } from '../cost/price-catalogue.js';
import { createProvider, hostsOf, type Config } from '../providers/configuration.js';
import { defaultWindow } from '../producer/ingest-window.js';
import { refillOpenBatches } from '../producer/refill.js';
import { PROVIDER_NAMES, type ProviderName } from '../shared/config.js';
import type { Logger } from '../shared/logger.js';

/**
 * `{ window }` for an enqueue: `--window N` (0: no window, every row's job at once), else the default from the rate
 * limits of the providers rows may go to (`--provider`, a `--providers` list, else every provider).
 */
export function windowOf(
  config: Config,
  options: { window?: number; provider?: ProviderName; providers?: ProviderName[] | 'auto' },
): { window?: number } {
  if (options.window === 0) return {};
  if (options.window !== undefined) return { window: options.window };
  const names =
    options.provider !== undefined
      ? [options.provider]
      : Array.isArray(options.providers)
        ? options.providers
        : PROVIDER_NAMES;
  const rates = names.flatMap((name) =>
    hostsOf(config, name).map(() => config.providers[name].requestsPerMinute),
  );
  return { window: defaultWindow(rates) };
}

/** The refill a worker pool calls: every open batch's cursor, checked with this process's adapters and prices. */
export function manifestRefill(
  config: Config,
  target: { redis: RedisConnection; store: BatchStore; catalogue: PriceCatalogue; log: Logger },
): () => Promise<number> {
  return () =>
    refillOpenBatches({
      redis: target.redis,
      store: target.store,
      queuePrefix: config.queuePrefix,
      providerFor: (name) => createProvider(name, config),
      catalogue: target.catalogue,
      accounts: (name) => hostsOf(config, name),
      log: target.log,
    });
}
