/**
 * Where a batch's files are kept: one interface, two implementations.
 * - LocalOutputStore: a directory (`<root>/<batch>/images/…`, `results.jsonl`, `rejects.jsonl`,
 *   `summary.json`), as laid out by batchPaths.
 * - S3OutputStore: S3-compatible object storage under `s3://<bucket>/<prefix>/<batch>/`, so workers on several
 *   machines write to one place. Objects have no append, so each row's results line is its own object
 *   (`results/<row-key>.json`); reading the results lists that prefix.
 *
 * A batch records its output root in Redis (a directory or an `s3://` URL, never a credential); every process
 * resolves the store from it with outputStoreFor. S3 settings come from the environment: bucket and prefix of
 * the default root (`IMAGE_BATCH_S3_BUCKET`, `IMAGE_BATCH_S3_PREFIX`), endpoint (`IMAGE_BATCH_S3_ENDPOINT`, for MinIO,
 * R2, Ceph…), region (`AWS_REGION`), credentials through the AWS SDK's default chain (`AWS_ACCESS_KEY_ID` /
 * `AWS_SECRET_ACCESS_KEY`, profiles, instance roles).
 *
 * Implementations: ./local-store.ts and ./s3-store.ts; ./stores.ts picks one for a root.
 */
import path from 'node:path';
import type { Readable } from 'node:stream';

/** One stored file of a batch. */
export interface StoredObject {
  /** Path relative to the batch (`images/a.png`, `results.jsonl`, `results/a.json`). */
  path: string;
  bytes: number;
}

/** A row's results line waiting to be written. */
export interface PendingResultLine {
  rowKey: string;
  /** The JSON text of the line, without newline. */
  text: string;
}

/** Storage of batches' output files. Paths are relative to the batch and already safe (see output-layout.ts). */
export interface OutputStore {
  /** The root as recorded with a batch: an absolute directory or `s3://bucket/prefix`. */
  readonly root: string;
  /** Where batch `batchId`'s files are, for people: a directory or an `s3://` URL. */
  batchLocation(batchId: string): string;
  /** The local path of the batch's file `relativePath` when the store is a directory (appended to in place). */
  localPath(batchId: string, relativePath: string): string | undefined;
  /** A local path to write a file to before {@link putFile} takes it (beside the target for a directory). */
  stagingPath(batchId: string, relativePath: string): Promise<string>;
  /**
   * Remove the staged files of `relativePath` that a killed worker left (older than `olderThanMs`), when the store
   * keeps them beside the target. Called when a row is recovered. @returns how many were removed.
   */
  removeStaleStaging?(batchId: string, relativePath: string, olderThanMs: number): Promise<number>;
  /** Move the finished local file `stagedFile` to `relativePath` of the batch (the staged file is consumed). */
  putFile(batchId: string, relativePath: string, stagedFile: string): Promise<void>;
  /** Append the lines of local file `stagedFile` to the batch's `relativePath` (rejects.jsonl); the file is consumed. */
  appendFile(batchId: string, relativePath: string, stagedFile: string): Promise<void>;
  /** Replace `relativePath` of the batch with `text` atomically (summary.json). */
  writeText(batchId: string, relativePath: string, text: string): Promise<void>;
  /** Write one row's results line. */
  writeResultLine(batchId: string, line: PendingResultLine): Promise<void>;
  /** Write each line whose row has no results line yet. @returns how many were written. */
  writeMissingResultLines(batchId: string, lines: PendingResultLine[]): Promise<number>;
  /** Remove the results lines of `rowKeys` for which `drop(line)` holds (a retried row's failed line). */
  removeResultLines(batchId: string, rowKeys: Set<string>, drop: (text: string) => boolean): Promise<void>;
  /** The batch's results lines (JSON texts), in no promised order; none when there are none yet. */
  resultLines(batchId: string): AsyncIterable<string>;
  /** A stream of the batch's file `relativePath`, or undefined when there is none. */
  read(batchId: string, relativePath: string): Promise<Readable | undefined>;
  /** Every stored file of the batch (temporary and hidden files left out). */
  list(batchId: string): AsyncIterable<StoredObject>;
  /** A local directory for caches of derived files (the dashboard's thumbnails). */
  cacheDirectory(batchId: string): string;
  /** The folders of the batches under the root (each a batch's {@link batchLocation}), hidden ones left out. */
  batchFolders(): AsyncIterable<string>;
  /**
   * Put a copy of `sourcePath` of the batch in folder `sourceFolder` (same root) at `relativePath` of batch `batchId`:
   * a hard link where the store allows (a directory on one file system), else a byte-for-byte copy (S3 CopyObject).
   * @returns false when the source is gone (or lies outside its batch).
   */
  copyImage(
    sourceFolder: string,
    sourcePath: string,
    batchId: string,
    relativePath: string,
  ): Promise<boolean>;
}

