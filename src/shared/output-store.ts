/**
 * Where a batch's files are kept: one interface, two implementations.
 * - {@link LocalOutputStore}: a directory (`<root>/<batch>/images/…`, `results.jsonl`, `rejects.jsonl`,
 *   `summary.json`), as laid out by {@link batchPaths}.
 * - {@link S3OutputStore}: S3-compatible object storage under `s3://<bucket>/<prefix>/<batch>/`, so workers on several
 *   machines write to one place. Objects have no append, so each row's results line is its own object
 *   (`results/<row-key>.json`); reading the results lists that prefix.
 *
 * A batch records its output root in Redis (a directory or an `s3://` URL, never a credential); every process
 * resolves the store from it with {@link outputStoreFor}. S3 settings come from the environment: bucket and prefix of
 * the default root (`IMAGE_BATCH_S3_BUCKET`, `IMAGE_BATCH_S3_PREFIX`), endpoint (`IMAGE_BATCH_S3_ENDPOINT`, for MinIO,
 * R2, Ceph…), region (`AWS_REGION`), credentials through the AWS SDK's default chain (`AWS_ACCESS_KEY_ID` /
 * `AWS_SECRET_ACCESS_KEY`, profiles, instance roles).
 */
import { createReadStream } from 'node:fs';
import { appendFile, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { createInterface } from 'node:readline';
import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import { UsageError } from './errors.js';
import { batchPaths, resolveInside, safeFileStem } from './output-layout.js';

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
}

/** The results file of a directory store, relative to the batch. */
const RESULTS_FILE = 'results.jsonl';
/** The folder of per-row results objects of an S3 store, relative to the batch. */
const RESULTS_FOLDER = 'results/';

/** The end of a staging file's name: unique per process and call, `.part` so listings leave it out. */
function stagingSuffix(): string {
  return `${process.pid}-${Math.random().toString(16).slice(2, 10)}.part`;
}

/** A batch's output in a local (or network-mounted) directory. */
export class LocalOutputStore implements OutputStore {
  /** Directories known to exist: one mkdir per directory and process, not one per file. */
  private readonly madeDirectories = new Set<string>();

  constructor(readonly root: string) {}

  private async makeDirectory(directory: string): Promise<void> {
    if (this.madeDirectories.has(directory)) return;
    await mkdir(directory, { recursive: true });
    this.madeDirectories.add(directory);
  }

  batchLocation(batchId: string): string {
    return batchPaths(this.root, batchId).directory;
  }

  private fileOf(batchId: string, relativePath: string): string {
    return resolveInside(this.batchLocation(batchId), relativePath);
  }

  localPath(batchId: string, relativePath: string): string {
    return this.fileOf(batchId, relativePath);
  }

  async stagingPath(batchId: string, relativePath: string): Promise<string> {
    const target = this.fileOf(batchId, relativePath);
    await this.makeDirectory(path.dirname(target));
    return `${target}.${stagingSuffix()}`;
  }

  async putFile(batchId: string, relativePath: string, stagedFile: string): Promise<void> {
    await rename(stagedFile, this.fileOf(batchId, relativePath));
  }

  async appendFile(batchId: string, relativePath: string, stagedFile: string): Promise<void> {
    const target = this.fileOf(batchId, relativePath);
    await mkdir(path.dirname(target), { recursive: true });
    await appendFile(target, await readFile(stagedFile));
    await rm(stagedFile, { force: true });
  }

  async writeText(batchId: string, relativePath: string, text: string): Promise<void> {
    const staged = await this.stagingPath(batchId, relativePath);
    await writeFile(staged, text);
    await this.putFile(batchId, relativePath, staged);
  }

  async writeResultLine(batchId: string, line: PendingResultLine): Promise<void> {
    const file = this.fileOf(batchId, RESULTS_FILE);
    await this.makeDirectory(path.dirname(file));
    // One write of a whole line with O_APPEND: lines of concurrent writers never interleave.
    await appendFile(file, `${line.text}\n`, { flag: 'a' });
  }

  async writeMissingResultLines(batchId: string, lines: PendingResultLine[]): Promise<number> {
    const present = new Set<string>();
    for await (const text of this.resultLines(batchId)) {
      const key = (JSON.parse(text) as { row_key?: string }).row_key;
      if (key !== undefined) present.add(key);
    }
    let written = 0;
    for (const line of lines) {
      if (present.has(line.rowKey)) continue;
      await this.writeResultLine(batchId, line);
      present.add(line.rowKey);
      written += 1;
    }
    return written;
  }

