/**
 * Cancelling a request the host has not started — the cheapest safe way to move a row — as fal's queue cancel and
 * Replicate's prediction cancel work: only while the host reports it queued, `cancelled` only when the host says it
 * never ran; a running request, or a cancel that raced its start, is followed to its end.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ImageProvider, PendingRequest } from '../../src/providers/provider.js';
import { context, generate, providers, simulator, startContractSimulator } from './contract-frame.js';

startContractSimulator();

afterEach(() => {
  simulator.setQueueDelay(20);
  simulator.setLatency(0);
  simulator.cancelRacesStart = false;
});

async function submitted(provider: ImageProvider): Promise<PendingRequest> {
  const result = await provider.submit(generate({ prompt: 'a queued boat', quality: 'low' }), context());
  if (result.kind !== 'pending') throw new Error('expected an accepted request');
  return result.request;
}

async function followToEnd(provider: ImageProvider, pending: PendingRequest) {
  for (;;) {
    const polled = await provider.poll(pending, context());
    if (polled.kind === 'completed') return polled.response;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe.each(['fal', 'replicate'] as const)('%s cancel', (name) => {
  it('removes a queued request: cancelled, never run, never billed', async () => {
    simulator.setQueueDelay(10_000);
    const before = simulator.cancelledBeforeStartByProvider.get(name) ?? 0;
    const pending = await submitted(providers[name]);
    expect(await providers[name].cancelIfQueued!(pending, context())).toBe('cancelled');
    expect(simulator.cancelledBeforeStartByProvider.get(name)).toBe(before + 1);
  });

  it('leaves a running request alone: started, and it ends with its images', async () => {
    simulator.setQueueDelay(0);
    simulator.setLatency(300);
    const pending = await submitted(providers[name]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const requestsBefore = simulator.recordedRequests.length;
    expect(await providers[name].cancelIfQueued!(pending, context())).toBe('started');
    // Only the status was read: no cancel was sent for a request that had started.
    expect(
      simulator.recordedRequests.slice(requestsBefore).map((request) => request.path),
    ).not.toContainEqual(expect.stringMatching(/\/cancel$/));
    expect((await followToEnd(providers[name], pending)).images).toHaveLength(1);
  });

  it('a cancel that races the start is started, and the request is followed to its end', async () => {
    simulator.setQueueDelay(10_000);
    simulator.setLatency(100);
    simulator.cancelRacesStart = true;
    const before = simulator.cancelledBeforeStartByProvider.get(name) ?? 0;
    const pending = await submitted(providers[name]);
    expect(await providers[name].cancelIfQueued!(pending, context())).toBe('started');
    expect(simulator.cancelledBeforeStartByProvider.get(name) ?? 0).toBe(before);
    expect((await followToEnd(providers[name], pending)).images).toHaveLength(1);
  });
});

describe('fal request ids on status and result answers', () => {
  it('names the request in x-fal-request-id', async () => {
    const pending = await submitted(providers.fal);
    const status = await fetch(pending.statusUrl!, { headers: { authorization: 'Key sk-contract-key' } });
    expect(status.headers.get('x-fal-request-id')).toBe(pending.requestIds[0]);
  });
});
