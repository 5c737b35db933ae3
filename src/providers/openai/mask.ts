/**
 * Masks as OpenAI reads them. A manifest's mask is white where the image is edited and black where it is kept (as
 * Oxen.ai and most tools read masks). OpenAI edits where the mask's **alpha is 0**: "An additional image whose fully
 * transparent areas (e.g. where alpha is zero) indicate where `image` should be edited … Must be a valid PNG file, less
 * than 4MB, and have the same dimensions as `image`" (openai-openapi `CreateImageEditRequest.mask`).
 */
import sharp from 'sharp';
import type { Resolution } from '../../shared/resolution.js';

/** Largest mask OpenAI takes, in bytes ("less than 4MB"). */
export const OPENAI_MAX_MASK_BYTES = 4 * 1024 * 1024;

/**
 * The mask for OpenAI: a PNG with an alpha channel, `size` pixels (the first input image's), alpha 0 where the
 * manifest's mask is white (edit) and 255 where it is black (keep), grey in between. A mask that already has
 * transparent pixels is taken to be in OpenAI's form and only resized.
 * @throws Error when the mask is not a readable image, or the converted PNG is not under 4 MB.
 */
export async function toOpenAIMask(mask: Buffer, size: Resolution): Promise<Buffer> {
  const { width, height } = size;
  const source = sharp(mask);
  const [metadata, stats] = await Promise.all([source.metadata(), sharp(mask).stats()]);
  const alphaChannel = metadata.hasAlpha === true ? stats.channels.at(-1) : undefined;
  let alpha: Buffer;
  if (alphaChannel !== undefined && alphaChannel.min < 255) {
    alpha = await sharp(mask)
      .resize(width, height, { fit: 'fill' })
      .ensureAlpha()
      .extractChannel(3)
      .raw()
      .toBuffer();
  } else {
    const grey = await sharp(mask)
      .flatten({ background: '#000000' })
      .resize(width, height, { fit: 'fill' })
      .greyscale()
      .extractChannel(0)
      .raw()
      .toBuffer();
    alpha = Buffer.alloc(grey.length);
    for (let index = 0; index < grey.length; index += 1) alpha[index] = 255 - grey[index]!;
  }
  const rgba = Buffer.alloc(width * height * 4);
  for (let index = 0; index < width * height; index += 1) rgba[index * 4 + 3] = alpha[index]!;
  const png = await sharp(rgba, { raw: { width, height, channels: 4 } })
    .png({ compressionLevel: 9 })
    .toBuffer();
  if (png.length >= OPENAI_MAX_MASK_BYTES) {
    throw new Error(`the mask converted for OpenAI is ${png.length} bytes; OpenAI takes masks under 4 MB`);
  }
  return png;
}
