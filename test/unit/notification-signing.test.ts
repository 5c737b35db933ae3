/**
 * The pieces of batch events that need no Redis: the sealed target (the URL is a secret, kept only sealed), the
 * signing secret's form, Standard Webhooks headers a receiver verifies, and which URLs get a Slack-style body.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { openTarget, sealTarget } from '../../src/batch/notifications/sealed-target.js';
import { slackCompatible } from '../../src/batch/notifications/notifier.js';
import { verifyWebhook } from '../../src/providers/replicate/webhook-signature.js';
import { isWebhookSecret, signedHeaders } from '../../src/shared/standard-webhooks.js';

const secretOf = (bytes: number) => `whsec_${randomBytes(bytes).toString('base64')}`;

describe('sealed target', () => {
  const url = 'https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX';

  it('opens with the secret it was sealed with, and shows nothing of the URL', () => {
    const secret = secretOf(32);
    const sealed = sealTarget(url, secret);
    expect(sealed).not.toContain('hooks.slack.com');
    expect(sealed).not.toContain('XXXXXXXX');
    expect(openTarget(sealed, secret)).toBe(url);
    // A fresh nonce each time: two seals of one URL differ.
    expect(sealTarget(url, secret)).not.toBe(sealed);
  });

  it('does not open with another secret, nor when changed', () => {
    const secret = secretOf(32);
    const sealed = sealTarget(url, secret);
    expect(openTarget(sealed, secretOf(32))).toBeUndefined();
    const bytes = Buffer.from(sealed.slice(3), 'base64url');
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 1;
    expect(openTarget(`v1.${bytes.toString('base64url')}`, secret)).toBeUndefined();
    expect(openTarget('v1.short', secret)).toBeUndefined();
    expect(openTarget('v2.whatever', secret)).toBeUndefined();
  });
});

describe('signing secret and headers', () => {
  it.each([
    [secretOf(24), true],
    [secretOf(64), true],
    [secretOf(16), false],
    [secretOf(65), false],
    ['whsec_not base64!', false],
    [randomBytes(32).toString('base64'), false],
  ])('%s is a signing secret: %s', (value, expected) => {
    expect(isWebhookSecret(value)).toBe(expected);
  });

  it('signs so that a Standard Webhooks verifier accepts the body as sent, and nothing else', () => {
    const secret = secretOf(32);
    const body = JSON.stringify({ type: 'batch.finished', data: { batch_id: 'b' } });
    const now = Math.floor(Date.now() / 1000);
    const headers = signedHeaders(secret, 'msg_1', now, body);
    const delivery = {
      id: headers['webhook-id'],
      timestamp: headers['webhook-timestamp'],
      signature: headers['webhook-signature'],
    };
    expect(verifyWebhook({ ...delivery, body }, secret)).toBe(true);
    expect(verifyWebhook({ ...delivery, body: body.replace('"b"', '"c"') }, secret)).toBe(false);
    expect(verifyWebhook({ ...delivery, id: 'msg_2', body }, secret)).toBe(false);
  });
});

describe('Slack-compatible targets', () => {
  it.each([
    ['https://hooks.slack.com/services/T/B/X', true],
    ['https://discord.com/api/webhooks/1/abc/slack', true],
    ['https://example.com/hooks/image-batch', false],
    ['https://example.com/slack-archive/hook', false],
  ])('%s takes a text-only body: %s', (url, expected) => {
    expect(slackCompatible(url)).toBe(expected);
  });
});
