/** Environment that points every provider at a simulator, without real rate limits and with quick polling. */
import { PROVIDER_NAMES } from '../../src/shared/config.js';
import { apiKeyVariable, baseUrlVariable } from '../../src/providers/configuration.js';
import { simulatorBaseUrls } from '../../src/simulator/server.js';

export function simulatorEnvironment(origin: string, apiKey: string): Record<string, string> {
  const environment: Record<string, string> = {};
  const urls = simulatorBaseUrls(origin);
  for (const name of PROVIDER_NAMES) {
    const upper = name.toUpperCase();
    environment[apiKeyVariable(name)] = apiKey;
    environment[baseUrlVariable(name)] = urls[name].baseUrl;
    environment[`${upper}_REQUESTS_PER_MINUTE`] = '60000';
    environment[`${upper}_CONCURRENCY`] = '8';
    environment[`${upper}_POLL_INTERVAL_MS`] = '50';
  }
  environment.FAL_REST_URL = origin;
  environment.FAL_PLATFORM_URL = urls.fal.platformUrl!;
  environment.FAL_WEBHOOK_JWKS_URL = urls.fal.webhookJwksUrl!;
  return environment;
}