  async removeResultLines(
    batchId: string,
    rowKeys: Set<string>,
    drop: (text: string) => boolean,
  ): Promise<void> {
    const kept: string[] = [];
    for await (const text of this.resultLines(batchId)) {
      const key = (JSON.parse(text) as { row_key?: string }).row_key;
      if (!(key !== undefined && rowKeys.has(key) && drop(text))) kept.push(text);
    }
    await this.writeText(batchId, RESULTS_FILE, kept.length === 0 ? '' : `${kept.join('\n')}\n`);
  }

  async *resultLines(batchId: string): AsyncIterable<string> {
    const input = await this.read(batchId, RESULTS_FILE);
    if (input === undefined) return;
    for await (const text of createInterface({ input, crlfDelay: Infinity })) {
      if (text.trim() !== '') yield text;
    }
  }

  async read(batchId: string, relativePath: string): Promise<Readable | undefined> {
    const file = this.fileOf(batchId, relativePath);
    try {
      if (!(await stat(file)).isFile()) return undefined;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    return createReadStream(file);
  }

  async *list(batchId: string): AsyncIterable<StoredObject> {
    const directory = this.batchLocation(batchId);
    let entries: string[];
    try {
      entries = await readdir(directory, { recursive: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    for (const entry of entries.sort()) {
      const relative = entry.split(path.sep).join('/');
      if (relative.split('/').some((part) => part.startsWith('.')) || relative.endsWith('.part')) continue;
      const info = await stat(path.join(directory, entry));
      if (info.isFile()) yield { path: relative, bytes: info.size };
    }
  }

  cacheDirectory(batchId: string): string {
    return path.join(this.batchLocation(batchId), '.thumbnails');
  }
}

/** Settings of S3-compatible storage, from the environment (see the module comment). */
export interface S3Settings {
  /** Custom endpoint URL (MinIO, R2, s3rver…); AWS's own when absent. */
  endpoint?: string;
  /** Default `us-east-1`. */
  region: string;
  /** Path-style URLs (`endpoint/bucket/key`); default on when an endpoint is set, as most S3-compatible servers need. */
  forcePathStyle: boolean;
}

/** S3 settings from environment variables (never a credential: the AWS SDK reads those itself). */
export function s3SettingsFromEnv(env: NodeJS.ProcessEnv): S3Settings {
  const endpoint = env.IMAGE_BATCH_S3_ENDPOINT?.trim() || undefined;
  const pathStyle = env.IMAGE_BATCH_S3_FORCE_PATH_STYLE?.trim().toLowerCase();
  return {
    ...(endpoint === undefined ? {} : { endpoint }),
    region: env.AWS_REGION?.trim() || env.AWS_DEFAULT_REGION?.trim() || 'us-east-1',
    forcePathStyle:
      pathStyle === undefined || pathStyle === '' ? endpoint !== undefined : pathStyle === 'true',
  };
}

/** The default output root: `s3://$IMAGE_BATCH_S3_BUCKET/$IMAGE_BATCH_S3_PREFIX` when a bucket is set, else `output`. */
export function defaultOutputRoot(env: NodeJS.ProcessEnv): string {
  const bucket = env.IMAGE_BATCH_S3_BUCKET?.trim();
  if (bucket === undefined || bucket === '') return 'output';
  const prefix = (env.IMAGE_BATCH_S3_PREFIX ?? '').trim().replace(/^\/+|\/+$/g, '');
  return `s3://${bucket}${prefix === '' ? '' : `/${prefix}`}`;
}

/** How many GETs run at once when reading per-row results objects. */
const READ_CONCURRENCY = 16;

type S3Module = typeof import('@aws-sdk/client-s3');
let s3Module: Promise<S3Module> | undefined;

/** The AWS SDK, loaded on first use: commands that never touch S3 start without it (it is large). */
function loadS3(): Promise<S3Module> {
  return (s3Module ??= import('@aws-sdk/client-s3'));
}

/** A batch's output in an S3-compatible bucket. */
export class S3OutputStore implements OutputStore {
  readonly root: string;
  private readonly bucket: string;
  /** Key prefix of every batch, empty or ending in `/`. */
  private readonly prefix: string;

  /**
   * @param root `s3://bucket[/prefix]`.
   * @param client the S3 client, or its promise.
   * @throws UsageError when `root` is not such a URL.
   */
  constructor(
    root: string,
    private readonly client: S3Client | Promise<S3Client>,
  ) {
    const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(root);
    if (match === null || match[1] === undefined)
      throw new UsageError(`not an S3 location: ${root} (expected s3://bucket/prefix)`);
    this.bucket = match[1];
    const prefix = (match[2] ?? '').replace(/\/+$/, '');
    this.prefix = prefix === '' ? '' : `${prefix}/`;
    this.root = `s3://${this.bucket}${prefix === '' ? '' : `/${prefix}`}`;
  }

  /** The client and the AWS SDK's command classes (loaded on first use). */
  private async connection(): Promise<{ client: S3Client; s3: S3Module }> {
    const [client, s3] = await Promise.all([this.client, loadS3()]);
    return { client, s3 };
  }

  private batchPrefix(batchId: string): string {
    return `${this.prefix}${safeFileStem(batchId)}/`;
  }

  private keyOf(batchId: string, relativePath: string): string {
    if (relativePath.split('/').some((part) => part === '' || part === '.' || part === '..'))
      throw new Error(`refusing to write outside the batch: ${relativePath}`);
    return `${this.batchPrefix(batchId)}${relativePath}`;
  }

  batchLocation(batchId: string): string {
    return `s3://${this.bucket}/${this.batchPrefix(batchId)}`;
  }

  localPath(): undefined {
    return undefined;
  }

  async stagingPath(batchId: string, relativePath: string): Promise<string> {
    const directory = path.join(tmpdir(), 'image-batch-staging', safeFileStem(batchId));
    await mkdir(directory, { recursive: true });
    return path.join(directory, `${safeFileStem(relativePath)}.${stagingSuffix()}`);
  }

  async putFile(batchId: string, relativePath: string, stagedFile: string): Promise<void> {
    try {
      const { size } = await stat(stagedFile);
      const { client, s3 } = await this.connection();
      await client.send(
        new s3.PutObjectCommand({
          Bucket: this.bucket,
          Key: this.keyOf(batchId, relativePath),
          Body: createReadStream(stagedFile),
          ContentLength: size,
          ContentType: contentTypeOf(relativePath),
        }),
      );
    } finally {
      await rm(stagedFile, { force: true });
    }
  }

  async appendFile(batchId: string, relativePath: string, stagedFile: string): Promise<void> {
    const existing = await this.read(batchId, relativePath);
    const before = existing === undefined ? Buffer.alloc(0) : await bufferOf(existing);
    const added = await readFile(stagedFile);
    await rm(stagedFile, { force: true });
    await this.put(batchId, relativePath, Buffer.concat([before, added]));
  }

  async writeText(batchId: string, relativePath: string, text: string): Promise<void> {
    await this.put(batchId, relativePath, Buffer.from(text));
  }

  private async put(batchId: string, relativePath: string, body: Buffer): Promise<void> {
    const { client, s3 } = await this.connection();
    await client.send(
      new s3.PutObjectCommand({
        Bucket: this.bucket,
        Key: this.keyOf(batchId, relativePath),
        Body: body,
        ContentType: contentTypeOf(relativePath),
      }),
    );
  }

  private resultKey(rowKey: string): string {
    return `${RESULTS_FOLDER}${safeFileStem(rowKey)}.json`;
  }

  async writeResultLine(batchId: string, line: PendingResultLine): Promise<void> {
    await this.put(batchId, this.resultKey(line.rowKey), Buffer.from(`${line.text}\n`));
  }

  async writeMissingResultLines(batchId: string, lines: PendingResultLine[]): Promise<number> {
    const present = new Set<string>();
    for await (const object of this.list(batchId)) present.add(object.path);
    let written = 0;
    for (const line of lines) {
      if (present.has(this.resultKey(line.rowKey))) continue;
      await this.writeResultLine(batchId, line);
      written += 1;
    }
    return written;
  }

  async removeResultLines(
    batchId: string,
    rowKeys: Set<string>,
    drop: (text: string) => boolean,
  ): Promise<void> {
    const doomed: string[] = [];
    for (const rowKey of rowKeys) {
      const stream = await this.read(batchId, this.resultKey(rowKey));
      if (stream === undefined) continue;
      const text = (await bufferOf(stream)).toString('utf8').trim();
      if (drop(text)) doomed.push(this.keyOf(batchId, this.resultKey(rowKey)));
    }
    for (let start = 0; start < doomed.length; start += 1000) {
      const { client, s3 } = await this.connection();
      await client.send(
        new s3.DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: doomed.slice(start, start + 1000).map((Key) => ({ Key })), Quiet: true },
        }),
      );
    }
  }

  async *resultLines(batchId: string): AsyncIterable<string> {
    const keys: string[] = [];
    for await (const object of this.list(batchId)) {
      if (object.path.startsWith(RESULTS_FOLDER)) keys.push(object.path);
      if (keys.length >= READ_CONCURRENCY) yield* this.readLines(batchId, keys.splice(0));
    }
    yield* this.readLines(batchId, keys);
  }

  private async *readLines(batchId: string, keys: string[]): AsyncIterable<string> {
    const texts = await Promise.all(
      keys.map(async (key) => {
        const stream = await this.read(batchId, key);
        return stream === undefined ? '' : (await bufferOf(stream)).toString('utf8');
      }),
    );
    for (const text of texts) for (const line of text.split('\n')) if (line.trim() !== '') yield line;
  }

  async read(batchId: string, relativePath: string): Promise<Readable | undefined> {
    try {
      const { client, s3 } = await this.connection();
      const answer = await client.send(
        new s3.GetObjectCommand({
          Bucket: this.bucket,
          Key: this.keyOf(batchId, relativePath),
        }),
      );
      return answer.Body as Readable | undefined;
    } catch (error) {
      if ((error as { name?: string }).name === 'NoSuchKey') return undefined;
      throw error;
    }
  }

  async *list(batchId: string): AsyncIterable<StoredObject> {
    const prefix = this.batchPrefix(batchId);
    let token: string | undefined;
    do {
      const { client, s3 } = await this.connection();
      const page = await client.send(
        new s3.ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: prefix,
          ...(token === undefined ? {} : { ContinuationToken: token }),
        }),
      );
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined) continue;
        yield { path: object.Key.slice(prefix.length), bytes: object.Size ?? 0 };
      }
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  cacheDirectory(batchId: string): string {
    const location = createHash('sha256').update(this.batchLocation(batchId)).digest('hex').slice(0, 16);
    return path.join(tmpdir(), 'image-batch-cache', location);
  }
}

