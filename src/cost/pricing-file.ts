/**
 * The user's own prices: a pricing file (JSON or YAML, `--pricing FILE` or IMAGE_BATCH_PRICING_FILE), validated with
 * zod, every bad field named with the file. Per provider, `per_image_usd` is one figure, a figure per resolution tier,
 * or a figure per size (optionally per quality); `per_input_image_usd` prices edit inputs.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { PROVIDER_NAMES } from '../shared/config.js';
import { ConfigurationError } from '../shared/errors.js';

const priceBySize = z.record(
  z.string().regex(/^\d+x\d+$/, 'sizes are WIDTHxHEIGHT'),
  z.union([
    z.number().nonnegative(),
    z
      .object({
        low: z.number().nonnegative(),
        medium: z.number().nonnegative(),
        high: z.number().nonnegative(),
        xhigh: z.number().nonnegative(),
        max: z.number().nonnegative(),
      })
      .partial(),
  ]),
);
const providerOverrideSchema = z
  .object({
    /** USD per image: one figure, by resolution tier, or by size (optionally by quality). */
    per_image_usd: z
      .union([
        z.number().nonnegative(),
        z
          .object({ standard: z.number().nonnegative(), 'high-resolution': z.number().nonnegative() })
          .partial()
          .strict(),
        priceBySize,
      ])
      .optional(),
    /** USD per input image of an edit. */
    per_input_image_usd: z.number().nonnegative().optional(),
    /** Where the figures come from (shown in reports). */
    source: z.string().optional(),
  })
  .strict();
const overrideFileSchema = z
  .object({ providers: z.partialRecord(z.enum(PROVIDER_NAMES), providerOverrideSchema) })
  .strict();
export type PricingOverride = z.infer<typeof overrideFileSchema>;

/**
 * Read and validate a pricing override file (JSON or YAML, by extension).
 * @throws ConfigurationError naming the file and every bad field.
 */
export async function loadPricingOverride(filePath: string): Promise<PricingOverride> {
  let text: string;
  try {
    text = await readFile(filePath, 'utf8');
  } catch (error) {
    throw new ConfigurationError(
      `pricing file ${filePath}: cannot read it (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  let data: unknown;
  try {
    data = /\.ya?ml$/i.test(path.extname(filePath)) ? parseYaml(text) : JSON.parse(text);
  } catch (error) {
    throw new ConfigurationError(
      `pricing file ${filePath}: not valid ${/\.ya?ml$/i.test(filePath) ? 'YAML' : 'JSON'} (${(error as Error).message})`,
    );
  }
  const parsed = overrideFileSchema.safeParse(data);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `  ${issue.path.join('.') || '(file)'}: ${issue.message}`,
    );
    throw new ConfigurationError(`pricing file ${filePath}:\n${problems.join('\n')}`);
  }
  return parsed.data;
}
