/**
 * Where a batch's events go is itself a secret (a Slack incoming-webhook URL carries its token), and secrets never
 * enter Redis in the clear. The URL is kept in the batch's records sealed: AES-256-GCM under a key derived (HKDF-SHA256)
 * from the signing secret, which every process that sends events holds (IMAGE_BATCH_NOTIFY_SECRET). A process with
 * another secret cannot open it, and a changed record fails its authentication tag.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

const VERSION = 'v1';
const INFO = 'image-batch notification target';

function keyOf(secret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(secret), Buffer.alloc(0), INFO, 32));
}

/** `url` sealed under `secret`: `v1.<base64url of iv (12 bytes), tag (16 bytes), ciphertext>`. */
export function sealTarget(url: string, secret: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyOf(secret), iv);
  const sealed = Buffer.concat([cipher.update(url, 'utf8'), cipher.final()]);
  return `${VERSION}.${Buffer.concat([iv, cipher.getAuthTag(), sealed]).toString('base64url')}`;
}

/** The URL of `sealed`, or undefined when `secret` is not the one it was sealed with (or the record was changed). */
export function openTarget(sealed: string, secret: string): string | undefined {
  const [version, payload] = sealed.split('.', 2);
  if (version !== VERSION || payload === undefined) return undefined;
  const bytes = Buffer.from(payload, 'base64url');
  if (bytes.length < 29) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', keyOf(secret), bytes.subarray(0, 12));
    decipher.setAuthTag(bytes.subarray(12, 28));
    return Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}
