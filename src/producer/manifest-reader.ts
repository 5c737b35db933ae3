/**
 * Streaming manifest readers: CSV (header row) and JSONL, chosen by file extension. Memory stays constant whatever the
 * file size. Each yields the raw fields of every row with its line number, or a problem with the line it was found on;
 * nothing in the file is skipped without a {@link ManifestProblem} saying so.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { parse, CsvError } from 'csv-parse';

/** A row as read from the file, before validation. CSV cells are strings; JSONL values keep their JSON type. */
export interface RawManifestRow {
  kind: 'row';
  /** 1-based line of the file where the row ends (a CSV row with a quoted line break spans several lines). */
  line: number;
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
const FILE_PROBLEMS = new Set(['unsupported_manifest', 'unreadable_manifest', 'duplicate_column']);

export type ManifestEntry = RawManifestRow | ManifestProblem;
export type ManifestFormat = 'csv' | 'jsonl';

/** Longest CSV record accepted, in characters: a stray quote must not swallow the whole file into memory. */
const MAX_CSV_RECORD_CHARACTERS = 1_000_000;

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
  try {
    const info = await stat(filePath);
    if (!info.isFile()) {
      yield problem(0, 'unreadable_manifest', 'not a regular file');
      return;
    }
  } catch (error) {
    yield problem(
      0,
      'unreadable_manifest',
      `cannot open the file (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
    );
    return;
  }
  const input = createReadStream(filePath);
  const onBytesRead = options.onBytesRead;
  if (onBytesRead !== undefined) input.on('data', (chunk) => onBytesRead(chunk.length));
  yield* format === 'csv' ? readCsv(input) : readJsonLines(input);
}

async function* readCsv(input: Readable): AsyncGenerator<ManifestEntry> {
  const problems: ManifestProblem[] = [];
  let headerProblem: ManifestProblem | undefined;
  const parser = input.pipe(
    parse({
      bom: true,
      info: true,
      skip_empty_lines: true,
      skip_records_with_error: true,
      max_record_size: MAX_CSV_RECORD_CHARACTERS,
      columns: (header: string[]) => {
        const names = header.map((name) => name.trim().toLowerCase());
        const seen = new Set<string>();
        for (const name of names) {
          if (seen.has(name))
            headerProblem = problem(1, 'duplicate_column', `column "${name}" appears twice in the header`);
          seen.add(name);
        }
        return names;
      },
    }),
  );
  parser.on('skip', (error: CsvError) => problems.push(csvProblem(error)));
  try {
    for await (const { record, info } of parser as AsyncIterable<{
      record: Record<string, string>;
      info: { lines: number };
    }>) {
      if (headerProblem !== undefined) break;
      yield* problems.splice(0);
      yield { kind: 'row', line: info.lines, fields: record };
    }
  } catch (error) {
    problems.push(
      error instanceof CsvError ? csvProblem(error) : problem(0, 'unreadable_manifest', String(error)),
    );
  }
  if (headerProblem !== undefined) {
    parser.destroy();
    yield headerProblem;
    return;
  }
  yield* problems;
}

function csvProblem(error: CsvError): ManifestProblem {
  const line = typeof error.lines === 'number' ? error.lines : 0;
  switch (error.code) {
    case 'CSV_QUOTE_NOT_CLOSED':
      return problem(
        line,
        'csv_unclosed_quote',
        'a quoted field is never closed: this row and everything after it up to the end of the file were not read',
      );
    case 'CSV_RECORD_INCONSISTENT_COLUMNS':
    case 'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH':
      return problem(
        line,
        'csv_column_count',
        error.message.replace(/^Invalid Record Length: /, 'wrong number of fields: '),
      );
    case 'INVALID_OPENING_QUOTE':
    case 'CSV_INVALID_CLOSING_QUOTE':
      return problem(line, 'csv_stray_quote', `misplaced quote: ${error.message}`);
    case 'CSV_MAX_RECORD_SIZE':
      return problem(
        line,
        'csv_record_too_large',
        'a row is longer than 1,000,000 characters (an unclosed quote?)',
      );
    default:
      return problem(line, 'csv_malformed', error.message);
  }
}

async function* readJsonLines(input: Readable): AsyncGenerator<ManifestEntry> {
  const lines = createInterface({ input, crlfDelay: Infinity });
  let lineNumber = 0;
  for await (const text of lines) {
    lineNumber += 1;
    const trimmed = (lineNumber === 1 ? text.replace(/^\uFEFF/, '') : text).trim();
    if (trimmed === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(trimmed);
    } catch (error) {
      yield problem(lineNumber, 'invalid_json', `not valid JSON: ${(error as Error).message}`);
      continue;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      yield problem(lineNumber, 'invalid_json', 'each line must be one JSON object ({...})');
      continue;
    }
    yield { kind: 'row', line: lineNumber, fields: value as Record<string, unknown> };
  }
}

function problem(line: number, code: string, message: string): ManifestProblem {
  return { kind: 'problem', line, code, message, isRow: line > 0 && !FILE_PROBLEMS.has(code) };
}
