/**
 * The state of the simulated OpenAI Batch API (./openai-batch.ts): files on disk, batches, counters, the behaviour a
 * test sets, and the limits OpenAI publishes (CreateBatchRequest.input_file_id: 50,000 requests, 200 MB).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { perSimulator } from '../core.js';

/** Most requests in one batch, and the largest input file, bytes (CreateBatchRequest.input_file_id). */
export const MAX_BATCH_REQUESTS = 50_000;
export const MAX_BATCH_FILE_BYTES = 200 * 1024 * 1024;
export const ENDPOINTS = { '/v1/images/generations': 'generate', '/v1/images/edits': 'edit' } as const;

/** How the simulated Batch API behaves (tests set it). */
export interface BatchBehaviour {
  /** Time a batch stays `validating` then `in_progress` before its lines are processed, ms. */
  processingMs: number;
  /** Process only this many lines of each batch, then end it `expired`. */
  expireAfterLines?: number;
  /** Create the next this many batches but drop the connection instead of answering (the answer is lost). */
  dropCreateAnswers?: number;
  /**
   * Run this many requests (each made, and billed) but write a line no reader can parse in their place in the output
   * file: a completed batch with no readable line for those rows.
   */
  unreadableLines?: number;
}

export interface StoredFile {
  id: string;
  purpose: string;
  filename: string;
  bytes: number;
  createdAt: number;
  diskPath: string;
}

export interface SimulatedBatch {
  id: string;
  endpoint: keyof typeof ENDPOINTS;
  inputFileId: string;
  status: string;
  createdAt: number;
  expiresAt: number;
  metadata: Record<string, string> | null;
  counts: { total: number; completed: number; failed: number };
  outputFileId?: string;
  errorFileId?: string;
  cancelRequested: boolean;
  timestamps: Record<string, number>;
}

/** The Batch API state of one simulator. */
export class BatchWorld {
  readonly directory = mkdtempSync(path.join(tmpdir(), 'image-batch-simulated-files-'));
  readonly files = new Map<string, StoredFile>();
  readonly batches = new Map<string, SimulatedBatch>();
  behaviour: BatchBehaviour = { processingMs: 50 };
  /** Batches created, and request lines accepted, by `custom_id` (a test checks nothing went twice). */
  batchesCreated = 0;
  readonly linesByCustomId = new Map<string, number>();

  /** Delete the files on disk. */
  close(): void {
    rmSync(this.directory, { recursive: true, force: true });
  }

  async storeFile(content: Buffer, purpose: string, filename: string): Promise<StoredFile> {
    const id = `file-${randomUUID().replace(/-/g, '')}`;
    const diskPath = path.join(this.directory, id);
    await writeFile(diskPath, content);
    const file = { id, purpose, filename, bytes: content.length, createdAt: now(), diskPath };
    this.files.set(id, file);
    return file;
  }
}

/** The Batch API state of `core`'s simulator. */
export const batchWorldOf = perSimulator(() => new BatchWorld());

export function now(): number {
  return Math.floor(Date.now() / 1000);
}

export function asRecord(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}
