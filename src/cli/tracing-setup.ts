/**
 * Tracing without code (docs/tracing.md): when the standard `OTEL_EXPORTER_OTLP_ENDPOINT` (or
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, the CLI registers the OpenTelemetry SDK for Node with an OTLP/HTTP
 * exporter, batching spans; `OTEL_EXPORTER_OTLP_PROTOCOL` (or `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`) picks its encoding,
 * `http/protobuf` (the default) or `http/json`; `OTEL_SERVICE_NAME` names the service (default `image-batch`),
 * `OTEL_EXPORTER_OTLP_HEADERS` adds headers (`k=v,k2=v2`), `OTEL_SDK_DISABLED=true` turns it off. Otherwise nothing is
 * registered and the spans image-batch makes are the API's no-ops (src/shared/tracing.ts) — unless the user
 * registered an SDK of their own before calling image-batch (the library case). Variables: the OpenTelemetry
 * specification, opentelemetry.io/docs/specs/otel/protocol/exporter/ ("Specify Protocol": `http/protobuf` is the
 * default an SDK should pick) and .../configuration/sdk-environment-variables/.
 */
import { trace } from '@opentelemetry/api';
import { ConfigurationError } from '../shared/errors.js';

/** Stops tracing: exports what is buffered. */
export type StopTracing = () => Promise<void>;

/** The OTLP encodings the CLI's setup exports in (gRPC is not among them: it would need a gRPC client). */
const PROTOCOLS = ['http/protobuf', 'http/json'] as const;

/**
 * Start the SDK when `environment` asks for it. @returns how to stop it (flushing), or undefined when not started.
 * @throws ConfigurationError when the protocol asked for is not `http/protobuf` or `http/json` (naming the variable).
 */
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
  const protocol = protocolOf(environment);
  const [{ NodeTracerProvider, BatchSpanProcessor }, { OTLPTraceExporter }, { resourceFromAttributes }] =
    await Promise.all([
      import('@opentelemetry/sdk-trace-node'),
      // Protobuf: less than half the bytes of JSON, for the same worker CPU (measured side by side; docs/tracing.md).
      protocol === 'http/json'
        ? import('@opentelemetry/exporter-trace-otlp-http')
        : import('@opentelemetry/exporter-trace-otlp-proto'),
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

/** The encoding asked for (the traces variable first), `http/protobuf` when none is. @throws ConfigurationError */
function protocolOf(environment: Record<string, string | undefined>): (typeof PROTOCOLS)[number] {
  const variable =
    environment.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL === undefined
      ? 'OTEL_EXPORTER_OTLP_PROTOCOL'
      : 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL';
  const value = environment[variable]?.trim() || 'http/protobuf';
  const known = PROTOCOLS.find((protocol) => protocol === value);
  if (known === undefined)
    throw new ConfigurationError(
      `${variable}=${value} is not supported: image-batch exports traces over ${PROTOCOLS.join(' or ')}`,
    );
  return known;
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
