/**
 * An OTLP/HTTP trace receiver for tests (what a collector's `otlp` receiver takes at `/v1/traces`, in either encoding
 * by its Content-Type: `application/x-protobuf` or `application/json`; opentelemetry.io/docs/specs/otlp/#otlphttp):
 * keeps every span it is sent, with its process's resource attributes.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeTraceRequest, type OtlpAttributes, type OtlpTraceRequest } from './otlp-protobuf.js';

/** A span as received (ids in hex, attributes flattened). */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  attributes: Record<string, unknown>;
  /** Its events (name and flattened attributes), in the order recorded. */
  events: Array<{ name: string; attributes: Record<string, unknown> }>;
  /** The attributes of the resource that sent it (`service.name`, `process.pid`). */
  resource: Record<string, unknown>;
}

function flatten(attributes: OtlpAttributes): Record<string, unknown> {
  const flat: Record<string, unknown> = {};
  for (const { key, value } of attributes ?? [])
    flat[key] =
      value.stringValue ??
      (value.intValue === undefined ? undefined : Number(value.intValue)) ??
      value.doubleValue ??
      value.boolValue;
  return flat;
}

/** The request in a body of `contentType`. @throws Error on another type or a body that does not parse. */
function parseRequest(contentType: string | undefined, body: Buffer): OtlpTraceRequest {
  if (contentType === 'application/x-protobuf') return decodeTraceRequest(body);
  if (contentType === 'application/json') return JSON.parse(body.toString('utf8')) as OtlpTraceRequest;
  throw new Error(`an OTLP request of Content-Type ${contentType}`);
}

/** A running receiver: `endpoint` is what OTEL_EXPORTER_OTLP_ENDPOINT takes. */
export async function startOtlpReceiver(): Promise<{
  endpoint: string;
  spans: ReceivedSpan[];
  /** The Content-Type of every export request received, in order. */
  contentTypes: string[];
  close(): Promise<void>;
}> {
  const spans: ReceivedSpan[] = [];
  const contentTypes: string[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      if (request.url !== '/v1/traces') return void response.writeHead(404).end();
      const contentType = request.headers['content-type'];
      contentTypes.push(contentType ?? '');
      let body: OtlpTraceRequest;
      try {
        body = parseRequest(contentType, Buffer.concat(chunks));
      } catch (error) {
        return void response.writeHead(400).end(String(error));
      }
      for (const resourceSpans of body.resourceSpans) {
        const resource = flatten(resourceSpans.resource?.attributes);
        for (const scope of resourceSpans.scopeSpans)
          for (const span of scope.spans)
            spans.push({
              traceId: span.traceId,
              spanId: span.spanId,
              parentSpanId: span.parentSpanId === '' ? undefined : span.parentSpanId,
              name: span.name,
              attributes: flatten(span.attributes),
              events: (span.events ?? []).map((event) => ({
                name: event.name,
                attributes: flatten(event.attributes),
              })),
              resource,
            });
      }
      // An empty ExportTraceServiceResponse, in the request's encoding.
      response
        .writeHead(200, { 'content-type': contentType })
        .end(contentType === 'application/json' ? '{}' : '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans,
    contentTypes,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
