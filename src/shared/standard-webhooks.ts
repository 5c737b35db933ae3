/**
 * Standard Webhooks signing (standardwebhooks.com, spec "Signature scheme"; the scheme Replicate signs with,
 * replicate-javascript README `validateWebhook`): headers `webhook-id`, `webhook-timestamp` (Unix seconds) and
 * `webhook-signature` (space-separated `v1,<base64>`), each signature an HMAC-SHA256 of `<id>.<timestamp>.<raw body>`
 * keyed with the base64-decoded part of the secret after `whsec_`. Used to verify Replicate's deliveries
 * (src/providers/replicate/webhook-signature.ts) and to sign the events image-batch sends (src/batch/notifications).
 */
import { createHmac } from 'node:crypto';

/** The signature of a message under `secret` (`whsec_<base64>`), as `v1,<base64>`. */
export function webhookSignature(
  secret: string,
  id: string,
  timestamp: string,
  body: string | Buffer,
): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const signed = Buffer.concat([Buffer.from(`${id}.${timestamp}.`), Buffer.from(body)]);
  return `v1,${createHmac('sha256', key).update(signed).digest('base64')}`;
}

/** Fewest key bytes a signing secret must hold (the spec: "between 24 bytes and 64 bytes"). */
export const MIN_SECRET_BYTES = 24;

/**
 * Whether `value` is a Standard Webhooks signing secret: `whsec_` then base64 of 24 to 64 bytes (make one with
 * `echo "whsec_$(openssl rand -base64 32)"`).
 */
export function isWebhookSecret(value: string): boolean {
  const match = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(value);
  if (match === null) return false;
  const bytes = Buffer.from(match[1]!, 'base64').length;
  return bytes >= MIN_SECRET_BYTES && bytes <= 64;
}

/** The headers of a signed delivery of `body` with message id `id` at `timestampSeconds`. */
export function signedHeaders(
  secret: string,
  id: string,
  timestampSeconds: number,
  body: string,
): Record<'webhook-id' | 'webhook-timestamp' | 'webhook-signature', string> {
  const timestamp = String(timestampSeconds);
  return {
    'webhook-id': id,
    'webhook-timestamp': timestamp,
    'webhook-signature': webhookSignature(secret, id, timestamp, body),
  };
}
