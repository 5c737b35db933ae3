/**
 * What the simulator does as the hosts' published references say, for calls the adapters do not make but the
 * official SDKs do: WaveSpeedAI's `enable_sync_mode`, its current parameter list, and OpenAI's `stream: true`.
 */
import { describe, expect, it } from 'vitest';
import { KEY, simulator, startContractSimulator } from './contract-frame.js';

startContractSimulator();

const wavespeed = (path: string, body: unknown) =>
  fetch(`${simulator.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

describe('WaveSpeedAI', () => {
  it('enable_sync_mode: true holds the submission until the task is done and answers with its outputs', async () => {
    simulator.setLatency(200);
    try {
      const answer = await wavespeed('/api/v3/openai/gpt-image-2/text-to-image', {
        prompt: 'a kite',
        enable_sync_mode: true,
      });
      const { data } = (await answer.json()) as { data: { status: string; outputs: string[] } };
      expect(data.status).toBe('completed');
      expect(data.outputs).toHaveLength(1);
    } finally {
      simulator.setLatency(0);
    }
  });

  it('refuses the parameters its current API pages no longer list: output_format, and ratios such as 1:2', async () => {
    for (const extra of [{ output_format: 'png' }, { aspect_ratio: '1:2' }, { aspect_ratio: '9:21' }]) {
      const answer = await wavespeed('/api/v3/openai/gpt-image-2/text-to-image', { prompt: 'p', ...extra });
      expect(answer.status).toBe(400);
      expect(((await answer.json()) as { message: string }).message).toMatch(/Invalid parameter/);
    }
  });
});

describe('OpenAI stream: true', () => {
  it('answers server-sent image_generation.completed events with the image and usage', async () => {
    const answer = await fetch(`${simulator.url}/v1/images/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-image-2', prompt: 'a kite', quality: 'low', n: 2, stream: true }),
    });
    expect(answer.headers.get('content-type')).toBe('text/event-stream');
    const events = (await answer.text())
      .split('\n\n')
      .filter((block) => block.includes('data: '))
      .map(
        (block) =>
          JSON.parse(block.split('data: ')[1]!) as { type: string; b64_json: string; usage: unknown },
      );
    expect(events.map((event) => event.type)).toEqual([
      'image_generation.completed',
      'image_generation.completed',
    ]);
    expect(Buffer.from(events[0]!.b64_json, 'base64').subarray(1, 4).toString()).toBe('PNG');
    expect(events[0]!.usage).toMatchObject({ output_tokens: expect.any(Number) });
  });
});
