/**
 * Traces through `@opentelemetry/api` (docs/tracing.md): a no-op until an OpenTelemetry SDK is registered — by the
 * user's own setup, or by image-batch when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (src/cli/tracing-setup.ts). One trace
 * per row: the producer opens it when the row is enqueued and keeps its W3C `traceparent` in the job (only while a
 * recording SDK is registered: no byte is added otherwise); every attempt, provider call (HTTP client spans),
 * download, store and the results line join it, in whichever worker process runs them.
 *
 * Attribute names: the OpenTelemetry semantic conventions for GenAI (opentelemetry.io/docs/specs/semconv/gen-ai/:
 * `gen_ai.operation.name`, `gen_ai.provider.name`, `gen_ai.request.model`, `gen_ai.response.id`,
 * `gen_ai.usage.input_tokens`, `gen_ai.usage.output_tokens`) and HTTP (`http.request.method`,
 * `http.response.status_code`, `server.address`, `url.full`), and `image_batch.*` for the batch, row, attempt, host and
 * cost. No prompt, image or secret is recorded.
 */
import {
  context,
  propagation,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
} from '@opentelemetry/api';

export { SpanKind, SpanStatusCode };

/**
 * Where a span sits in a row's trace: passed explicitly down the call chain (the attempt to its provider calls, their
 * HTTP requests, the store and its download) rather than found through an async context manager — see
 * src/cli/tracing-setup.ts for why.
 */
export type TraceContext = Context;

/** The tracer of image-batch (a proxy: it records once an SDK is registered, whenever that happens). */
const tracer = trace.getTracer('image-batch');

/**
 * Open the trace of a row being enqueued: a short `image_batch.enqueue` span, a root of its own. @returns its
 * traceparent for the job data, or undefined while no SDK records (tracing off: nothing is kept).
 */
export function startRowTrace(attributes: Attributes): string | undefined {
  const span = tracer.startSpan('image_batch.enqueue', { root: true, attributes, kind: SpanKind.PRODUCER });
  if (!span.isRecording()) return undefined;
  const carrier: Record<string, string> = {};
  propagation.inject(trace.setSpan(context.active(), span), carrier);
  span.end();
  return carrier.traceparent;
}

/** The context of a row's trace from its job data's traceparent (the active context when it has none). */
export function rowContext(traceparent: string | undefined): Context {
  if (traceparent === undefined) return context.active();
  return propagation.extract(context.active(), { traceparent });
}

/**
 * Run `work` in a span named `name`, a child of `parent` (default: the active context's span, which is the root while
 * no context manager is registered), ending it when `work` settles. `work` gets the span and the context its own
 * children take as their `parent`. A thrown error is recorded on the span (status ERROR) unless `expected(error)` says it is control flow (a job moved
 * to delayed, a rate-limit wait), then rethrown.
 */
export async function inSpan<T>(
  name: string,
  options: {
    attributes?: Attributes;
    kind?: SpanKind;
    parent?: Context | undefined;
    expected?: (error: unknown) => boolean;
  },
  work: (span: Span, spanContext: TraceContext) => Promise<T>,
): Promise<T> {
  const parent = options.parent ?? context.active();
  const span = tracer.startSpan(
    name,
    {
      kind: options.kind ?? SpanKind.INTERNAL,
      ...(options.attributes ? { attributes: options.attributes } : {}),
    },
    parent,
  );
  try {
    const spanContext = trace.setSpan(parent, span);
    // Also made active, for the instrumentations of a user's own SDK setup (a no-op without a context manager).
    return await context.with(spanContext, () => work(span, spanContext));
  } catch (error) {
    if (options.expected?.(error) === true) span.setAttribute('image_batch.outcome', (error as Error).name);
    else {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
    }
    throw error;
  } finally {
    span.end();
  }
}

/**
 * Run `work` and mark it with an event named `name` (and `attributes`) on the span of `parent` when it completes, while
 * that span still records — one span fewer per row than {@link inSpan}, for a step of an attempt that has no children
 * of its own. A thrown error is left to that span (the attempt records it). With no recording span in `parent` (a row
 * recorded outside any attempt), `work` runs in a span of its own under `fallbackParent()` (only then called).
 */
export async function asEvent<T>(
  name: string,
  options: { attributes: Attributes; parent: Context | undefined; fallbackParent: () => Context },
  work: () => Promise<T>,
): Promise<T> {
  const span = options.parent === undefined ? undefined : trace.getSpan(options.parent);
  if (span?.isRecording() !== true)
    return inSpan(name, { attributes: options.attributes, parent: options.fallbackParent() }, work);
  const result = await work();
  span.addEvent(name, options.attributes);
  return result;
}
