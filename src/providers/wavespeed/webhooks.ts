/**
 * WaveSpeedAI's webhook deliveries, verified as wavespeed.ai/docs/docs-api/verifying_webhook (read 2026-12-02) says:
 * headers `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature: v3,<hex HMAC-SHA256>` of
 * `{webhook-id}.{webhook-timestamp}.{raw body}`, keyed with the account's secret from `GET /api/v3/webhook/secret`
 * without its `whsec_` prefix, used as it is (not base64-decoded); deliveries older than 300 s are refused
 * (`WebhookMaxAgeSeconds`). The secret is fetched once and kept in memory only. The body is the prediction (`id`,
 * `status`, `outputs`: wavespeed.ai/docs/how-to-use-webhooks), bare or in the API's `{code, message, data}` envelope;
 * a verified delivery of a completed prediction carries its images, so no status call is needed.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { parseDelivery, signingSecret, type WebhookVerdict, type WebhookVerifier } from '../webhooks.js';
import { WAVESPEED_SETTINGS } from './settings.js';

/** Where the signing secret is served (wavespeed.ai/docs/docs-api/verifying_webhook). */
export const WAVESPEED_WEBHOOK_SECRET_PATH = '/api/v3/webhook/secret';
/** Oldest delivery accepted, seconds (`WebhookMaxAgeSeconds = 300`). */
const TOLERANCE_SECONDS = 300;

/** The `v3,<hex>` signature of a delivery under `secret` (`whsec_…` or bare). */
export function wavespeedSignature(
  secret: string,
  id: string,
  timestamp: string,
  body: string | Buffer,
): string {
  const key = secret.replace(/^whsec_/, '');
  const signed = Buffer.concat([Buffer.from(`${id}.${timestamp}.`), Buffer.from(body)]);
  return `v3,${createHmac('sha256', key).update(signed).digest('hex')}`;
}

/**
 * Whether a delivery is authentic under `secret`: all three headers present, its timestamp within 300 s of
 * `nowSeconds`, and its signature matching (compared in constant time).
 */
export function verifyWavespeedDelivery(
  headers: Readonly<Record<string, string | undefined>>,
  body: string | Buffer,
  secret: string,
  nowSeconds: number = Math.floor(Date.now() / 1000),
): boolean {
  const id = headers['webhook-id'];
  const timestamp = headers['webhook-timestamp'];
  const signature = headers['webhook-signature'];
  if (id === undefined || timestamp === undefined || signature === undefined) return false;
  if (!/^\d+$/.test(timestamp) || Math.abs(nowSeconds - Number(timestamp)) > TOLERANCE_SECONDS) return false;
  const expected = Buffer.from(wavespeedSignature(secret, id, timestamp, body));
  const given = Buffer.from(signature.trim());
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * The secret in an answer of `GET /api/v3/webhook/secret`. The page shows the call, not its answer: read as the API's
 * envelope (`data.secret`, or `data` itself as text) or a bare `{secret}`.
 */
export function readWebhookSecret(body: unknown): string | undefined {
  const record = (value: unknown) =>
    typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  const data = record(body).data;
  const candidates = [record(data).secret, record(data).webhook_secret, data, record(body).secret];
  return candidates.find((value): value is string => typeof value === 'string' && value.length > 0);
}

/** The verifier of WaveSpeedAI deliveries, for the account of `settings`. */
export function wavespeedWebhookVerifier(settings: {
  apiKey: string | undefined;
  baseUrl: string;
  timeoutMs: number;
}): WebhookVerifier {
  const secret = signingSecret({
    provider: 'wavespeed',
    settings,
    keyVariable: WAVESPEED_SETTINGS.keyVariable,
    path: WAVESPEED_WEBHOOK_SECRET_PATH,
    read: readWebhookSecret,
  });
  return {
    provider: 'wavespeed',
    verify: (headers, body) =>
      secret.verifyWith((key) =>
        verifyWavespeedDelivery(headers, body, key)
          ? readPrediction(body)
          : { kind: 'rejected', status: 401, reason: 'bad signature' },
      ),
  };
}

/** The prediction a verified delivery carries: its id, whether it ended, and a completed one's images. */
function readPrediction(body: Buffer): WebhookVerdict {
  const parsed = parseDelivery(body);
  if ('kind' in parsed) return parsed;
  const outer = parsed.json as { id?: unknown; data?: unknown };
  const prediction = (typeof outer?.id === 'string' ? outer : outer?.data) as
    { id?: unknown; status?: unknown; outputs?: unknown } | undefined;
  if (typeof prediction?.id !== 'string') return { kind: 'rejected', status: 400, reason: 'no task id' };
  const finished = prediction.status === 'completed' || prediction.status === 'failed';
  const outputs = Array.isArray(prediction.outputs)
    ? prediction.outputs.filter((output): output is string => typeof output === 'string')
    : [];
  if (prediction.status !== 'completed' || outputs.length === 0)
    return { kind: 'accepted', requestId: prediction.id, finished };
  const images = outputs.map((url) => ({ kind: 'url' as const, url }));
  return { kind: 'accepted', requestId: prediction.id, finished, images };
}
