/**
 * The webhook receiver end to end: with a receiver running, workers ask fal, Replicate and WaveSpeedAI for webhooks
 * and poll only slowly; deliveries lost, duplicated and out of order still end every row once, paid once. Forged
 * deliveries are refused.
 */
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/providers/configuration.js';
import { webhookSignature } from '../../src/providers/replicate/webhook-signature.js';
import { wavespeedSignature } from '../../src/providers/wavespeed/webhooks.js';
import { createLogger } from '../../src/shared/logger.js';
import { startWebhookReceiver, type WebhookReceiver } from '../../src/worker/webhook-receiver.js';
import { runCliInProcess } from '../helpers/cli.js';
import { temporaryDirectory } from '../helpers/files.js';
import { jsonLine, manifestFolder, writeManifest } from '../helpers/manifests.js';
import { redisUrl } from '../helpers/redis.js';
import { resultLines } from '../helpers/results.js';
import { simulatorSuite } from '../helpers/simulator-suite.js';

const suite = simulatorSuite();
const PROVIDERS = ['fal', 'replicate', 'wavespeed'] as const;

/** Run `body` with a receiver announced under this test's prefix. */
async function withReceiver(
  environment: Record<string, string>,
  body: (receiver: WebhookReceiver) => Promise<void>,
): Promise<void> {
  const redis = new Redis(redisUrl());
  // Without a public URL the receiver announces its own local one: the simulator delivers on this machine.
  const receiver = await startWebhookReceiver({
    config: loadConfig(environment),
    redis,
    port: 0,
    host: '127.0.0.1',
    log: createLogger({ level: 'silent' }),
  });
  try {
    await body(receiver);
  } finally {
    await receiver.close();
    redis.disconnect();
  }
}

function statusCalls(): number {
  const calls = suite.simulator().statusCallsByProvider;
  return PROVIDERS.reduce((sum, name) => sum + (calls.get(name) ?? 0), 0);
}

describe('webhook receiver', () => {
  it('lost, duplicated and out-of-order deliveries: every row ends once, paid once, with few status calls', async () => {
    const simulator = suite.simulator();
    simulator.setLatency(1000);
    simulator.webhooks.behaviour = { lose: 3, duplicate: 4, jitterMs: 1500 };
    const environment = suite.environment({ IMAGE_BATCH_WEBHOOK_RECONCILE_MS: '3000' });
    const lostBefore = simulator.webhooks.lost;
    const submittedBefore = PROVIDERS.map((name) => simulator.submissionsByProvider.get(name) ?? 0);
    const callsBefore = statusCalls();
    try {
      await withReceiver(environment, async (receiver) => {
        const rows = PROVIDERS.flatMap((provider) =>
          Array.from({ length: 4 }, (_, index) =>
            jsonLine({
              id: `${provider}-${index}`,
              provider,
              prompt: `hooked ${provider} ${index}`,
              quality: 'low',
            }),
          ),
        );
        const manifest = await writeManifest(await manifestFolder(), 'hooked.jsonl', rows);
        const out = await temporaryDirectory();
        const run = await runCliInProcess(
          ['run', manifest, '--out', out, '--batch', 'hooked', '--requests-per-minute', '0'],
          environment,
        );
        expect(run.stdout, run.stdout + run.stderr).toMatch(/12 completed, 0 failed, 0 pending/);
        const lines = await resultLines(out, 'hooked');
        expect(lines).toHaveLength(12);
        expect(new Set(lines.map((line) => line.row_key)).size).toBe(12);
        PROVIDERS.forEach((name, index) =>
          expect((simulator.submissionsByProvider.get(name) ?? 0) - submittedBefore[index]!).toBe(4),
        );
        expect(simulator.webhooks.lost - lostBefore).toBe(3);
        expect(receiver.counts.accepted).toBe(9);
        expect(receiver.counts.duplicates).toBeGreaterThanOrEqual(1);
        expect(receiver.counts.rejected).toBe(0);
        // Polled every 50 ms without webhooks, 12 requests running 1 s each would make some 240 status calls. Signed
        // deliveries (fal, Replicate, WaveSpeedAI) carry the result: no call; the 3 lost ones at the 3 s
        // reconciliation poll (fal: status, then result).
        expect(statusCalls() - callsBefore).toBeLessThanOrEqual(3 * 2 + 2);
      });
    } finally {
      simulator.setLatency(0);
      simulator.webhooks.behaviour = { lose: 0, duplicate: 0, jitterMs: 0 };
    }
  });

  it('refuses forged deliveries: a wrong Replicate or WaveSpeedAI secret, a fal signature by another key, an unknown provider', async () => {
    await withReceiver(suite.environment(), async (receiver) => {
      const body = JSON.stringify({ id: 'p-1', status: 'succeeded' });
      const timestamp = String(Math.floor(Date.now() / 1000));
      const forged = webhookSignature('whsec_bm90IHRoZSBzZWNyZXQ=', 'msg_1', timestamp, body);
      const replicate = await fetch(`${receiver.url}/webhooks/replicate`, {
        method: 'POST',
        headers: { 'webhook-id': 'msg_1', 'webhook-timestamp': timestamp, 'webhook-signature': forged },
        body,
      });
      expect(replicate.status).toBe(401);
      const fal = await fetch(`${receiver.url}/webhooks/fal`, {
        method: 'POST',
        headers: {
          'x-fal-webhook-request-id': 'r-1',
          'x-fal-webhook-user-id': 'u',
          'x-fal-webhook-timestamp': timestamp,
          'x-fal-webhook-signature': 'ab'.repeat(64),
        },
        body: JSON.stringify({ request_id: 'r-1', status: 'OK' }),
      });
      expect(fal.status).toBe(401);
      const wavespeedBody = JSON.stringify({
        id: 'w-1',
        status: 'completed',
        outputs: ['https://x.test/a.png'],
      });
      const wavespeed = await fetch(`${receiver.url}/webhooks/wavespeed`, {
        method: 'POST',
        headers: {
          'webhook-id': 'msg_2',
          'webhook-timestamp': timestamp,
          'webhook-signature': wavespeedSignature('whsec_not-the-secret', 'msg_2', timestamp, wavespeedBody),
        },
        body: wavespeedBody,
      });
      expect(wavespeed.status).toBe(401);
      const unknown = await fetch(`${receiver.url}/webhooks/openai`, { method: 'POST', body: '{}' });
      expect(unknown.status).toBe(404);
      expect(receiver.counts).toMatchObject({ accepted: 0, rejected: 4 });
    });
  });
});
