import { describe, expect, it } from 'vitest';
import { verifyWebhook, webhookSignature } from '../../src/providers/replicate/webhook-signature.js';

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
