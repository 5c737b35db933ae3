/**
 * The CLI's own tracing setup (src/cli/tracing-setup.ts) exports over OTLP/HTTP in the encoding the standard variables
 * ask for: protobuf by default, JSON on `http/json`, the traces variable before the general one; a protocol it cannot
 * speak stops the command with a message naming the variable. A receiver here (test/helpers/otlp-receiver.ts) reads
 * both encodings, protobuf with a reader of its own written from opentelemetry-proto.
 */
import { context, trace } from '@opentelemetry/api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTracing } from '../../src/cli/tracing-setup.js';
import { ConfigurationError } from '../../src/shared/errors.js';
import { runCliInProcess } from '../helpers/cli.js';
import { startOtlpReceiver } from '../helpers/otlp-receiver.js';

let receiver: Awaited<ReturnType<typeof startOtlpReceiver>>;
beforeEach(async () => {
  receiver = await startOtlpReceiver();
});
afterEach(async () => {
  await receiver.close();
});

/** Start the setup with `environment`, record one parent and one child span with every attribute type, stop it. */
async function exportTwoSpans(environment: Record<string, string>): Promise<void> {
  const stop = await startTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, ...environment });
  expect(stop).toBeDefined();
  const tracer = trace.getTracer('image-batch-test');
  const parent = tracer.startSpan('image_batch.attempt', {
    attributes: { 'image_batch.row_key': 'row-7', 'image_batch.attempt': 2, 'image_batch.cost_usd': 0.053 },
  });
  const child = tracer.startSpan(
    'POST',
    { attributes: { 'http.response.status_code': 200, 'image_batch.paid': true } },
    trace.setSpan(context.active(), parent),
  );
  child.end();
  parent.addEvent('image_batch.results_line', { 'image_batch.status': 'completed' });
  parent.end();
  // Stopping flushes what the batching processor holds.
  await stop!();
}

describe('OTLP export of the CLI tracing setup', () => {
  it('sends protobuf by default, and every span, attribute, event and parent arrives', async () => {
    await exportTwoSpans({ OTEL_SERVICE_NAME: 'image-batch-proto' });
    expect(receiver.contentTypes).toEqual(['application/x-protobuf']);
    const attempt = receiver.spans.find((span) => span.name === 'image_batch.attempt')!;
    const post = receiver.spans.find((span) => span.name === 'POST')!;
    expect(attempt.attributes).toEqual({
      'image_batch.row_key': 'row-7',
      'image_batch.attempt': 2,
      'image_batch.cost_usd': 0.053,
    });
    expect(attempt.events).toEqual([
      { name: 'image_batch.results_line', attributes: { 'image_batch.status': 'completed' } },
    ]);
    expect(post.attributes).toEqual({ 'http.response.status_code': 200, 'image_batch.paid': true });
    expect(post.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(post.traceId).toBe(attempt.traceId);
    expect(post.parentSpanId).toBe(attempt.spanId);
    expect(attempt.parentSpanId).toBeUndefined();
    expect(attempt.resource['service.name']).toBe('image-batch-proto');
  });

  it('sends JSON on http/json, and the traces variable wins over the general one', async () => {
    await exportTwoSpans({
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
    });
    expect(receiver.contentTypes).toEqual(['application/json']);
    expect(receiver.spans.map((span) => span.name).sort()).toEqual(['POST', 'image_batch.attempt']);
    const attempt = receiver.spans.find((span) => span.name === 'image_batch.attempt')!;
    expect(attempt.attributes['image_batch.cost_usd']).toBe(0.053);
  });

  it('refuses a protocol it cannot speak, naming the variable, and starts nothing', async () => {
    const started = startTracing({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
    });
    await expect(started).rejects.toThrow(ConfigurationError);
    await expect(started).rejects.toThrow(
      /OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported.*http\/protobuf or http\/json/,
    );
    trace.getTracer('image-batch-test').startSpan('not exported').end();
    expect(receiver.contentTypes).toEqual([]);
  });

  it('a command with that setting stops with the message, while its --help still shows', async () => {
    const environment = {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
    };
    const help = await runCliInProcess(['status', '--help'], environment);
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toContain('Usage: image-batch status');
    const run = await runCliInProcess(['status', 'some-batch'], environment);
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toContain('OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported');
  });
});
