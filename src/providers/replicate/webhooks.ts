/**
 * Replicate's webhook deliveries: the body is the prediction object (replicate.com/docs/topics/webhooks/receive-webhook),
 * signed per Standard Webhooks with the account's secret from `GET /v1/webhooks/default/secret` (`{key: "whsec_…"}`,
 * replicate-javascript `webhooks.default.secret.get`), fetched once and kept in memory only.
 */
import { getOnce, authorizedCallOptions } from '../http.js';
import { parseDelivery, type WebhookVerdict, type WebhookVerifier } from '../webhooks.js';
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
  let secret: Promise<string> | undefined;
  const fetchSecret = async (): Promise<string> => {
    const options = authorizedCallOptions(
      'replicate',
      { apiKey: settings.apiKey, keyVariable: REPLICATE_SETTINGS.keyVariable },
      { signal: AbortSignal.timeout(settings.timeoutMs) },
      settings.timeoutMs,
    );
    const answer = await getOnce(`${settings.baseUrl}/webhooks/default/secret`, options);
    const key = (answer.body as { key?: unknown } | undefined)?.key;
    if (answer.status !== 200 || typeof key !== 'string' || !key.startsWith('whsec_'))
      throw new Error(`Replicate answered ${answer.status} for the webhook signing secret`);
    return key;
  };
  return {
    provider: 'replicate',
    async verify(headers, body): Promise<WebhookVerdict> {
      let key: string;
      try {
        secret ??= fetchSecret();
        key = await secret;
      } catch (error) {
        secret = undefined;
        return { kind: 'rejected', status: 401, reason: `no signing secret: ${(error as Error).message}` };
      }
      const delivery = {
        id: headers['webhook-id'],
        timestamp: headers['webhook-timestamp'],
        signature: headers['webhook-signature'],
        body,
      };
      if (!verifyWebhook(delivery, key)) return { kind: 'rejected', status: 401, reason: 'bad signature' };
      const parsed = parseDelivery(body);
      if ('kind' in parsed) return parsed;
      const read = replicatePredictionSchema.safeParse(parsed.json);
      if (!read.success) return { kind: 'rejected', status: 400, reason: 'not a prediction' };
      const prediction = read.data;
      const finished = FINISHED.has(prediction.status);
      const output = prediction.output;
      const urls = Array.isArray(output) ? output : typeof output === 'string' ? [output] : [];
      // A succeeded prediction carries its output (the same object as `GET /predictions/{id}`); any other end is
      // settled by the job's own status call.
      if (prediction.status !== 'succeeded' || urls.length === 0)
        return { kind: 'accepted', requestId: prediction.id, finished };
      const images = urls.map((url) => ({ kind: 'url' as const, url }));
      return { kind: 'accepted', requestId: prediction.id, finished, images };
    },
  };
}
