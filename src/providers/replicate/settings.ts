/** Replicate's settings. It allows 600 prediction creations a minute (shared/reference/providers.md §4). */
import { z } from 'zod';
import { commonSettingsShape, commonVariables } from '../provider-settings.js';

export const REPLICATE_SETTINGS = {
  keyVariable: 'REPLICATE_API_TOKEN',
  baseUrlVariable: 'REPLICATE_BASE_URL',
  schema: z.object(
    commonSettingsShape({
      baseUrl: 'https://api.replicate.com/v1',
      concurrency: 8,
      requestsPerMinute: 600,
      // "3000 requests per minute" for every endpoint but creating predictions
      // (replicate.com/docs/topics/predictions/rate-limits).
      pollsPerMinute: 3000,
    }),
  ),
  variables: commonVariables('REPLICATE', 'REPLICATE_API_TOKEN', 'REPLICATE_BASE_URL'),
};
