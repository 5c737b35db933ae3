/**
 * One CSV record (RFC 4180: comma-separated, `"`-quoted fields with `""` for a quote, line breaks allowed inside
 * quotes) scanned from bytes, for {@link frameRecords}. Two departures from the RFC, both lenient only where nothing
 * can be misread: a quote inside an unquoted field is kept as written (`a "b" c`), and a line holding only spaces or
 * tabs is skipped like an empty one. What cannot be read without a guess is a fault: a character after a closing
 * quote (`"bad"x`) or a quote never closed.
 */
import { lineEnd, type ScanResult } from './record-framer.js';

const COMMA = 0x2c;
const QUOTE = 0x22;
const LINE_FEED = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const SPACE = 0x20;
const TAB = 0x09;

const MORE = { kind: 'more' } as const;

/**
 * Scan the CSV record at `data[start]`: its fields as written (not trimmed), or `value: undefined` for a blank line.
 * The record ends at a line break outside quotes or at the end of the file.
 */
export function scanCsvRecord(data: Buffer, start: number, atEnd: boolean): ScanResult<string[]> {
  const fields: string[] = [];
  let index = start;
  for (;;) {
    if (data[index] === QUOTE) {
      const quoted = scanQuotedField(data, index, atEnd);
      if (quoted.kind !== 'field') return quoted;
      fields.push(quoted.text);
      if (quoted.after === COMMA) {
        index = quoted.end + 1;
        continue;
      }
      return endOfRecord(fields, data, quoted.end, atEnd);
    }
    let cursor = index;
    while (cursor < data.length) {
      const byte = data[cursor];
      if (byte === COMMA || byte === LINE_FEED || byte === CARRIAGE_RETURN) break;
      cursor += 1;
    }
    if (cursor >= data.length && !atEnd) return MORE;
    fields.push(data.toString('utf8', index, cursor));
    if (data[cursor] === COMMA) {
      index = cursor + 1;
      continue;
    }
    if (fields.length === 1 && isBlank(data, start, cursor)) {
      const next = cursor >= data.length ? cursor : lineEnd(data, cursor, atEnd);
      return next === undefined ? MORE : { kind: 'record', value: undefined, next };
    }
    return endOfRecord(fields, data, cursor, atEnd);
  }
}

type QuotedField =
  | { kind: 'field'; text: string; end: number; after: number | undefined }
  | Exclude<ScanResult<never>, { kind: 'record' }>;

/** The quoted field opening at `data[open]`; `end` is the index just after its closing quote. */
function scanQuotedField(data: Buffer, open: number, atEnd: boolean): QuotedField {
  let cursor = open + 1;
  let escaped = false;
  for (;;) {
    const quote = data.indexOf(QUOTE, cursor);
    if (quote === -1) {
      if (!atEnd) return MORE;
      return {
        kind: 'fault',
        code: 'csv_unclosed_quote',
        message: 'a quoted field is never closed: this line was skipped and reading went on at the next one',
        at: open,
      };
    }
    if (quote + 1 >= data.length && !atEnd) return MORE;
    const after = data[quote + 1];
    if (after === QUOTE) {
      escaped = true;
      cursor = quote + 2;
      continue;
    }
    if (after !== undefined && after !== COMMA && after !== LINE_FEED && after !== CARRIAGE_RETURN)
      return {
        kind: 'fault',
        code: 'csv_stray_quote',
        message: `misplaced quote: a closing quote is followed by "${String.fromCharCode(after)}" instead of a comma or the end of the line (write "" for a quote inside a quoted field)`,
        at: quote,
      };
    const text = data.toString('utf8', open + 1, quote);
    return { kind: 'field', text: escaped ? text.replaceAll('""', '"') : text, end: quote + 1, after };
  }
}

/** The record whose last field ends at `data[end]` (a line break, or the end of the file). */
function endOfRecord(fields: string[], data: Buffer, end: number, atEnd: boolean): ScanResult<string[]> {
  if (end >= data.length) return { kind: 'record', value: fields, next: end };
  const next = lineEnd(data, end, atEnd);
  return next === undefined ? MORE : { kind: 'record', value: fields, next };
}

function isBlank(data: Buffer, from: number, to: number): boolean {
  for (let index = from; index < to; index += 1)
    if (data[index] !== SPACE && data[index] !== TAB) return false;
  return true;
}
