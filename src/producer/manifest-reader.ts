/**
 * Streaming manifest readers: CSV (header row) and JSONL, chosen by file extension. Memory is bounded by the longest
 * record whatever the file size. A record that cannot be read is one problem at its own line (with the byte offset
 * for invalid UTF-8), and reading goes on at the next line. Each yields the raw fields of every row with its line number, or a problem with the line it was found on;
 * nothing in the file is skipped without a {@link ManifestProblem} saying so.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { isObjectLocation, objectInfo } from '../storage/manifest-objects.js';
import { scanCsvRecord } from './csv-scanner.js';
import { openManifest } from './manifest-source.js';
import { frameRecords, lineEnd, type FrameOptions, type ScanResult } from './record-framer.js';

/** A row as read from the file, before validation. CSV cells are strings; JSONL values keep their JSON type. */
export interface RawManifestRow {
  kind: 'row';
  /** 1-based line of the file where the row starts (a CSV row with a quoted line break spans several lines). */
  line: number;
  /** Byte offset in the file where the row starts: with `line`, where a manifest cursor resumes at this row. */
  byteOffset: number;
  fields: Record<string, unknown>;
}

/** Something in the file that is not a usable row: malformed CSV, a line that is not JSON, an unreadable file. */
export interface ManifestProblem {
  kind: 'problem';
  line: number;
  /** The field concerned, when one is. */
  field?: string;
  /** A sentence a person understands. */
  message: string;
  code: string;
  /** True when the problem is a row that could not be read (it counts among the rows read); false for the file or its header. */
  isRow: boolean;
}

/** Problems of the whole file or its header, not of a row. */
const FILE_PROBLEMS = new Set([
  'unsupported_manifest',
  'unreadable_manifest',
  'duplicate_column',
  'unreadable_header',
  'csv_delimiter',
  'unsupported_encoding',
]);

export type ManifestEntry = RawManifestRow | ManifestProblem;
export type ManifestFormat = 'csv' | 'jsonl';

/** Longest CSV record accepted, in bytes: an unclosed quote must not swallow the whole file into memory. */
const MAX_CSV_RECORD_BYTES = 1_000_000;
/** Longest JSONL line accepted, in bytes: room for images given inline as data URLs. */
const MAX_JSONL_LINE_BYTES = 64 * 1024 * 1024;

/**
 * The manifest format of a path, from its extension (`.csv`; `.jsonl` or `.ndjson`).
 * @returns undefined for any other extension.
 */
export function manifestFormat(filePath: string): ManifestFormat | undefined {
  const extension = path.extname(filePath).toLowerCase();
  if (extension === '.csv') return 'csv';
  if (extension === '.jsonl' || extension === '.ndjson') return 'jsonl';
  return undefined;
}

/** Options of {@link readManifest}. */
export interface ReadManifestOptions {
  /** Called as the file is read, with the bytes read since the last call (for progress bars). */
  onBytesRead?: (bytes: number) => void;
  /** Called with every chunk of the file's bytes as it is read (a content hash of the manifest). */
  onData?: (chunk: Buffer) => void;
  /** Longest record, in bytes (default 1,000,000 for CSV, 64 MiB for JSONL); a longer one is one reject. */
  maxRecordBytes?: number;
  /**
   * Start at this row (a saved manifest cursor: a row's `byteOffset` and `line`) instead of the file's start. A CSV
   * file's header is read from its first record all the same.
   */
  resumeAt?: ResumePoint;
}

/** A row boundary to resume reading at: a {@link RawManifestRow}'s `byteOffset` and `line`. */
export interface ResumePoint {
  byteOffset: number;
  line: number;
}

/**
 * Read a manifest as a stream of rows and problems. A file that cannot be read at all yields one problem at line 0.
 */