/**
 * The output storage could not take a write for now (S3 answered 5xx or SlowDown, timed out or dropped the connection,
 * after the SDK's retries): the batch pauses (src/batch/storage-pause.ts) instead of failing rows already paid for.
 */
export class StorageUnavailableError extends Error {
  override readonly name = 'StorageUnavailableError';
}

/** The results file of a directory store, relative to the batch. */
export const RESULTS_FILE = 'results.jsonl';
/** The folder of per-row results objects of an S3 store, relative to the batch. */
export const RESULTS_FOLDER = 'results/';

/** The end of a staging file's name: unique per process and call, `.part` so listings leave it out. */
export function stagingSuffix(): string {
  return `${process.pid}-${Math.random().toString(16).slice(2, 10)}.part`;
}

/** The default output root: `s3://$IMAGE_BATCH_S3_BUCKET/$IMAGE_BATCH_S3_PREFIX` when a bucket is set, else `output`. */
export function defaultOutputRoot(env: NodeJS.ProcessEnv): string {
  const bucket = env.IMAGE_BATCH_S3_BUCKET?.trim();
  if (bucket === undefined || bucket === '') return 'output';
  const prefix = (env.IMAGE_BATCH_S3_PREFIX ?? '').trim().replace(/^\/+|\/+$/g, '');
  return `s3://${bucket}${prefix === '' ? '' : `/${prefix}`}`;
}

/** Read a whole stream of a store (small files: summary.json, one results object). */
export async function bufferOf(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

/** Where file `relativePath` of a batch at `batchLocation` (from {@link OutputStore.batchLocation}) is, for people. */
export function fileLocation(batchLocation: string, relativePath: string): string {
  return isS3Root(batchLocation)
    ? `${batchLocation.replace(/\/+$/, '')}/${relativePath}`
    : path.join(batchLocation, relativePath);
}

/** Whether `root` names S3-compatible storage (`s3://…`) rather than a directory. */
export function isS3Root(root: string): boolean {
  return root.startsWith('s3://');
}

/** The form of an output root recorded with a batch: `s3://…` as given (no trailing `/`), a directory made absolute. */
export function normalizeOutputRoot(root: string): string {
  return isS3Root(root) ? root.replace(/\/+$/, '') : path.resolve(root);
}

/**
 * Write each of `lines` whose row `isPresent` does not already show, through `store.writeResultLine`.
 * @returns how many lines were written.
 */
export async function writeLinesNotPresent(
  store: Pick<OutputStore, 'writeResultLine'>,
  batchId: string,
  lines: PendingResultLine[],
  isPresent: (rowKey: string) => boolean,
): Promise<number> {
  const written = new Set<string>();
  for (const line of lines) {
    if (isPresent(line.rowKey) || written.has(line.rowKey)) continue;
    await store.writeResultLine(batchId, line);
    written.add(line.rowKey);
  }
  return written.size;
}
