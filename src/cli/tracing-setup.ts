/**
 * Tracing without code (docs/tracing.md): when the standard `OTEL_EXPORTER_OTLP_ENDPOINT` (or
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, the CLI registers the OpenTelemetry SDK for Node with an OTLP/HTTP
 * exporter (JSON), batching spans; `OTEL_SERVICE_NAME` names the service (default `image-batch`),
 * `OTEL_EXPORTER_OTLP_HEADERS` adds headers (`k=v,k2=v2`), `OTEL_SDK_DISABLED=true` turns it off. Otherwise nothing is
 * registered and the spans image-batch makes are the API's no-ops (src/shared/tracing.ts) — unless the user
 * registered an SDK of their own before calling image-batch (the library case). Variables: the OpenTelemetry
 * specification, opentelemetry.io/docs/specs/otel/protocol/exporter/ and .../configuration/sdk-environment-variables/.
 */
import { trace } from '@opentelemetry/api';

/** Stops tracing: exports what is buffered. */
export type StopTracing = () => Promise<void>;

/** Start the SDK when `environment` asks for it. @returns how to stop it (flushing), or undefined when not started. */
export async function startTracing(
  environment: Record<string, string | undefined>,
): Promise<StopTracing | undefined> {
  const base = environment.OTEL_EXPORTER_OTLP_ENDPOINT;
  const url =
    environment.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? (base === undefined ? undefined : tracesUrl(base));
  if (
    url === undefined ||
    environment.OTEL_SDK_DISABLED === 'true' ||
    environment.OTEL_TRACES_EXPORTER === 'none'
  )
    return undefined;
  const [{ NodeTracerProvider, BatchSpanProcessor }, { OTLPTraceExporter }, { resourceFromAttributes }] =
    await Promise.all([
      import('@opentelemetry/sdk-trace-node'),
      import('@opentelemetry/exporter-trace-otlp-http'),
      import('@opentelemetry/resources'),
    ]);
  const exporter = new OTLPTraceExporter({ url, headers: headersOf(environment.OTEL_EXPORTER_OTLP_HEADERS) });
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({
      'service.name': environment.OTEL_SERVICE_NAME ?? 'image-batch',
      'process.pid': process.pid,
    }),
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  // No context manager: image-batch hands each span's parent down explicitly (TraceContext, src/shared/tracing.ts).
  // Node 20's AsyncLocalStorage, the SDK's default, hooks every promise of the process while any context is entered:
  // measured at 5 % of a worker's CPU per job with every span dropped (OTEL_TRACES_SAMPLER=always_off), the half of
  // what tracing cost in the dispatch benchmark (BENCHMARKS.md).
  provider.register({ contextManager: null });
  return async () => {
    await provider.shutdown();
    trace.disable();
  };
}

/** `<base>/v1/traces`, the OTLP/HTTP traces path under a base endpoint. */
function tracesUrl(base: string): string {
  return `${base.replace(/\/+$/, '')}/v1/traces`;
}

/** `k=v,k2=v2` (values URL-encoded, as the specification says) as headers. */
function headersOf(text: string | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const pair of (text ?? '').split(',')) {
    const separator = pair.indexOf('=');
    if (separator > 0)
      headers[pair.slice(0, separator).trim()] = decodeURIComponent(pair.slice(separator + 1).trim());
  }
  return headers;
}
