/**
 * WaveSpeedAI's webhook deliveries (wavespeed.ai/docs/how-to-use-webhooks): POSTed once a task completes or fails;
 * the page shows no signature, so nothing is verified — harmless here, since a delivery only makes its request due for
 * a status poll (../webhooks.ts). Our reading of the body: the prediction (`id`, `status`), bare or inside the API's
 * `{code, message, data}` envelope.
 */
import { parseDelivery, type WebhookVerdict, type WebhookVerifier } from '../webhooks.js';

/** The verifier (reader) of WaveSpeedAI deliveries. */
export function wavespeedWebhookVerifier(): WebhookVerifier {
  return {
    provider: 'wavespeed',
    verify(_headers, body): Promise<WebhookVerdict> {
      const parsed = parseDelivery(body);
      if ('kind' in parsed) return Promise.resolve(parsed);
      const outer = parsed.json as {
        id?: unknown;
        status?: unknown;
        data?: { id?: unknown; status?: unknown };
      };
      const prediction = typeof outer?.id === 'string' ? outer : outer?.data;
      if (typeof prediction?.id !== 'string')
        return Promise.resolve({ kind: 'rejected', status: 400, reason: 'no task id' });
      return Promise.resolve({
        kind: 'accepted',
        requestId: prediction.id,
        finished: prediction.status === 'completed' || prediction.status === 'failed',
      });
    },
  };
}
