/**
 * WaveSpeedAI's own price of a run: `POST /api/v3/model/pricing` with `{model_id, inputs}` answers
 * `{code, message, data: {model_id, unit_price, currency}}`, "the price for one inference request with the provided
 * parameters" (wavespeed.ai/docs/docs-common-api/pricing, read 2026-12-02). It is free: with a key the adapter asks it
 * once per model × quality × resolution tier before rows are checked, and rows are priced from it; without one (or
 * when it fails) the built-in estimates stand (./pricing.ts).
 */
import { z } from 'zod';

export const WAVESPEED_PRICING_PATH = '/api/v3/model/pricing';

/** The answer of the pricing endpoint. */
export const wavespeedPriceSchema = z.object({
  code: z.number().optional(),
  data: z.object({ unit_price: z.number().positive(), currency: z.string().optional() }),
});

/** The key of a price cell: `<model>|<quality>|<tier>`. */
export function priceCellKey(model: string, quality: string, tier: string): string {
  return `${model}|${quality}|${tier.toLowerCase()}`;
}

/**
 * The inputs a price is asked for: the cheapest valid request of that quality and tier (a prompt, 1:1, and for an
 * edit one image URL), since the price depends only on the parameters that change the cost.
 */
export function pricingInputs(model: string, quality: string, tier: string): Record<string, unknown> {
  return {
    prompt: 'price',
    aspect_ratio: '1:1',
    resolution: tier,
    quality,
    ...(model.endsWith('/edit') ? { images: ['https://example.com/input.png'] } : {}),
  };
}