export async function* readManifest(
  filePath: string,
  options: ReadManifestOptions = {},
): AsyncGenerator<ManifestEntry> {
  const format = manifestFormat(filePath);
  if (format === undefined) {
    yield problem(0, 'unsupported_manifest', 'unknown manifest type: use a .csv or .jsonl file');
    return;
  }
  const unreadable = await whyUnreadable(filePath);
  if (unreadable !== undefined) {
    yield problem(0, 'unreadable_manifest', unreadable);
    return;
  }
  const resumeAt = options.resumeAt;
  const header =
    resumeAt === undefined || resumeAt.byteOffset === 0 || format !== 'csv'
      ? undefined
      : await readCsvHeader(filePath, resumeAt);
  const input = await openManifest(filePath, { start: resumeAt?.byteOffset ?? 0 });
  const onBytesRead = options.onBytesRead;
  if (onBytesRead !== undefined) input.on('data', (chunk: Buffer) => onBytesRead(chunk.length));
  const onData = options.onData;
  if (onData !== undefined) input.on('data', (chunk: Buffer) => onData(chunk));
  try {
    if (resumeAt === undefined || resumeAt.byteOffset === 0) {
      yield* readManifestBytes(input, format, options);
      return;
    }
    const framing = { maxRecordBytes: maxRecordBytesOf(format, options), startAt: resumeAt };
    yield* format === 'csv' ? readCsv(input, framing, header) : readJsonLines(input, framing);
  } finally {
    // A reader that stops early (a refill whose window is full) closes the file.
    input.destroy();
  }
}

/**
 * The header of a CSV file whose rows are read from `resumeAt`: its first record, which must end before that row.
 * @throws Error when the file no longer opens with a readable header there (it changed since the cursor was saved).
 */
async function readCsvHeader(filePath: string, resumeAt: ResumePoint): Promise<string[]> {
  const input = await openManifest(filePath, { end: Math.max(0, resumeAt.byteOffset - 1) });
  try {
    for await (const record of frameRecords<string[]>(input, scanCsvRecord, {
      maxRecordBytes: MAX_CSV_RECORD_BYTES,
    }))
      if (record.kind === 'record') return record.value.map((name) => name.trim().toLowerCase());
  } finally {
    input.destroy();
  }
  throw new Error(`${filePath}: no CSV header before byte ${resumeAt.byteOffset}`);
}

/** Why the manifest cannot be read (a sentence), or undefined when it can. */
async function whyUnreadable(location: string): Promise<string | undefined> {
  if (isObjectLocation(location)) {
    const info = await objectInfo(location).catch((error: unknown) => error as Error);
    if (info instanceof Error) return `cannot read the object (${info.name})`;
    return info === undefined ? 'no such object' : undefined;
  }
  try {
    return (await stat(location)).isFile() ? undefined : 'not a regular file';
  } catch (error) {
    return `cannot open the file (${(error as NodeJS.ErrnoException).code ?? 'error'})`;
  }
}

function maxRecordBytesOf(
  format: ManifestFormat,
  options: Pick<ReadManifestOptions, 'maxRecordBytes'>,
): number {
  return options.maxRecordBytes ?? (format === 'csv' ? MAX_CSV_RECORD_BYTES : MAX_JSONL_LINE_BYTES);
}

/**
 * Read a manifest given as its bytes in order (chunks split anywhere), as {@link readManifest} reads a file.
 */
export function readManifestBytes(
  chunks: AsyncIterable<Buffer>,
  format: ManifestFormat,
  options: Pick<ReadManifestOptions, 'maxRecordBytes'> = {},
): AsyncGenerator<ManifestEntry> {
  const framing = { maxRecordBytes: maxRecordBytesOf(format, options) };
  return format === 'csv' ? readCsv(chunks, framing) : readJsonLines(chunks, framing);
}

