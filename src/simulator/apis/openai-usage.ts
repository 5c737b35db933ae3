/**
 * The `usage` the simulated OpenAI reports, computed the way OpenAI is understood to bill, so that actual-cost figures
 * on the simulator are realistic rather than random.
 *
 * Output image tokens: the community formula that reproduces OpenAI's published examples (longform.social, collected
 * in shared/reference/providers.md "Corrections"): q = 16/48/96 for low/medium/high, s = ⌊(2·q·short + long) /
 * (2·long)⌋, tokens = ⌈q·s·(2,000,000 + W·H) / 4,000,000⌉ (1024x1024 high → 7,024; 1536x1024 high → 5,488). GPT Image
 * 2.5's `xhigh`/`max` have no published figure: the simulator's picture is q = 128 and 160. Input images, each billed
 * on its own (community.openai.com thread 1382940): magnified at most 2x toward a 1,024 px long side, the canvas
 * capped at 3:1, counted in 32 px patches, shrunk to at most 1,536 patches. Text: about 4 characters a token. `n`
 * images are billed as `n` calls (same thread): the input side is counted once per image.
 */
import sharp from 'sharp';

const QUALITY_FACTOR: Record<string, number> = { low: 16, medium: 48, high: 96, xhigh: 128, max: 160 };

/** Image output tokens of one image of `size` at `quality`. */
export function outputImageTokens(size: { width: number; height: number }, quality: string): number {
  const q = QUALITY_FACTOR[quality] ?? 96;
  const short = Math.min(size.width, size.height);
  const long = Math.max(size.width, size.height);
  const s = Math.floor((2 * q * short + long) / (2 * long));
  return Math.ceil((q * s * (2_000_000 + size.width * size.height)) / 4_000_000);
}

/** Image input tokens of one input image of `size` (see the top of this file). */
export function inputImageTokens(size: { width: number; height: number }): number {
  const budget = 1536;
  const long = Math.max(size.width, size.height);
  const magnify = long < 1024 ? Math.min(2, 1024 / long) : 1;
  let width = size.width * magnify;
  let height = size.height * magnify;
  width = Math.max(width, height / 3);
  height = Math.max(height, width / 3);
  const count = (w: number, h: number) => Math.ceil(w / 32) * Math.ceil(h / 32);
  if (count(width, height) <= budget) return count(width, height);
  let scale = Math.sqrt((budget * 1024) / (width * height));
  scale *= Math.min(
    Math.floor((width * scale) / 32) / ((width * scale) / 32),
    Math.floor((height * scale) / 32) / ((height * scale) / 32),
  );
  return count(Math.floor(width * scale), Math.floor(height * scale));
}

/** The `usage` object of an answer (openai-openapi `ImageGenUsage` with `output_tokens_details`). */
export function openaiUsage(ask: {
  prompt: string;
  /** Sizes of the input images of an edit. */
  inputSizes: Array<{ width: number; height: number }>;
  size: { width: number; height: number };
  quality: string;
  count: number;
}): Record<string, unknown> {
  const textTokens = Math.ceil(ask.prompt.length / 4) * ask.count;
  const imageTokens = ask.inputSizes.reduce((sum, size) => sum + inputImageTokens(size), 0) * ask.count;
  const outputImage = outputImageTokens(ask.size, ask.quality) * ask.count;
  return {
    input_tokens: textTokens + imageTokens,
    input_tokens_details: { text_tokens: textTokens, image_tokens: imageTokens },
    output_tokens: outputImage,
    output_tokens_details: { image_tokens: outputImage, text_tokens: 0 },
    total_tokens: textTokens + imageTokens + outputImage,
  };
}

/** The pixel sizes of the input images (unreadable ones count as 1024x1024). */
export async function imageSizes(images: Buffer[]): Promise<Array<{ width: number; height: number }>> {
  return Promise.all(
    images.map(async (bytes) => {
      const metadata = await sharp(bytes)
        .metadata()
        .catch(() => undefined);
      return { width: metadata?.width ?? 1024, height: metadata?.height ?? 1024 };
    }),
  );
}

/**
 * The body of an Images API answer (openai-openapi `ImagesResponse`): the images as `b64_json`, format, quality, size
 * and the `usage` of the call (inputs measured from their real sizes).
 */
export async function imagesResponseBody(answer: {
  images: Buffer[];
  inputs: Buffer[];
  prompt: string;
  ask: { size: { width: number; height: number }; format: string; quality: string };
}): Promise<Record<string, unknown>> {
  const quality = answer.ask.quality === 'auto' ? 'high' : answer.ask.quality;
  const { size } = answer.ask;
  return {
    created: Math.floor(Date.now() / 1000),
    data: answer.images.map((bytes) => ({ b64_json: bytes.toString('base64') })),
    output_format: answer.ask.format,
    quality,
    size: `${size.width}x${size.height}`,
    usage: openaiUsage({
      prompt: answer.prompt,
      inputSizes: await imageSizes(answer.inputs),
      size,
      quality,
      count: answer.images.length,
    }),
  };
}
