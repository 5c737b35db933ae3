/**
 * rejects.jsonl: one line per rejected manifest row (or unreadable part of a manifest), with file, line, field and a
 * message a person understands.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';

/** One line of rejects.jsonl. */
export interface RejectLine {
  /** Manifest path as the user gave it. */
  manifest: string;
  /** 1-based line (0: the file as a whole). */
  line: number;
  /** The row's key, when it could be read. */
  row_key: string | null;
  /** The first field at fault, when a field is. */
  field: string | null;
  /** Machine-readable reason, e.g. `invalid_field`, `invalid_json`, `csv_unclosed_quote`, `duplicate_row_key`. */
  code: string;
  message: string;
  /** Every field error of the row. */
  errors: Array<{ field: string; message: string }>;
}

/** Appends reject lines to a file, opened on the first write. */
export class RejectsWriter {
  private stream: WriteStream | undefined;

  constructor(private readonly filePath: string) {}

  async write(line: RejectLine): Promise<void> {
    if (this.stream === undefined) {
      await mkdir(path.dirname(this.filePath), { recursive: true });
      this.stream = createWriteStream(this.filePath, { flags: 'a' });
    }
    const text = `${JSON.stringify({ ...line, rejected_at: new Date().toISOString() })}\n`;
    if (!this.stream.write(text))
      await new Promise<void>((resolve) => this.stream!.once('drain', () => resolve()));
  }

  async close(): Promise<void> {
    const stream = this.stream;
    if (stream === undefined) return;
    await new Promise<void>((resolve, reject) => {
      stream.once('error', reject);
      stream.end(() => resolve());
    });
  }
}
