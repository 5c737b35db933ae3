/** WaveSpeedAI's settings. Bronze accounts make 2 images a minute, 2 at once (shared/reference/providers.md §5). */
import { z } from 'zod';
import { commonSettingsShape, commonVariables } from '../provider-settings.js';

export const WAVESPEED_SETTINGS = {
  keyVariable: 'WAVESPEED_API_KEY',
  baseUrlVariable: 'WAVESPEED_BASE_URL',
  schema: z.object(
    commonSettingsShape({
      baseUrl: 'https://api.wavespeed.ai',
      concurrency: 2,
      requestsPerMinute: 2,
      // WaveSpeedAI publishes limits on images and concurrent tasks, none on result polls (wavespeed.ai/docs/
      // account-levels): 600/min.
      pollsPerMinute: 600,
    }),
  ),
  variables: commonVariables('WAVESPEED', 'WAVESPEED_API_KEY', 'WAVESPEED_BASE_URL'),
};
