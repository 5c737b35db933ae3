/**
 * The `pricing` object Oxen.ai serves with a model (`GET /api/ai/models/{id}`; Oxen-AI/docs
 * inference-api/reference/models/overview.mdx "Pricing", @edc2a51): `method` (`per_image` for image models) and
 * `cost_per_image`, a fixed USD cost per image. gpt-image-2's page also points to a `cost_per_image_grid` "for
 * per-tier pricing" (models/gpt-image-2.mdx, `resolution`), whose shape is not documented: it is read where it holds
 * a number for the row's tier (`1K`/`2K`/`4K`), either directly, by quality under the tier, or by tier under the
 * quality; otherwise `cost_per_image` applies. Amounts are USD per image.
 */
import type { Quality } from '../../shared/job-definitions.js';
import { recordOf } from '../check.js';

/** What the host serves: a flat price per image and/or a grid, as read. */
export interface OxenServedPricing {
  /** `cost_per_image`, USD, when a positive number. */
  costPerImage?: number;
  /** `cost_per_image_grid` as served (shape undocumented). */
  grid?: Record<string, unknown>;
}

/** The served pricing in a model object, or undefined when it has no usable per-image figure. */
export function readOxenPricing(model: unknown): OxenServedPricing | undefined {
  const pricing = recordOf(recordOf(model).pricing);
  const costPerImage = positive(pricing.cost_per_image);
  const grid = recordOf(pricing.cost_per_image_grid);
  const served: OxenServedPricing = {
    ...(costPerImage === undefined ? {} : { costPerImage }),
    ...(Object.keys(grid).length === 0 ? {} : { grid }),
  };
  return served.costPerImage === undefined && served.grid === undefined ? undefined : served;
}

/** USD per image the served pricing gives for `tier` (`1K`…) at `quality`, or undefined when it gives none. */
export function servedUsdPerImage(
  served: OxenServedPricing,
  tier: string,
  quality: Quality,
): number | undefined {
  if (served.grid !== undefined) {
    const byTier = lookup(served.grid, tier);
    const fromGrid =
      positive(byTier) ??
      positive(lookup(recordOf(byTier), quality)) ??
      positive(lookup(recordOf(lookup(served.grid, quality)), tier));
    if (fromGrid !== undefined) return fromGrid;
  }
  return served.costPerImage;
}

/** `record[key]`, the key matched without regard to case (`1K` / `1k`). */
function lookup(record: Record<string, unknown>, key: string): unknown {
  const found = Object.keys(record).find((name) => name.toLowerCase() === key.toLowerCase());
  return found === undefined ? undefined : record[found];
}

function positive(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : undefined;
}
