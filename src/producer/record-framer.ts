/**
 * Byte-level framing of a manifest into records, shared by the CSV and JSONL readers. Working on bytes, not decoded
 * text, lets a reader name the exact line and byte offset of a bad record, refuse invalid UTF-8 instead of replacing
 * it (a prompt altered by decoding would be paid for), bound the memory a record may take, and resume at the next
 * line after a record that cannot be read — so one bad record is one reject and every later row is still read.
 *
 * Line breaks are `\n`, `\r\n` and a lone `\r`, each counted once (a CRLF inside a quoted CSV field is one line).
 */
import { isUtf8 } from 'node:buffer';

/** What a scanner makes of the bytes from `start`. */
export type ScanResult<T> =
  /** One record, ending (terminator included) just before `next`. `value` undefined: a blank line, skipped. */
  | { kind: 'record'; value: T | undefined; next: number }
  /** The record cannot be read; reading resumes at the next line after its first one. */
  | { kind: 'fault'; code: string; message: string; at: number }
  /** The bytes end before the record does: give more. */
  | { kind: 'more' };

/**
 * Reads one record from `data` at `start`. `atEnd`: no more bytes will come. Must not look beyond `data.length`,
 * and must answer `more` rather than guess when the record may continue past it.
 */
export type RecordScanner<T> = (data: Buffer, start: number, atEnd: boolean) => ScanResult<T>;

/** A record read, or a record that could not be. `line` is 1-based and where the record starts. */
export type FramedRecord<T> =
  | { kind: 'record'; line: number; byteOffset: number; value: T }
  | { kind: 'fault'; line: number; byteOffset: number; code: string; message: string };

/** Options of {@link frameRecords}. */
export interface FrameOptions {
  /** Longest record, in bytes; a longer one is a `record_too_large` fault. */
  maxRecordBytes: number;
  /**
   * Where `input` starts in the file, when not at its start: the byte offset and line of a record boundary (a saved
   * manifest cursor). Offsets and lines are then the file's; no byte order mark is looked for.
   */
  startAt?: { byteOffset: number; line: number };
}

const LINE_FEED = 0x0a;
const CARRIAGE_RETURN = 0x0d;

/**
 * Frame `input` (chunks of the file, in order) into records with `scan`. A UTF-8 byte order mark at the start is
 * skipped. A record whose bytes are not valid UTF-8 is a fault naming the file's byte offset of the first bad byte.
 */
export async function* frameRecords<T>(
  input: AsyncIterable<Buffer>,
  scan: RecordScanner<T>,
  options: FrameOptions,
): AsyncGenerator<FramedRecord<T>> {
  const iterator = input[Symbol.asyncIterator]();
  let data = Buffer.alloc(0);
  /** File offset of data[0]. */
  let base = options.startAt?.byteOffset ?? 0;
  let start = 0;
  let line = options.startAt?.line ?? 1;
  let atEnd = false;
  let discardingLine = false;
  let first = options.startAt === undefined;
  const pull = async (): Promise<void> => {
    const chunk = await iterator.next();
    if (chunk.done === true) atEnd = true;
    data = Buffer.concat([data.subarray(start), ...(chunk.done === true ? [] : [chunk.value])]);
    base += start;
    start = 0;
  };
  for (;;) {
    if (first) {
      while (data.length < 3 && !atEnd) await pull();
      first = false;
      const opening = byteOrderMark(data);
      if (opening === 'utf-16') {
        yield fault(1, 0, 'unsupported_encoding', UTF16_MESSAGE);
        return;
      }
      start = opening === 'utf-8' ? 3 : 0;
    }
    if (discardingLine) {
      const end = lineEnd(data, start, atEnd);
      if (end === undefined) {
        if (atEnd) return;
        start = keepTrailingCarriageReturn(data);
        await pull();
        continue;
      }
      line += 1;
      start = end;
      discardingLine = false;
    }
    if (start >= data.length && atEnd) return;
    const result = start < data.length ? scan(data, start, atEnd) : { kind: 'more' as const };
    const end = result.kind === 'more' ? data.length : result.kind === 'record' ? result.next : start;
    if (end - start > options.maxRecordBytes || result.kind === 'fault') {
      yield result.kind === 'fault'
        ? fault(line, base + result.at, result.code, result.message)
        : fault(line, base + start, 'record_too_large', tooLarge(options.maxRecordBytes));
      ({ start, line, discardingLine } = resumeAfterFirstLine(data, start, line, atEnd));
      continue;
    }
    if (result.kind === 'more') {
      // Rescanning starts from the record's first byte: wait for twice the bytes, so a long record costs linear time.
      const wanted = (data.length - start) * 2;
      do await pull();
      while (!atEnd && data.length - start < wanted);
      continue;
    }
    const bytes = data.subarray(start, result.next);
    if (!isUtf8(bytes)) {
      const at = base + start + firstInvalidUtf8Offset(bytes);
      yield fault(line, at, 'invalid_utf8', notUtf8(at));
    } else if (result.value !== undefined) {
      yield { kind: 'record', line, byteOffset: base + start, value: result.value };
    }
    line += countLineBreaks(data, start, result.next);
    start = result.next;
  }
}

