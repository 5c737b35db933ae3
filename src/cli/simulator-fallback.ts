/**
 * `run` without API keys: the providers that have none are pointed at the built-in simulator, started in-process, so
 * the main job runs end to end on a fresh machine and nothing is billed.
 */
import { apiKeyVariable, withProviderSettings, type Config } from '../providers/configuration.js';
import type { ProviderName } from '../shared/config.js';
import type { ProviderSimulator } from '../simulator/server.js';
import { print, type CommandContext } from './context.js';

/**
 * When providers have no API key, start the simulator in-process and point those providers at it (without the real
 * providers' rate limits, which the simulator does not enforce), saying so on the first line of output.
 * @returns the configuration to use and the simulator to stop afterwards (undefined when every key is set).
 */
export async function useSimulatorWithoutKeys(
  context: CommandContext,
  providers: readonly ProviderName[],
): Promise<{ config: Config; simulator: ProviderSimulator | undefined }> {
  const missing = providers.filter((name) => context.config.providers[name].apiKey === undefined);
  if (missing.length === 0) return { config: context.config, simulator: undefined };
  const { ProviderSimulator, simulatorBaseUrls } = await import('../simulator/server.js');
  const simulator = new ProviderSimulator();
  const url = await simulator.start();
  const urls = simulatorBaseUrls(url);
  let config = context.config;
  for (const name of missing) {
    config = withProviderSettings(config, name, {
      apiKey: 'simulator',
      ...urls[name],
      requestsPerMinute: 60_000,
      concurrency: Math.max(context.config.providers[name].concurrency, 16),
      pollIntervalMs: Math.min(context.config.providers[name].pollIntervalMs, 200),
    });
  }
  print(
    context,
    `No API key set for ${missing.join(', ')} (${missing.map(apiKeyVariable).join(', ')}): ` +
      `using the built-in provider simulator at ${url}; nothing is billed.`,
  );
  return { config, simulator };
}
