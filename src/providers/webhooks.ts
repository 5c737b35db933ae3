/**
 * Webhooks, as the worker room sees them: a provider that can announce finished requests (fal `fal_webhook`, Replicate
 * `webhook` + `webhook_events_filter`, WaveSpeedAI `webhook`) gets the URL in its call context when a receiver is
 * running, and its folder's verifier reads a delivery — signature (where the provider signs), request id, and whether
 * the request has finished. A delivery only makes the parked request due for a status poll at once: the images and the
 * outcome come from the provider's own status answer — or, where the provider signs its deliveries (fal, Replicate),
 * from the verified delivery itself, which then saves the status calls; an unsigned delivery only ever costs one
 * early poll.
 */
import type { ProviderName } from '../shared/config.js';
import type { ProviderImage } from './provider.js';

/** What a delivery said, once read. */
export type WebhookVerdict =
  /**
   * Authentic; `finished` when the request reached a final state (a `start` or progress event is not); `images` when
   * a signed delivery carries a successful result (then it needs no status call; an unsigned one never does).
   */
  | { kind: 'accepted'; requestId: string; finished: boolean; images?: ProviderImage[] }
  /** Refused: 401 for a bad or missing signature, 400 for a body that is not the provider's delivery. */
  | { kind: 'rejected'; status: 400 | 401; reason: string };

/** Reads one provider's deliveries. */
export interface WebhookVerifier {
  readonly provider: ProviderName;
  /**
   * Verify and read a delivery: `headers` lower-cased as received, `body` byte for byte. Never throws; a signing key it
   * cannot fetch rejects the delivery (the provider retries it).
   */
  verify(headers: Readonly<Record<string, string | undefined>>, body: Buffer): Promise<WebhookVerdict>;
}

/** The body as JSON, or a 400 verdict. */
export function parseDelivery(body: Buffer): { json: unknown } | WebhookVerdict {
  try {
    return { json: JSON.parse(body.toString('utf8')) as unknown };
  } catch {
    return { kind: 'rejected', status: 400, reason: 'the body is not JSON' };
  }
}
