/**
 * Oxen.ai's settings. It publishes no rate limit: 8 at once and 300 a minute are our conservative defaults
 * (shared/reference/providers.md §3).
 */
import { z } from 'zod';
import { commonSettingsShape, commonVariables } from '../provider-settings.js';

export const OXEN_SETTINGS = {
  keyVariable: 'OXEN_API_KEY',
  baseUrlVariable: 'OXEN_BASE_URL',
  schema: z.object({
    ...commonSettingsShape({
      baseUrl: 'https://hub.oxen.ai',
      concurrency: 8,
      requestsPerMinute: 300,
      // Oxen.ai documents no rate-limit numbers (shared/reference/providers.md §3) and asks for image polls every
      // 2–5 s (async_queue.mdx): 600/min.
      pollsPerMinute: 600,
    }),
    /** `queue` (async queue, resumable; default) or `sync` (blocking image endpoints). */
    mode: z.enum(['queue', 'sync']).default('queue'),
  }),
  variables: { ...commonVariables('OXEN', 'OXEN_API_KEY', 'OXEN_BASE_URL'), mode: 'OXEN_MODE' },
};
