/**
 * Oxen.ai's prices. Oxen publishes no amounts in its docs (shared/reference/providers.md §3): with a key set, the
 * adapter reads the `pricing` object the model endpoint serves (`cost_per_image`, `cost_per_image_grid`:
 * ./served-pricing.ts) and rows are priced from it; without one, they are estimated from OpenAI's tokens, labelled so.
 */
import { estimatedFromOpenAI } from '../gpt-image-tokens.js';
import type { ProviderPricing } from '../pricing.js';

export const OXEN_PRICING: ProviderPricing = {
  ...estimatedFromOpenAI('Oxen.ai', 'shared/reference/providers.md §3; read from the host when a key is set'),
  servedPriceSource: {
    url: 'https://hub.oxen.ai/api/ai/models/gpt-image-2',
    readOn: '',
    note: "the model's `pricing` object (cost_per_image, cost_per_image_grid) as the host served it when the row was enqueued (Oxen-AI/docs inference-api/reference/models/overview.mdx)",
  },
};