const UTF16_MESSAGE = 'the file is UTF-16 (Excel\'s "Unicode Text"): save it as UTF-8 (Excel: "CSV UTF-8")';

/** The byte order mark the file opens with, if any. */
function byteOrderMark(data: Buffer): 'utf-8' | 'utf-16' | undefined {
  if (data[0] === 0xef && data[1] === 0xbb && data[2] === 0xbf) return 'utf-8';
  if ((data[0] === 0xff && data[1] === 0xfe) || (data[0] === 0xfe && data[1] === 0xff)) return 'utf-16';
  return undefined;
}

function fault(line: number, byteOffset: number, code: string, message: string): FramedRecord<never> {
  return { kind: 'fault', line, byteOffset, code, message };
}

function notUtf8(byteOffset: number): string {
  return `byte ${byteOffset} of the file is not valid UTF-8: the row was not read (save the manifest as UTF-8)`;
}

function tooLarge(maxRecordBytes: number): string {
  return `the row is longer than ${maxRecordBytes.toLocaleString('en-US')} bytes (an unclosed quote?)`;
}

/**
 * Where reading resumes after a bad record starting at `start`: the next line. When that line's end is not in `data`
 * yet, the rest of the line is discarded as it arrives.
 */
function resumeAfterFirstLine(
  data: Buffer,
  start: number,
  line: number,
  atEnd: boolean,
): { start: number; line: number; discardingLine: boolean } {
  const end = lineEnd(data, start, atEnd);
  if (end === undefined) return { start: keepTrailingCarriageReturn(data), line, discardingLine: !atEnd };
  return { start: end, line: line + 1, discardingLine: false };
}

/** Where discarding stops in `data`: its end, or its last byte when that is a `\r` whose `\n` may come next. */
function keepTrailingCarriageReturn(data: Buffer): number {
  return data.length > 0 && data[data.length - 1] === CARRIAGE_RETURN ? data.length - 1 : data.length;
}

/**
 * The index just after the first line break at or after `from`, or undefined when there is none in `data` (or a
 * `\r` ends `data` and a `\n` may follow).
 */
export function lineEnd(data: Buffer, from: number, atEnd: boolean): number | undefined {
  for (let index = from; index < data.length; index += 1) {
    const byte = data[index];
    if (byte === LINE_FEED) return index + 1;
    if (byte === CARRIAGE_RETURN) {
      if (index + 1 < data.length) return data[index + 1] === LINE_FEED ? index + 2 : index + 1;
      return atEnd ? index + 1 : undefined;
    }
  }
  return undefined;
}

/** Line breaks in data[from, to): `\r\n` counts once. */
export function countLineBreaks(data: Buffer, from: number, to: number): number {
  let count = 0;
  for (let index = from; index < to; index += 1) {
    const byte = data[index];
    if (byte === LINE_FEED) count += 1;
    else if (byte === CARRIAGE_RETURN && data[index + 1] !== LINE_FEED) count += 1;
  }
  return count;
}

/**
 * Offset of the first byte that does not belong to a well-formed UTF-8 sequence (RFC 3629: no overlong forms, no
 * surrogates, nothing past U+10FFFF); `bytes.length` when all are well formed.
 */
export function firstInvalidUtf8Offset(bytes: Uint8Array): number {
  let index = 0;
  while (index < bytes.length) {
    const lead = bytes[index]!;
    if (lead < 0x80) {
      index += 1;
      continue;
    }
    let length: number;
    let low = 0x80;
    let high = 0xbf;
    if (lead >= 0xc2 && lead <= 0xdf) length = 2;
    else if (lead >= 0xe0 && lead <= 0xef) {
      length = 3;
      if (lead === 0xe0) low = 0xa0;
      if (lead === 0xed) high = 0x9f;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      length = 4;
      if (lead === 0xf0) low = 0x90;
      if (lead === 0xf4) high = 0x8f;
    } else return index;
    for (let continuation = 1; continuation < length; continuation += 1) {
      const byte = bytes[index + continuation];
      const [min, max] = continuation === 1 ? [low, high] : [0x80, 0xbf];
      if (byte === undefined || byte < min || byte > max) return index;
    }
    index += length;
  }
  return bytes.length;
}
