/**
 * Verifying a Replicate webhook: Replicate signs deliveries per Standard Webhooks (replicate-javascript README,
 * `validateWebhook`; standardwebhooks.com): headers `webhook-id`, `webhook-timestamp` (Unix seconds) and
 * `webhook-signature` (space-separated `v1,<base64>`), the signature an HMAC-SHA256 of `<id>.<timestamp>.<raw body>`
 * keyed with the base64 after `whsec_` of the secret from `GET /v1/webhooks/default/secret`. A delivery is authentic
 * when one signature matches (compared in constant time) and its timestamp is within `toleranceSeconds` of now
 * (replays refused).
 */
import { timingSafeEqual } from 'node:crypto';
import { webhookSignature } from '../../shared/standard-webhooks.js';

export { webhookSignature };

/** What a delivery carries, as received (the body byte for byte, before any JSON parsing). */
export interface WebhookDelivery {
  id: string | undefined;
  timestamp: string | undefined;
  signature: string | undefined;
  body: string | Buffer;
}

/**
 * Whether `delivery` is authentic under `secret`: headers present, timestamp within `toleranceSeconds` (default 300)
 * of `nowSeconds`, and one of its signatures matching.
 */
export function verifyWebhook(
  delivery: WebhookDelivery,
  secret: string,
  nowSeconds: number = Math.floor(Date.now() / 1000),
  toleranceSeconds = 300,
): boolean {
  const { id, timestamp, signature } = delivery;
  if (id === undefined || timestamp === undefined || signature === undefined) return false;
  if (!/^\d+$/.test(timestamp) || Math.abs(nowSeconds - Number(timestamp)) > toleranceSeconds) return false;
  const expected = Buffer.from(webhookSignature(secret, id, timestamp, delivery.body));
  return signature
    .split(' ')
    .map((candidate) => Buffer.from(candidate.trim()))
    .some((candidate) => candidate.length === expected.length && timingSafeEqual(candidate, expected));
}
