/**
 * OpenAI's settings. Tier 1 makes 5 images a minute (shared/reference/providers.md §1). The call deadline is
 * openai-node's default of 10 minutes (src/client.ts): high-quality 3840x2160 images take minutes, and a synchronous
 * call cut short is paid for and never re-sent.
 */
import { z } from 'zod';
import { commonSettingsShape, commonVariables } from '../provider-settings.js';

export const OPENAI_SETTINGS = {
  keyVariable: 'OPENAI_API_KEY',
  baseUrlVariable: 'OPENAI_BASE_URL',
  schema: z.object(
    commonSettingsShape({
      baseUrl: 'https://api.openai.com/v1',
      concurrency: 5,
      requestsPerMinute: 5,
      timeoutMs: 600_000,
      // Realtime calls are synchronous (no polls); the Batch API reads a batch's status every few seconds at most.
      pollsPerMinute: 600,
    }),
  ),
  variables: commonVariables('OPENAI', 'OPENAI_API_KEY', 'OPENAI_BASE_URL'),
};
