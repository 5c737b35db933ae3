/**
 * Webhook deliveries of the simulated providers, each signed as its provider signs it, retried on failure (3 tries),
 * and lost, duplicated or delayed out of order on demand for tests. Written from the providers' documents, independently
 * of the adapters. Deliveries go only to this machine (loopback): no traffic leaves it.
 *
 * - Replicate: Standard Webhooks (standardwebhooks.com): `webhook-id`, `webhook-timestamp`, `webhook-signature:
 *   v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>" keyed with the base64 after "whsec_">`.
 * - fal.ai (docs.fal.ai/model-endpoints/webhooks, "Verifying your webhook"): `X-Fal-Webhook-Request-Id`,
 *   `X-Fal-Webhook-User-Id`, `X-Fal-Webhook-Timestamp` (seconds), `X-Fal-Webhook-Signature`: hex ED25519 signature of
 *   "<request id>\n<user id>\n<timestamp>\n<hex SHA-256 of the body>", verifiable with a key of the JWKS fal serves
 *   at `/.well-known/jwks.json`.
 * - WaveSpeedAI (wavespeed.ai/docs/docs-api/verifying_webhook): `webhook-id`, `webhook-timestamp`, `webhook-signature:
 *   v3,<hex HMAC-SHA256 of "<id>.<timestamp>.<body>">`, keyed with the secret after "whsec_" taken as it is.
 */
import { createHash, createHmac, generateKeyPairSync, randomBytes, randomUUID, sign } from 'node:crypto';
import { perSimulator, type SimulatedTask } from './core.js';

/** How deliveries misbehave (tests set it). */
export interface WebhookBehaviour {
  /** Drop the next this many deliveries. */
  lose: number;
  /** Send the next this many deliveries twice. */
  duplicate: number;
  /** Hold each delivery back a random 0 to this many ms, so deliveries arrive out of order. */
  jitterMs: number;
}

/** How a delivery is signed. */
export type WebhookSigning = 'standard-webhooks' | 'fal' | 'wavespeed' | 'unsigned';

/** The fal user id the simulator signs as. */
const FAL_USER_ID = 'simulated-user';

/** The webhook sender of one simulator. */
export class WebhookSender {
  /** The signing secret (`GET /v1/webhooks/default/secret` on Replicate, `GET /api/v3/webhook/secret` on WaveSpeedAI). */
  readonly secret = `whsec_${randomBytes(24).toString('base64')}`;
  /** fal's signing key pair; its public half is served as a JWKS. */
  private readonly falKeys = generateKeyPairSync('ed25519');
  behaviour: WebhookBehaviour = { lose: 0, duplicate: 0, jitterMs: 0 };
  /** Deliveries answered 2xx, and deliveries dropped on purpose. */
  delivered = 0;
  lost = 0;

  /** fal's public keys as the JWKS at `/.well-known/jwks.json` serves them. */
  falJwks(): { keys: Array<Record<string, unknown>> } {
    const jwk = this.falKeys.publicKey.export({ format: 'jwk' });
    return { keys: [{ ...jwk, kid: 'simulated-1', alg: 'EdDSA', use: 'sig' }] };
  }

  /** Deliver `payloadOf(task)` to `url` once `task` has finished (its images made, its time up). */
  deliverWhenDone(
    task: SimulatedTask,
    url: string,
    signing: WebhookSigning,
    payloadOf: (task: SimulatedTask) => unknown,
  ): void {
    void task.ready.then(async () => {
      const jitter = Math.random() * this.behaviour.jitterMs;
      // A timer may fire a millisecond early: wait until the task has surely finished.
      while (Date.now() <= task.finishesAt)
        await new Promise((resolve) => setTimeout(resolve, task.finishesAt - Date.now() + 1));
      await new Promise((resolve) => setTimeout(resolve, jitter));
      await this.deliver(url, payloadOf(task), signing, task.id);
    });
  }

  /** Sign and POST `payload` to `url` (loopback only), up to 3 tries. */
  async deliver(
    url: string,
    payload: unknown,
    signing: WebhookSigning = 'standard-webhooks',
    requestId = '',
  ): Promise<void> {
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
        const answered = await fetch(url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            ...this.signatureHeaders(signing, id, requestId, body),
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

  private signatureHeaders(
    signing: WebhookSigning,
    id: string,
    requestId: string,
    body: string,
  ): Record<string, string> {
    const timestamp = String(Math.floor(Date.now() / 1000));
    if (signing === 'standard-webhooks') {
      const key = Buffer.from(this.secret.slice('whsec_'.length), 'base64');
      const signature = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64');
      return { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': `v1,${signature}` };
    }
    if (signing === 'wavespeed') {
      const key = this.secret.slice('whsec_'.length);
      const signature = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('hex');
      return { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': `v3,${signature}` };
    }
    if (signing === 'fal') {
      const digest = createHash('sha256').update(body).digest('hex');
      const message = Buffer.from([requestId, FAL_USER_ID, timestamp, digest].join('\n'));
      return {
        'x-fal-webhook-request-id': requestId,
        'x-fal-webhook-user-id': FAL_USER_ID,
        'x-fal-webhook-timestamp': timestamp,
        'x-fal-webhook-signature': sign(null, message, this.falKeys.privateKey).toString('hex'),
      };
    }
    return {};
  }
}

/** The webhook sender of `core`'s simulator. */
export const webhookSenderOf = perSimulator(() => new WebhookSender());