function contentTypeOf(relativePath: string): string {
  const extension = path.extname(relativePath).toLowerCase();
  const types: Record<string, string> = {
    '.png': 'image/png',
    '.jpg': 'image/jpeg',
    '.webp': 'image/webp',
    '.json': 'application/json',
    '.jsonl': 'application/x-ndjson',
  };
  return types[extension] ?? 'application/octet-stream';
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
 * The S3 client configuration for `settings`. With a custom endpoint, checksums are sent only where S3 requires them:
 * the SDK's default streams uploads as `aws-chunked` with a trailing checksum, which several S3-compatible servers
 * store verbatim (s3rver does), corrupting the object.
 */
export function s3ClientConfig(settings: S3Settings): S3ClientConfig {
  return {
    region: settings.region,
    forcePathStyle: settings.forcePathStyle,
    ...(settings.endpoint === undefined
      ? {}
      : {
          endpoint: settings.endpoint,
          requestChecksumCalculation: 'WHEN_REQUIRED',
          responseChecksumValidation: 'WHEN_REQUIRED',
        }),
  };
}

const stores = new Map<string, OutputStore>();
let s3Client: Promise<S3Client> | undefined;

/**
 * The store of output root `root` (one per root and process).
 * @param env where S3 settings come from (default: this process's environment).
 * @throws UsageError for an `s3://` root without a bucket.
 */
export function outputStoreFor(root: string, env: NodeJS.ProcessEnv = process.env): OutputStore {
  const normalized = normalizeOutputRoot(root);
  let store = stores.get(normalized);
  if (store === undefined) {
    if (isS3Root(normalized)) {
      if (s3Client === undefined) {
        const settings = s3SettingsFromEnv(env);
        s3Client = loadS3().then((sdk) => new sdk.S3Client(s3ClientConfig(settings)));
      }
      store = new S3OutputStore(normalized, s3Client);
    } else {
      store = new LocalOutputStore(normalized);
    }
    stores.set(normalized, store);
  }
  return store;
}
