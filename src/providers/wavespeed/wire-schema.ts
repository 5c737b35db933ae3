/**
 * WaveSpeedAI openai/gpt-image-2, wire format as documented.
 *
 * Sources: wavespeed.ai/models/openai/gpt-image-2/edit/llms.txt, wavespeed.ai/docs/shared/api-result,
 * wavespeed-javascript `src/api/client.ts`, the seed shared/seeds/wavespeed-gpt-image-2-edit.txt
 * (shared/reference/providers.md §5).
 */
import { z } from 'zod';
import type { Resolution } from '../../shared/resolution-tier.js';
import { aspectRatioOf, sizeForAspectRatio } from '../size-rules.js';

export const WAVESPEED_EDIT_PATH = '/api/v3/openai/gpt-image-2/edit';
export const WAVESPEED_GENERATE_PATH = '/api/v3/openai/gpt-image-2/text-to-image';
/** Current `aspect_ratio` values; the seed listed only 1:1, 2:3, 3:2. */
export const WAVESPEED_ASPECT_RATIOS = [
  '1:1',
  '1:2',
  '2:1',
  '1:3',
  '3:1',
  '2:3',
  '3:2',
  '3:4',
  '4:3',
  '4:5',
  '5:4',
  '9:16',
  '16:9',
  '9:21',
  '21:9',
] as const;
export const WAVESPEED_RESOLUTIONS = ['1k', '2k', '4k'] as const;
export const WAVESPEED_QUALITIES = ['low', 'medium', 'high'] as const;
export const WAVESPEED_OUTPUT_FORMATS = ['png', 'jpeg', 'webp'] as const;
/**
 * Longer edge of each `resolution` tier, in pixels. WaveSpeed does not publish exact output sizes (UNCONFIRMED in
 * providers.md); this is our model of them, used to reject rows whose size the tier cannot produce.
 */
export const WAVESPEED_LONG_EDGE: Record<(typeof WAVESPEED_RESOLUTIONS)[number], number> = {
  '1k': 1024,
  '2k': 2048,
  '4k': 3840,
};

/** The aspect ratio and tier that produce exactly `size`, or undefined. */
export function wavespeedSizeParameters(
  size: Resolution,
): { aspect_ratio: string; resolution: '1k' | '2k' | '4k' } | undefined {
  const ratio = aspectRatioOf(size);
  if (!(WAVESPEED_ASPECT_RATIOS as readonly string[]).includes(ratio)) return undefined;
  for (const tier of WAVESPEED_RESOLUTIONS) {
    const produced = sizeForAspectRatio(ratio, WAVESPEED_LONG_EDGE[tier]);
    if (produced.width === size.width && produced.height === size.height)
      return { aspect_ratio: ratio, resolution: tier };
  }
  return undefined;
}

/** Body of the edit and text-to-image submissions. */
export const wavespeedBodySchema = z
  .object({
    prompt: z.string().min(1),
    images: z.array(z.string().min(1)).min(1).optional(),
    aspect_ratio: z.enum(WAVESPEED_ASPECT_RATIOS).optional(),
    resolution: z.enum(WAVESPEED_RESOLUTIONS).optional(),
    quality: z.enum(WAVESPEED_QUALITIES).optional(),
    output_format: z.enum(WAVESPEED_OUTPUT_FORMATS).optional(),
    enable_sync_mode: z.boolean().optional(),
    enable_base64_output: z.boolean().optional(),
  })
  .strict();
export type WavespeedBody = z.infer<typeof wavespeedBodySchema>;

/** The `{code, message, data}` envelope of submit and result answers. */
export const wavespeedEnvelopeSchema = z.object({
  code: z.number(),
  message: z.string().optional(),
  data: z
    .object({
      id: z.string(),
      model: z.string().optional(),
      outputs: z.array(z.string()).default([]),
      urls: z.object({ get: z.string().optional() }).partial().optional(),
      status: z.enum(['created', 'processing', 'completed', 'failed', 'cancelled', 'timeout']),
      error: z.string().nullable().optional(),
    })
    .nullable()
    .optional(),
});
