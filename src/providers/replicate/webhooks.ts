/**
 * Replicate's webhook deliveries: the body is the prediction object (replicate.com/docs/topics/webhooks/receive-webhook),
 * signed per Standard Webhooks with the account's secret from `GET /v1/webhooks/default/secret` (`{key: "whsec_…"}`,
 * replicate-javascript `webhooks.default.secret.get`), fetched once and kept in memory only.
 */
import { parseDelivery, signingSecret, type WebhookVerdict, type WebhookVerifier } from '../webhooks.js';
import { verifyWebhook } from './webhook-signature.js';
import { REPLICATE_SETTINGS } from './settings.js';
import { replicatePredictionSchema } from './wire-schema.js';

/** Final prediction states (replicate.com/docs/topics/predictions/lifecycle). */
const FINISHED = new Set(['succeeded', 'failed', 'canceled', 'aborted']);

/** The verifier of Replicate deliveries, for the account of `settings`. */
export function replicateWebhookVerifier(settings: {
  apiKey: string | undefined;
  baseUrl: string;
  timeoutMs: number;
}): WebhookVerifier {
  const secret = signingSecret({
    provider: 'replicate',
    settings,
    keyVariable: REPLICATE_SETTINGS.keyVariable,
    path: '/webhooks/default/secret',
    read: (body) => {
      const key = (body as { key?: unknown } | undefined)?.key;
      return typeof key === 'string' && key.startsWith('whsec_') ? key : undefined;
    },
  });
  return {
    provider: 'replicate',
    verify: (headers, body) =>
      secret.verifyWith((key) => {
        const delivery = {
          id: headers['webhook-id'],
          timestamp: headers['webhook-timestamp'],
          signature: headers['webhook-signature'],
          body,
        };
        if (!verifyWebhook(delivery, key)) return { kind: 'rejected', status: 401, reason: 'bad signature' };
        return readPrediction(body);
      }),
  };
}

/** The prediction a verified delivery carries: its id, whether it ended, and a succeeded one's output. */
function readPrediction(body: Buffer): WebhookVerdict {
  const parsed = parseDelivery(body);
  if ('kind' in parsed) return parsed;
  const read = replicatePredictionSchema.safeParse(parsed.json);
  if (!read.success) return { kind: 'rejected', status: 400, reason: 'not a prediction' };
  const prediction = read.data;
  const finished = FINISHED.has(prediction.status);
  const output = prediction.output;
  const urls = Array.isArray(output) ? output : typeof output === 'string' ? [output] : [];
  // A succeeded prediction carries its output (the same object as `GET /predictions/{id}`); any other end is settled
  // by the job's own status call.
  if (prediction.status !== 'succeeded' || urls.length === 0)
    return { kind: 'accepted', requestId: prediction.id, finished };
  const images = urls.map((url) => ({ kind: 'url' as const, url }));
  return { kind: 'accepted', requestId: prediction.id, finished, images };
}
