/**
 * Webhooks, first part of issue 17: the simulator delivers Replicate's `completed` webhooks signed per Standard
 * Webhooks, retried, lost or duplicated on demand; our verifier accepts its deliveries with the secret the simulator
 * serves at `GET /v1/webhooks/default/secret`, and refuses a tampered one.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyWebhook } from '../../src/providers/replicate/webhook-signature.js';
import { ProviderSimulator } from '../../src/simulator/server.js';

const KEY = 'r8-test';
let simulator: ProviderSimulator;
const received: Array<{ headers: IncomingHttpHeaders; body: string }> = [];
const receiver = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    received.push({ headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
    response.writeHead(204).end();
  });
});
let hookUrl: string;

beforeAll(async () => {
  simulator = new ProviderSimulator({ apiKey: KEY, latencyMs: 100 });
  await simulator.start();
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
});
afterAll(async () => {
  await simulator.stop();
  receiver.closeAllConnections();
  await new Promise((resolve) => receiver.close(resolve));
});

async function createPrediction(prompt: string): Promise<string> {
  const response = await fetch(`${simulator.url}/replicate/v1/models/openai/gpt-image-2/predictions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ input: { prompt }, webhook: hookUrl, webhook_events_filter: ['completed'] }),
  });
  expect(response.status).toBe(201);
  return ((await response.json()) as { id: string }).id;
}

async function deliveriesFor(
  id: string,
  count: number,
): Promise<Array<{ headers: IncomingHttpHeaders; body: string }>> {
  for (let wait = 0; wait < 100; wait += 1) {
    const found = received.filter((delivery) => (JSON.parse(delivery.body) as { id: string }).id === id);
    if (found.length >= count) return found;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return received.filter((delivery) => (JSON.parse(delivery.body) as { id: string }).id === id);
}

describe('webhooks from the simulator', () => {
  it('delivers a signed completed prediction that verifies with the served secret, and not when tampered', async () => {
    const secretAnswer = await fetch(`${simulator.url}/replicate/v1/webhooks/default/secret`, {
      headers: { authorization: `Bearer ${KEY}` },
    });
    const { key: secret } = (await secretAnswer.json()) as { key: string };
    expect(secret).toMatch(/^whsec_/);
    const id = await createPrediction('a webhook lighthouse');
    const [delivery] = await deliveriesFor(id, 1);
    expect(delivery).toBeDefined();
    const { headers, body } = delivery!;
    expect(JSON.parse(body)).toMatchObject({ id, status: 'succeeded' });
    const signed = {
      id: headers['webhook-id'] as string,
      timestamp: headers['webhook-timestamp'] as string,
      signature: headers['webhook-signature'] as string,
    };
    expect(verifyWebhook({ ...signed, body }, secret)).toBe(true);
    expect(verifyWebhook({ ...signed, body: body.replace('succeeded', 'failed') }, secret)).toBe(false);
  });

  it('duplicates and loses deliveries on demand', async () => {
    simulator.webhooks.behaviour = { lose: 0, duplicate: 1, jitterMs: 0 };
    const twice = await createPrediction('a duplicated delivery');
    const copies = await deliveriesFor(twice, 2);
    expect(copies).toHaveLength(2);
    expect(copies[0]!.headers['webhook-id']).toBe(copies[1]!.headers['webhook-id']);
    simulator.webhooks.behaviour = { lose: 1, duplicate: 0, jitterMs: 0 };
    const lostBefore = simulator.webhooks.lost;
    const never = await createPrediction('a lost delivery');
    // The delivery is dropped once the prediction has finished; wait for that (a loaded machine is slow), then a little.
    for (let wait = 0; wait < 200 && simulator.webhooks.lost === lostBefore; wait += 1)
      await new Promise((resolve) => setTimeout(resolve, 50));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(received.some((delivery) => (JSON.parse(delivery.body) as { id: string }).id === never)).toBe(
      false,
    );
    expect(simulator.webhooks.lost).toBe(lostBefore + 1);
  });
});
