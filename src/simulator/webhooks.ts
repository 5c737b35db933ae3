/**
 * Webhook deliveries of the simulated providers, signed as Replicate signs them (Standard Webhooks,
 * standardwebhooks.com: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of
 * "<id>.<timestamp>.<body>" keyed with the base64 after "whsec_">`), retried on failure (3 tries), and lost or
 * duplicated on demand for tests. Written from the specification, independently of the adapters. Deliveries go only
 * to this machine (loopback): no traffic leaves it.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { perSimulator } from './core.js';

/** How deliveries misbehave (tests set it). */
export interface WebhookBehaviour {
  /** Drop the next this many deliveries. */
  lose: number;
  /** Send the next this many deliveries twice. */
  duplicate: number;
}

/** The webhook sender of one simulator. */
export class WebhookSender {
  /** The signing secret (`GET /v1/webhooks/default/secret` on Replicate). */
  readonly secret = `whsec_${randomBytes(24).toString('base64')}`;
  behaviour: WebhookBehaviour = { lose: 0, duplicate: 0 };
  /** Deliveries answered 2xx, and deliveries dropped on purpose. */
  delivered = 0;
  lost = 0;

  /** Sign and POST `payload` to `url` (loopback only), up to 3 tries. */
  async deliver(url: string, payload: unknown): Promise<void> {
    if (!['127.0.0.1', 'localhost', '[::1]'].includes(new URL(url).hostname)) return;
    if (this.behaviour.lose > 0) {
      this.behaviour.lose -= 1;
      this.lost += 1;
      return;
    }
    const times = this.behaviour.duplicate > 0 ? 2 : 1;
    if (times === 2) this.behaviour.duplicate -= 1;
    const body = JSON.stringify(payload);
    const id = `msg_${randomUUID().replace(/-/g, '')}`;
    for (let copy = 0; copy < times; copy += 1) {
      for (let attempt = 0; attempt < 3; attempt += 1) {
        const timestamp = String(Math.floor(Date.now() / 1000));
        const key = Buffer.from(this.secret.slice('whsec_'.length), 'base64');
        const signature = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64');
        const answered = await fetch(url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'webhook-id': id,
            'webhook-timestamp': timestamp,
            'webhook-signature': `v1,${signature}`,
          },
          body,
        }).then(
          (response) => response.ok,
          () => false,
        );
        if (answered) {
          this.delivered += 1;
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 200 * 2 ** attempt));
      }
    }
  }
}

/** The webhook sender of `core`'s simulator. */
export const webhookSenderOf = perSimulator(() => new WebhookSender());
