/**
 * fal.ai's webhook deliveries (docs.fal.ai/model-endpoints/webhooks): the body is `{request_id, gateway_request_id,
 * status: "OK" | "ERROR", payload, error}`, sent once the request is done, and signed: headers
 * `x-fal-webhook-request-id`, `x-fal-webhook-user-id`, `x-fal-webhook-timestamp` (Unix seconds, within 5 minutes) and
 * `x-fal-webhook-signature`, a hex ED25519 signature of "<request id>\n<user id>\n<timestamp>\n<hex SHA-256 of the
 * body>" by one of the keys of fal's JWKS (`https://rest.alpha.fal.ai/.well-known/jwks.json`, keys may rotate: kept
 * at most 24 hours).
 */
import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { getOnce } from '../http.js';
import { parseDelivery, type WebhookVerdict, type WebhookVerifier } from '../webhooks.js';
import { falResultSchema } from './wire-schema.js';

/** How long fetched keys are used before fetching again, ms (fal: keys may rotate; cache at most 24 h). */
const KEYS_KEPT_MS = 24 * 3600_000;
/** How far a delivery's timestamp may be from now, seconds. */
const TOLERANCE_SECONDS = 300;

/** The ED25519 public keys of a JWKS. @throws Error when it holds none. */
function keysOf(jwks: unknown): KeyObject[] {
  const keys = (jwks as { keys?: unknown } | undefined)?.keys;
  const found = (Array.isArray(keys) ? keys : [])
    .filter((key): key is { x: string } => typeof (key as { x?: unknown }).x === 'string')
    .map((key) =>
      // fal's JWKS has been seen padding `x` with "="; base64url decoding ignores it.
      createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: key.x.replace(/=+$/, '') }, format: 'jwk' }),
    );
  if (found.length === 0) throw new Error('the JWKS holds no ED25519 key');
  return found;
}

/** The verifier of fal deliveries, with keys from `jwksUrl`. */
export function falWebhookVerifier(settings: { webhookJwksUrl: string; timeoutMs: number }): WebhookVerifier {
  let keys: { fetchedAt: number; keys: Promise<KeyObject[]> } | undefined;
  const currentKeys = async (): Promise<KeyObject[]> => {
    if (keys === undefined || Date.now() - keys.fetchedAt > KEYS_KEPT_MS) {
      const fetching = getOnce(settings.webhookJwksUrl, {
        provider: 'fal',
        timeoutMs: settings.timeoutMs,
      }).then((answer) => {
        if (answer.status !== 200) throw new Error(`fal answered ${answer.status} for its JWKS`);
        return keysOf(answer.body);
      });
      keys = { fetchedAt: Date.now(), keys: fetching };
    }
    return keys.keys;
  };
  return {
    provider: 'fal',
    async verify(headers, body): Promise<WebhookVerdict> {
      const requestId = headers['x-fal-webhook-request-id'];
      const userId = headers['x-fal-webhook-user-id'];
      const timestamp = headers['x-fal-webhook-timestamp'];
      const signature = headers['x-fal-webhook-signature'];
      if (!requestId || !userId || !timestamp || !signature || !/^[0-9a-f]+$/i.test(signature))
        return { kind: 'rejected', status: 401, reason: 'signature headers missing' };
      if (!/^\d+$/.test(timestamp) || Math.abs(Date.now() / 1000 - Number(timestamp)) > TOLERANCE_SECONDS)
        return { kind: 'rejected', status: 401, reason: 'timestamp too far from now' };
      const digest = createHash('sha256').update(body).digest('hex');
      const message = Buffer.from([requestId, userId, timestamp, digest].join('\n'));
      let candidates: KeyObject[];
      try {
        candidates = await currentKeys();
      } catch (error) {
        keys = undefined;
        return { kind: 'rejected', status: 401, reason: `no signing keys: ${(error as Error).message}` };
      }
      const signed = Buffer.from(signature, 'hex');
      if (!candidates.some((key) => verify(null, message, key, signed)))
        return { kind: 'rejected', status: 401, reason: 'bad signature' };
      const parsed = parseDelivery(body);
      if ('kind' in parsed) return parsed;
      const delivery = parsed.json as { request_id?: unknown; status?: unknown; payload?: unknown } | null;
      if (delivery?.request_id !== requestId)
        return { kind: 'rejected', status: 400, reason: 'request_id differs from the signed one' };
      // `status: "OK"` with the result as `payload` (the same shape as the result endpoint's); an error is settled by
      // the job's own status call, which reads fal's error answer.
      const result = delivery.status === 'OK' ? falResultSchema.safeParse(delivery.payload) : undefined;
      if (result?.success !== true) return { kind: 'accepted', requestId, finished: true };
      const images = result.data.images.map((image) => ({ kind: 'url' as const, url: image.url }));
      return { kind: 'accepted', requestId, finished: true, images };
    },
  };
}
