/**
 * rejects.jsonl: one line per rejected manifest row (or unreadable part of a manifest), with file, line, field and a
 * message a person understands.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { OutputStore } from '../storage/output-store.js';

/** The rejects file, relative to the batch. */
const REJECTS_FILE = 'rejects.jsonl';

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

/**
 * Appends reject lines to the batch's rejects.jsonl, opened on the first write: in place in a directory store, else
 * staged in a local file that {@link close} appends to the stored one.
 */
export class RejectsWriter {
  private stream: WriteStream | undefined;
  private stagedFile: string | undefined;

  constructor(
    private readonly store: OutputStore,
    private readonly batchId: string,
  ) {}

  async write(line: RejectLine): Promise<void> {
    if (this.stream === undefined) {
      let filePath = this.store.localPath(this.batchId, REJECTS_FILE);
      if (filePath === undefined) {
        filePath = await this.store.stagingPath(this.batchId, REJECTS_FILE);
        this.stagedFile = filePath;
      }
      await mkdir(path.dirname(filePath), { recursive: true });
      this.stream = createWriteStream(filePath, { flags: 'a' });
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
    if (this.stagedFile !== undefined)
      await this.store.appendFile(this.batchId, REJECTS_FILE, this.stagedFile);
  }
}