/** Rows of a CSV file; `knownHeader` when reading resumes past the header. */
async function* readCsv(
  input: AsyncIterable<Buffer>,
  framing: FrameOptions,
  knownHeader?: string[],
): AsyncGenerator<ManifestEntry> {
  let header: string[] | undefined = knownHeader;
  const framed = frameRecords<string[]>(input, scanCsvRecord, framing);
  for await (const record of framed) {
    if (header === undefined) {
      if (record.kind === 'fault') {
        const code = record.code === 'unsupported_encoding' ? record.code : 'unreadable_header';
        yield await headerUnreadable(
          record.line,
          code,
          `the header cannot be read (${record.message})`,
          framed,
        );
        return;
      }
      header = record.value.map((name) => name.trim().toLowerCase());
      const separator = header.length === 1 ? /[;\t|]/.exec(header[0]!)?.[0] : undefined;
      if (separator !== undefined) {
        const shown = separator === '\t' ? 'tabs' : `"${separator}"`;
        const message = `the header is one column, "${header[0]}": columns must be separated by commas, and this file seems to use ${shown}`;
        yield await headerUnreadable(record.line, 'csv_delimiter', message, framed);
        return;
      }
      const duplicate = header.find((name, index) => header!.indexOf(name) !== index);
      if (duplicate !== undefined) {
        yield problem(record.line, 'duplicate_column', `column "${duplicate}" appears twice in the header`);
        return;
      }
      continue;
    }
    if (record.kind === 'fault') {
      yield problem(record.line, csvCode(record.code), record.message);
      continue;
    }
    if (record.value.length !== header.length) {
      yield problem(
        record.line,
        'csv_column_count',
        `wrong number of fields: the header has ${header.length}, this row has ${record.value.length}`,
      );
      continue;
    }
    const fields: Record<string, string> = {};
    for (const [index, name] of header.entries()) fields[name] = record.value[index]!;
    yield { kind: 'row', line: record.line, byteOffset: record.byteOffset, fields };
  }
}

/** The header cannot be read: nothing after it can be. Reads on to say how many lines that leaves unread. */
async function headerUnreadable(
  line: number,
  code: string,
  message: string,
  rest: AsyncIterable<{ line: number }>,
): Promise<ManifestProblem> {
  let lastLine = line;
  for await (const record of rest) lastLine = record.line;
  const unread = lastLine > line ? `; lines ${line + 1}-${lastLine} were not read` : '';
  return problem(line, code, `${message}${unread}`);
}

function csvCode(code: string): string {
  return code === 'record_too_large' ? 'csv_record_too_large' : code;
}

async function* readJsonLines(
  input: AsyncIterable<Buffer>,
  framing: FrameOptions,
): AsyncGenerator<ManifestEntry> {
  for await (const record of frameRecords(input, scanLine, framing)) {
    if (record.kind === 'fault') {
      yield problem(
        record.line,
        record.code === 'record_too_large' ? 'line_too_large' : record.code,
        record.message,
      );
      continue;
    }
    let value: unknown;
    try {
      value = JSON.parse(record.value);
    } catch (error) {
      yield problem(record.line, 'invalid_json', `not valid JSON: ${(error as Error).message}`);
      continue;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      yield problem(record.line, 'invalid_json', 'each line must be one JSON object ({...})');
      continue;
    }
    yield {
      kind: 'row',
      line: record.line,
      byteOffset: record.byteOffset,
      fields: value as Record<string, unknown>,
    };
  }
}

/** One JSONL line: its text without the line break; `value: undefined` for a blank line. */
function scanLine(data: Buffer, start: number, atEnd: boolean): ScanResult<string> {
  const next = lineEnd(data, start, atEnd) ?? (atEnd ? data.length : undefined);
  if (next === undefined) return { kind: 'more' };
  let end = next;
  while (end > start && (data[end - 1] === 0x0a || data[end - 1] === 0x0d)) end -= 1;
  const text = data.toString('utf8', start, end);
  return { kind: 'record', value: text.trim() === '' ? undefined : text, next };
}

function problem(line: number, code: string, message: string): ManifestProblem {
  return { kind: 'problem', line, code, message, isRow: line > 0 && !FILE_PROBLEMS.has(code) };
}
