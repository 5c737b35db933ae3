import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { verifyWebhook, webhookSignature } from '../../src/providers/replicate/webhook-signature.js';
import {
  readWebhookSecret,
  verifyWavespeedDelivery,
  wavespeedSignature,
} from '../../src/providers/wavespeed/webhooks.js';

// The Standard Webhooks specification's example (standardwebhooks.com; the same vector in svix's docs).
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const ID = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
const TIMESTAMP = '1614265330';
const BODY = '{"test": 2432232314}';
const SIGNATURE = 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=';

describe('Replicate webhook signatures (Standard Webhooks)', () => {
  it("reproduces the specification's example signature", () => {
    expect(webhookSignature(SECRET, ID, TIMESTAMP, BODY)).toBe(SIGNATURE);
  });

  it('accepts an authentic delivery, also among several signatures', () => {
    const delivery = { id: ID, timestamp: TIMESTAMP, signature: SIGNATURE, body: BODY };
    expect(verifyWebhook(delivery, SECRET, 1614265330)).toBe(true);
    expect(verifyWebhook({ ...delivery, signature: `v1,AAAA ${SIGNATURE}` }, SECRET, 1614265330)).toBe(true);
  });

  it('refuses a tampered body, a wrong secret, an old timestamp and missing headers', () => {
    const delivery = { id: ID, timestamp: TIMESTAMP, signature: SIGNATURE, body: BODY };
    expect(verifyWebhook({ ...delivery, body: '{"test": 2432232315}' }, SECRET, 1614265330)).toBe(false);
    expect(verifyWebhook(delivery, 'whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 1614265330)).toBe(false);
    expect(verifyWebhook(delivery, SECRET, 1614265330 + 301)).toBe(false);
    expect(verifyWebhook({ ...delivery, signature: undefined }, SECRET, 1614265330)).toBe(false);
  });
});

describe('WaveSpeedAI webhook signatures (wavespeed.ai/docs/docs-api/verifying_webhook)', () => {
  const secret = 'whsec_abc123';
  const body = '{"id":"pred-1","status":"completed","outputs":["https://x.test/a.png"]}';
  const now = 1758798328;
  // v3,<hex HMAC-SHA256 of "{id}.{timestamp}.{body}"> keyed with the secret after "whsec_", as text (not base64).
  const expected = `v3,${createHmac('sha256', 'abc123').update(`evt-1.${now}.${body}`).digest('hex')}`;
  const headers = { 'webhook-id': 'evt-1', 'webhook-timestamp': String(now), 'webhook-signature': expected };

  it('signs as the page says and accepts an authentic delivery', () => {
    expect(wavespeedSignature(secret, 'evt-1', String(now), body)).toBe(expected);
    expect(verifyWavespeedDelivery(headers, body, secret, now)).toBe(true);
  });

  it('refuses a tampered body, another secret, a delivery older than 300 s, a v1 signature and missing headers', () => {
    expect(verifyWavespeedDelivery(headers, body.replace('pred-1', 'pred-2'), secret, now)).toBe(false);
    expect(verifyWavespeedDelivery(headers, body, 'whsec_other', now)).toBe(false);
    expect(verifyWavespeedDelivery(headers, body, secret, now + 301)).toBe(false);
    expect(
      verifyWavespeedDelivery(
        { ...headers, 'webhook-signature': expected.replace('v3', 'v1') },
        body,
        secret,
        now,
      ),
    ).toBe(false);
    expect(verifyWavespeedDelivery({ ...headers, 'webhook-id': undefined }, body, secret, now)).toBe(false);
  });

  it('reads the secret from the API envelope or a bare object', () => {
    expect(readWebhookSecret({ code: 200, data: { secret } })).toBe(secret);
    expect(readWebhookSecret({ code: 200, data: secret })).toBe(secret);
    expect(readWebhookSecret({ secret })).toBe(secret);
    expect(readWebhookSecret({ code: 401, data: null })).toBeUndefined();
  });
});
