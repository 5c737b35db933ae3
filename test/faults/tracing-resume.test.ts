/**
 * A row's trace survives kill -9: worker processes export their spans over OTLP (OTEL_EXPORTER_OTLP_ENDPOINT, the
 * CLI's own SDK setup) to a receiver here; an async row whose worker is killed while it waits is resumed by the next
 * worker by its saved request, and that worker's collection attempt and the row's results line join the trace the
 * producer opened at enqueue. Nothing is paid twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killSpawnedProcesses } from '../helpers/cli.js';
import { startOtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver.js';
import { faultSuite, scenarioRows } from './harness.js';

const suite = faultSuite('Tracing across a kill -9');
/** The `image_batch.results_line` event of a span (an attempt's), if it has one. */
const resultsLineOf = (span: ReceivedSpan) =>
  span.events.find((event) => event.name === 'image_batch.results_line');
let receiver: Awaited<ReturnType<typeof startOtlpReceiver>>;
beforeAll(async () => {
  receiver = await startOtlpReceiver();
});
afterAll(async () => {
  await receiver.close();
  killSpawnedProcesses();
});

describe('tracing across processes', () => {
  it('an async row resumed after kill -9 keeps one trace from enqueue to results line', async () => {
    suite.simulator().setLatency(2500);
    const pids: number[] = [];
    try {
      const { row, lines } = await suite.scenario({
        name: 'SIGKILL during an async wait, traced',
        rows: scenarioRows('traced resume', 2),
        environment: {
          OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
          OTEL_SERVICE_NAME: 'image-batch-test',
          OTEL_BSP_SCHEDULE_DELAY: '50',
        },
        action: async (harness) => {
          await harness.waitForSubmissions(2);
          await new Promise((resolve) => setTimeout(resolve, 500));
          pids.push(harness.workers[0]!.pid!);
          harness.workers[0]!.kill('SIGKILL');
          pids.push(harness.startWorker().pid!);
        },
      });
      expect(row.completed).toBe(2);
      expect(row.duplicatePaid).toBe(0);
      // The last worker exports what it buffered when it stops (SIGTERM at the scenario's end).
      await expect
        .poll(() => receiver.spans.filter((span) => resultsLineOf(span) !== undefined).length, {
          timeout: 10_000,
        })
        .toBe(2);
      for (const line of lines) {
        const [root] = receiver.spans.filter(
          (span) =>
            span.name === 'image_batch.enqueue' && span.attributes['image_batch.row_key'] === line.row_key,
        );
        expect(root, line.row_key).toBeDefined();
        const trace = receiver.spans.filter((span) => span.traceId === root!.traceId);
        const byName = (name: string) => trace.filter((span) => span.name === name);
        // The first worker's submission, before it was killed, and the second's collection: one trace.
        const attempts = byName('image_batch.attempt');
        expect(attempts.map((span) => span.attributes['image_batch.job']).sort()).toEqual(
          expect.arrayContaining(['collection', 'submission']),
        );
        const collection = attempts.find((span) => span.attributes['image_batch.job'] === 'collection')!;
        expect(collection.resource['process.pid']).toBe(pids[1]);
        expect(collection.parentSpanId).toBe(root!.spanId);
        const submission = attempts.find((span) => span.attributes['image_batch.job'] === 'submission')!;
        expect(submission.resource['process.pid']).toBe(pids[0]);
        // The results line: an event of the attempt that wrote it, the collection in the second process.
        expect(trace.filter((span) => resultsLineOf(span) !== undefined)).toEqual([collection]);
        expect(trace.every((span) => span.resource['service.name'] === 'image-batch-test')).toBe(true);
      }
    } finally {
      suite.simulator().setLatency(0);
    }
  });
});
