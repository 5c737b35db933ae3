/**
 * A reader of OTLP/HTTP protobuf trace requests (`application/x-protobuf`, what the CLI's tracing setup sends by
 * default) into the shape of OTLP/JSON, for the test receiver (./otlp-receiver.ts). Written from the messages of
 * opentelemetry-proto (collector/trace/v1 `ExportTraceServiceRequest`, trace/v1 `ResourceSpans` `ScopeSpans` `Span`
 * `Span.Event`, common/v1 `KeyValue` `AnyValue`, resource/v1 `Resource`) and the protobuf wire format
 * (protobuf.dev/programming-guides/encoding/), not with OpenTelemetry's own decoder, so that a test checks what is on
 * the wire. Only the fields the tests read are kept.
 */

/** A value in OTLP/JSON's form (`int64` as a decimal string, as OTLP/JSON writes it). */
export interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
}
export type OtlpAttributes = Array<{ key: string; value: OtlpValue }> | undefined;

/** An export request in OTLP/JSON's form: ids in lowercase hex. */
export interface OtlpTraceRequest {
  resourceSpans: Array<{
    resource?: { attributes?: OtlpAttributes };
    scopeSpans: Array<{
      spans: Array<{
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        name: string;
        attributes?: OtlpAttributes;
        events?: Array<{ name: string; attributes?: OtlpAttributes }>;
      }>;
    }>;
  }>;
}

/** One field of a message: a varint (wire type 0) as a bigint, anything else as its bytes. */
interface Field {
  number: number;
  value: bigint | Buffer;
}

/** The fields of one message, in order. @throws Error on a wire type this reader does not know (groups). */
function fieldsOf(buffer: Buffer): Field[] {
  const fields: Field[] = [];
  let offset = 0;
  const varint = (): bigint => {
    let result = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const byte = buffer[offset++];
      if (byte === undefined) throw new Error('protobuf: a varint runs past the end');
      result |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return result;
    }
  };
  const bytes = (length: number): Buffer => {
    const value = buffer.subarray(offset, offset + length);
    offset += length;
    return value;
  };
  while (offset < buffer.length) {
    const key = Number(varint());
    const [number, wireType] = [key >>> 3, key & 7];
    if (wireType === 0) fields.push({ number, value: varint() });
    else if (wireType === 1) fields.push({ number, value: bytes(8) });
    else if (wireType === 2) fields.push({ number, value: bytes(Number(varint())) });
    else if (wireType === 5) fields.push({ number, value: bytes(4) });
    else throw new Error(`protobuf: wire type ${wireType} of field ${number} is not read here`);
  }
  return fields;
}

/** The length-delimited fields numbered `number`. */
const messages = (fields: Field[], number: number): Buffer[] =>
  fields
    .filter((field) => field.number === number && Buffer.isBuffer(field.value))
    .map((field) => field.value as Buffer);
const text = (fields: Field[], number: number): string => messages(fields, number)[0]?.toString('utf8') ?? '';
const hex = (fields: Field[], number: number): string => messages(fields, number)[0]?.toString('hex') ?? '';

/** common/v1 `AnyValue`: string 1, bool 2, int64 3, double 4 (arrays, lists and bytes are not read). */
function valueOf(buffer: Buffer): OtlpValue {
  const [field] = fieldsOf(buffer);
  if (field === undefined) return {};
  const { number, value } = field;
  if (number === 1 && Buffer.isBuffer(value)) return { stringValue: value.toString('utf8') };
  if (number === 2 && typeof value === 'bigint') return { boolValue: value !== 0n };
  if (number === 3 && typeof value === 'bigint') return { intValue: BigInt.asIntN(64, value).toString() };
  if (number === 4 && Buffer.isBuffer(value)) return { doubleValue: value.readDoubleLE(0) };
  return {};
}

/** Repeated common/v1 `KeyValue` (key 1, value 2) under field `number`. */
function attributesOf(fields: Field[], number: number): OtlpAttributes {
  return messages(fields, number).map((buffer) => {
    const keyValue = fieldsOf(buffer);
    return { key: text(keyValue, 1), value: valueOf(messages(keyValue, 2)[0] ?? Buffer.alloc(0)) };
  });
}

/** trace/v1 `Span`: trace_id 1, span_id 2, parent_span_id 4, name 5, attributes 9, events 11 (name 2, attributes 3). */
function spanOf(
  buffer: Buffer,
): OtlpTraceRequest['resourceSpans'][number]['scopeSpans'][number]['spans'][number] {
  const fields = fieldsOf(buffer);
  return {
    traceId: hex(fields, 1),
    spanId: hex(fields, 2),
    parentSpanId: hex(fields, 4),
    name: text(fields, 5),
    attributes: attributesOf(fields, 9),
    events: messages(fields, 11).map((event) => {
      const eventFields = fieldsOf(event);
      return { name: text(eventFields, 2), attributes: attributesOf(eventFields, 3) };
    }),
  };
}

/**
 * An `ExportTraceServiceRequest` (resource_spans 1 → resource 1 with attributes 1, scope_spans 2 → spans 2).
 * @throws Error when the body is not a protobuf message this reader can walk.
 */
export function decodeTraceRequest(body: Buffer): OtlpTraceRequest {
  return {
    resourceSpans: messages(fieldsOf(body), 1).map((resourceSpans) => {
      const fields = fieldsOf(resourceSpans);
      const resource = messages(fields, 1)[0];
      return {
        resource: { attributes: resource === undefined ? [] : attributesOf(fieldsOf(resource), 1) },
        scopeSpans: messages(fields, 2).map((scopeSpans) => ({
          spans: messages(fieldsOf(scopeSpans), 2).map(spanOf),
        })),
      };
    }),
  };
}
