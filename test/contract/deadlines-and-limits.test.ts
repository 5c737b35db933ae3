/**
 * Start deadlines as the hosts publish them (issue 25): fal's `X-Fal-Request-Timeout` (a request no runner started in
 * time ends 504 with `X-Fal-Request-Timeout-Type: user`) and Replicate's `Cancel-After` (a prediction not started by
 * it ends `aborted`, not charged). A request the host never started is `NotStartedError`; one that started in time
 * is followed to its images. And the worker's own keeping of the deadline: a request still queued past it is
 * cancelled before it runs. Also: each simulated host's own conditions (outage, credit), and the limits a host
 * announces in its rate-limit headers.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ImageProvider, PendingRequest } from '../../src/providers/provider.js';
import { NotStartedError } from '../../src/shared/errors.js';
import {
  pollKeepingStartDeadline,
  START_DEADLINE_GRACE_MS,
  withStartBy,
} from '../../src/worker/start-deadline.js';
import { context, generate, providers, simulator, startContractSimulator } from './contract-frame.js';

startContractSimulator();

afterEach(() => {
  simulator.clearHostConditions();
});

async function submittedWithDeadline(
  provider: ImageProvider,
  prompt: string,
  startDeadlineMs: number,
): Promise<PendingRequest> {
  const call = { ...context(), startDeadlineMs };
  const result = await provider.submit(generate({ prompt, quality: 'low' }), call);
  if (result.kind !== 'pending') throw new Error('expected an accepted request');
  return withStartBy(result.request, call);
}

async function outcome(provider: ImageProvider, pending: PendingRequest): Promise<unknown> {
  for (;;) {
    const polled = await provider.poll(pending, context()).catch((error: unknown) => error);
    if (polled instanceof Error) return polled;
    if ((polled as { kind: string }).kind === 'completed') return polled;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('the start deadline each host enforces', () => {
  it('fal: sends X-Fal-Request-Timeout in seconds; a request not started by it is NotStartedError', async () => {
    simulator.setHostConditions('fal', { startDelayMs: 5_000 });
    const pending = await submittedWithDeadline(providers.fal, 'fal deadline passes', 1_000);
    const sent = simulator.recordedRequests.findLast((request) => request.prompt === 'fal deadline passes')!;
    expect(sent.headers['x-fal-request-timeout']).toBe('1');
    const error = await outcome(providers.fal, pending);
    expect(error).toBeInstanceOf(NotStartedError);
    expect(simulator.unbilledByPrompt.get('fal deadline passes')).toBe(1);
  });

  it('replicate: sends Cancel-After (deadline plus the run allowance); aborted before start is NotStartedError', async () => {
    const pending = await submittedWithDeadline(providers.replicate, 'replicate deadline', 2_000);
    const sent = simulator.recordedRequests.findLast((request) => request.prompt === 'replicate deadline')!;
    // 2 s to start plus ten minutes to run: a started prediction is never cut off (a `canceled` one is charged).
    expect(sent.headers['cancel-after']).toBe('602s');
    simulator.setHostConditions('replicate', { startDelayMs: 5_000 });
    const aborted = await fetch(`${simulator.url}/replicate/v1/models/openai/gpt-image-2/predictions`, {
      method: 'POST',
      headers: {
        authorization: 'Bearer sk-contract-key',
        'content-type': 'application/json',
        'cancel-after': '1s',
      },
      body: JSON.stringify({ input: { prompt: 'replicate aborted', quality: 'low' } }),
    }).then((response) => response.json() as Promise<{ id: string }>);
    const error = await outcome(providers.replicate, {
      ...pending,
      requestIds: [aborted.id],
      statusUrl: `${simulator.url}/replicate/v1/predictions/${aborted.id}`,
    });
    expect(error).toBeInstanceOf(NotStartedError);
    expect(simulator.unbilledByPrompt.get('replicate aborted')).toBe(1);
  });

  it.each(['fal', 'replicate'] as const)(
    '%s: a request that starts within its deadline makes its images',
    async (name) => {
      simulator.setHostConditions(name, { startDelayMs: 100 });
      const pending = await submittedWithDeadline(providers[name], `${name} starts in time`, 3_000);
      const done = await outcome(providers[name], pending);
      expect(done).toMatchObject({ kind: 'completed' });
      expect(simulator.unbilledByPrompt.get(`${name} starts in time`)).toBeUndefined();
    },
  );
});

describe('the worker keeps the deadline too', () => {
  it('a Replicate prediction still starting past its deadline is cancelled before it runs: NotStartedError', async () => {
    simulator.setHostConditions('replicate', { startDelayMs: 60_000 });
    const pending = await submittedWithDeadline(providers.replicate, 'replicate kept deadline', 1);
    // Within the grace the host's own deadline may still act: nothing is cancelled yet.
    expect(await pollKeepingStartDeadline(providers.replicate, pending, context())).toEqual({
      kind: 'pending',
    });
    await new Promise((resolve) => setTimeout(resolve, START_DEADLINE_GRACE_MS + 100));
    await expect(pollKeepingStartDeadline(providers.replicate, pending, context())).rejects.toBeInstanceOf(
      NotStartedError,
    );
    expect(simulator.unbilledByPrompt.get('replicate kept deadline')).toBe(1);
  }, 15_000);
});

describe('host conditions of the simulator', () => {
  it('an outage answers 503 only on that host and only in its window; credit runs out after N', async () => {
    const now = Date.now();
    simulator.setHostConditions('openai', { outage: { fromMs: now, untilMs: now + 60_000 } });
    simulator.setHostConditions('oxen', { creditSubmissions: 1 });
    await expect(
      providers.openai.submit(generate({ prompt: 'down', quality: 'low' }), context()),
    ).rejects.toMatchObject({
      status: 503,
    });
    await expect(
      providers.fal.submit(generate({ prompt: 'up', quality: 'low' }), context()),
    ).resolves.toBeDefined();
    await expect(
      providers.oxen.submit(generate({ prompt: 'paid', quality: 'low' }), context()),
    ).resolves.toBeDefined();
    await expect(
      providers.oxen.submit(generate({ prompt: 'unpaid', quality: 'low' }), context()),
    ).rejects.toMatchObject({
      code: 'insufficient_credit',
    });
  });
});

describe('limits a host announces', () => {
  it('OpenAI: x-ratelimit-limit-requests is read as the requests a minute it allows', async () => {
    simulator.setHostConditions('openai', { rateLimitPerMinute: 600 });
    const result = await providers.openai.submit(
      generate({ prompt: 'announced', quality: 'low' }),
      context(),
    );
    expect(result.kind === 'completed' && result.response.announcedLimits).toEqual({
      requestsPerMinute: 600,
    });
  });
});
