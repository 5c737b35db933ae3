/**
 * Traces (docs/tracing.md) with an in-memory exporter: one trace per row from its enqueue to its results line — the
 * attempt, the GenAI client span of the provider call with its HTTP client spans, each download and store — for a
 * generate, an edit and a failed row; and nothing recorded, not a byte in the job data, while no SDK is registered.
 */
import { context, propagation, SpanStatusCode, trace } from '@opentelemetry/api';
import {
  InMemorySpanExporter,
  NodeTracerProvider,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-node';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { queueNameFor } from '../../src/shared/keys.js';
import { runCliInProcess } from '../helpers/cli.js';
import { temporaryDirectory } from '../helpers/files.js';
import { jsonLine, manifestFolder, writeManifest } from '../helpers/manifests.js';
import { redisUrl } from '../helpers/redis.js';
import { resultLines } from '../helpers/results.js';
import { simulatorSuite } from '../helpers/simulator-suite.js';

const suite = simulatorSuite();
const exporter = new InMemorySpanExporter();
let provider: NodeTracerProvider | undefined;

/**
 * Registered as the CLI registers its SDK (src/cli/tracing-setup.ts): without a context manager, so every parent below
 * is one image-batch handed down itself, not one found in an async context.
 */
function register(): void {
  provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  provider.register({ contextManager: null });
}
afterAll(async () => {
  await provider?.shutdown();
  trace.disable();
  context.disable();
  propagation.disable();
});

const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;
/** The `image_batch.results_line` event of a span (an attempt's), if it has one. */
const resultsLineOf = (span: ReadableSpan) =>
  span.events.find((event) => event.name === 'image_batch.results_line');
const named = (spans: ReadableSpan[], name: string | RegExp) =>
  spans.filter((span) => (typeof name === 'string' ? span.name === name : name.test(span.name)));

/** The spans of each row's trace, by row key (from the enqueue span that opens it). */
function tracesByRow(spans: ReadableSpan[]): Map<string, ReadableSpan[]> {
  const rows = new Map<string, ReadableSpan[]>();
  for (const root of named(spans, 'image_batch.enqueue')) {
    const traceId = root.spanContext().traceId;
    rows.set(
      String(root.attributes['image_batch.row_key']),
      spans.filter((span) => span.spanContext().traceId === traceId),
    );
  }
  return rows;
}

describe('tracing', () => {
  it('without an SDK nothing is recorded and the job data carries no trace context', async () => {
    const manifest = await writeManifest(await manifestFolder(), 'untraced.jsonl', [
      jsonLine({ id: 'quiet', prompt: 'untraced row', resolution: '1024x1024' }),
    ]);
    const out = await temporaryDirectory();
    const enqueued = await runCliInProcess(
      ['enqueue', manifest, '--out', out, '--batch', 'untraced'],
      suite.environment({ IMAGE_BATCH_KEEP_COMPLETED_JOBS: '10' }),
    );
    expect(enqueued.exitCode, enqueued.stderr).toBe(0);
    const redis = new Redis(redisUrl());
    const queue = new Queue(queueNameFor('oxen'), { connection: redis, prefix: suite.prefix() });
    try {
      const [job] = await queue.getJobs(['waiting', 'prioritized', 'delayed'], 0, 1);
      expect(job?.data.rowKey).toBe('quiet');
      expect(job?.data).not.toHaveProperty('traceparent');
    } finally {
      await queue.close();
      redis.disconnect();
    }
    expect(exporter.getFinishedSpans()).toEqual([]);
  });

  it('a generate, an edit and a failed row: one trace each, from enqueue to results line', async () => {
    register();
    const folder = await manifestFolder();
    const manifest = await writeManifest(folder, 'traced.jsonl', [
      jsonLine({ id: 'drawn', prompt: 'a traced lighthouse', resolution: '1024x1024' }),
      jsonLine({
        id: 'edited',
        prompt: 'add a traced moon',
        image_urls: ['images/dune.jpg'],
        resolution: '1024x1024',
        provider: 'openai',
      }),
      jsonLine({ id: 'refused', prompt: 'a traced refusal', resolution: '1024x1024', provider: 'fal' }),
    ]);
    suite.simulator().injectFaults([{ provider: 'fal', status: 422, times: 1 }]);
    const out = await temporaryDirectory();
    const result = await runCliInProcess(
      ['run', manifest, '--out', out, '--batch', 'traced'],
      suite.environment(),
    );
    expect(result.exitCode).toBe(1);
    const lines = await resultLines(out, 'traced');
    expect(lines.map((line) => `${line.row_key} ${line.status}`).sort()).toEqual([
      'drawn completed',
      'edited completed',
      'refused failed',
    ]);

    const rows = tracesByRow(exporter.getFinishedSpans());
    expect([...rows.keys()].sort()).toEqual(['drawn', 'edited', 'refused']);
    for (const [rowKey, spans] of rows) {
      const [root] = named(spans, 'image_batch.enqueue');
      expect(parentOf(root!), rowKey).toBeUndefined();
      const attempts = named(spans, 'image_batch.attempt');
      expect(attempts.length, rowKey).toBeGreaterThanOrEqual(1);
      for (const attempt of attempts) {
        expect(parentOf(attempt)).toBe(root!.spanContext().spanId);
        expect(attempt.attributes).toMatchObject({
          'image_batch.batch_id': 'traced',
          'image_batch.row_key': rowKey,
        });
      }
      const calls = named(spans, /^generate_content /);
      expect(calls.length, rowKey).toBeGreaterThanOrEqual(1);
      const call = calls[0]!;
      expect(attempts.map((attempt) => attempt.spanContext().spanId)).toContain(parentOf(call));
      expect(call.attributes['gen_ai.operation.name']).toBe('generate_content');
      expect(call.attributes['gen_ai.request.model']).toMatch(/gpt-image-2$/);
      // The provider call's HTTP requests are its children.
      const posts = named(spans, 'POST').filter((span) => parentOf(span) === call.spanContext().spanId);
      expect(posts.length, rowKey).toBeGreaterThanOrEqual(1);
      expect(posts[0]!.attributes['http.request.method']).toBe('POST');
      // The results line ends the trace: an event of the attempt that wrote it, not a span of its own.
      expect(named(spans, 'image_batch.results_line'), rowKey).toEqual([]);
      expect(
        attempts.filter((attempt) => resultsLineOf(attempt) !== undefined),
        rowKey,
      ).toHaveLength(1);
    }

    const drawn = rows.get('drawn')!;
    expect(named(drawn, /^generate_content /)[0]!.attributes['gen_ai.provider.name']).toBe('oxen');
    expect(named(drawn, 'image_batch.store')).toHaveLength(1);
    const [store] = named(drawn, 'image_batch.store');
    const [download] = named(drawn, 'image_batch.download');
    const drawnAttempt = named(drawn, 'image_batch.attempt').find(
      (span) => resultsLineOf(span) !== undefined,
    )!;
    expect(parentOf(store!)).toBe(drawnAttempt.spanContext().spanId);
    expect(parentOf(download!)).toBe(store!.spanContext().spanId);
    expect(resultsLineOf(drawnAttempt)!.attributes!['image_batch.status']).toBe('completed');

    const edited = rows.get('edited')!;
    const editCall = named(edited, /^generate_content /)[0]!;
    expect(editCall.attributes).toMatchObject({
      'gen_ai.provider.name': 'openai',
      'image_batch.operation': 'edit',
    });
    expect(editCall.attributes['gen_ai.usage.output_tokens']).toBeGreaterThan(0);
    expect(editCall.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
    expect(named(edited, 'image_batch.store')).toHaveLength(1);

    const refused = rows.get('refused')!;
    const refusedLine = named(refused, 'image_batch.attempt').map(resultsLineOf).find(Boolean);
    expect(refusedLine!.attributes).toMatchObject({
      'image_batch.status': 'failed',
      'error.type': 'bad_request',
    });
    expect(named(refused, 'POST')[0]!.attributes['http.response.status_code']).toBe(422);
    expect(
      named(refused, 'image_batch.attempt').some((span) => span.status.code === SpanStatusCode.ERROR),
    ).toBe(true);
    expect(named(refused, 'image_batch.store')).toHaveLength(0);
    // No prompt is recorded anywhere.
    const recorded = JSON.stringify(exporter.getFinishedSpans().map((span) => span.attributes));
    expect(recorded).not.toContain('traced lighthouse');
  });
});
