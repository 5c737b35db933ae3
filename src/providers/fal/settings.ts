/** fal.ai's settings. New accounts run 2 requests at once (shared/reference/providers.md §2). */
import { z } from 'zod';
import { settingSchemas } from '../../shared/config.js';
import { commonSettingsShape, commonVariables } from '../provider-settings.js';

export const FAL_SETTINGS = {
  keyVariable: 'FAL_KEY',
  baseUrlVariable: 'FAL_QUEUE_URL',
  schema: z.object({
    ...commonSettingsShape({
      baseUrl: 'https://queue.fal.run',
      concurrency: 2,
      requestsPerMinute: 600,
      // fal publishes no limit on queue status calls (fal-js, docs.fal.ai): a conservative 1,200/min, 20 a second.
      pollsPerMinute: 1200,
    }),
    /** The REST host for storage uploads. */
    restUrl: settingSchemas.baseUrl('https://rest.fal.ai'),
    /** The platform API (`https://api.fal.ai/v1`: model pricing, used by `providers --check`). */
    platformUrl: settingSchemas.baseUrl('https://api.fal.ai/v1'),
    /** The public keys of fal's webhook signatures (docs.fal.ai/model-endpoints/webhooks, "Verifying your webhook"). */
    webhookJwksUrl: z.string().url().default('https://rest.alpha.fal.ai/.well-known/jwks.json'),
  }),
  variables: {
    ...commonVariables('FAL', 'FAL_KEY', 'FAL_QUEUE_URL'),
    restUrl: 'FAL_REST_URL',
    platformUrl: 'FAL_PLATFORM_URL',
    webhookJwksUrl: 'FAL_WEBHOOK_JWKS_URL',
  },
};
