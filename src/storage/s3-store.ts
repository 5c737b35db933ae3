/**
 * A batch's output in an S3-compatible bucket under `s3://<bucket>/<prefix>/<batch>/`, so workers on several machines
 * write to one place. Objects have no append, so each row's results line is its own object (`results/<row-key>.json`);
 * reading the results lists that prefix. The AWS SDK loads on first use.
 */
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import { UsageError } from '../shared/errors.js';
import { rowKeyStem, safeFileStem } from '../shared/keys.js';
import {
  bufferOf,
  RESULTS_FOLDER,
  StorageUnavailableError,
  stagingSuffix,
  writeLinesNotPresent,
  type OutputStore,
  type PendingResultLine,
  type StoredObject,
} from './output-store.js';

/** Settings of S3-compatible storage, from the environment (see the module comment). */
export interface S3Settings {
  /** Custom endpoint URL (MinIO, R2, s3rver…); AWS's own when absent. */
  endpoint?: string;
  /** Default `us-east-1`. */
  region: string;
  /** Path-style URLs (`endpoint/bucket/key`); default on when an endpoint is set, as most S3-compatible servers need. */
  forcePathStyle: boolean;
  /** Attempts of each request, the SDK's retries included (`IMAGE_BATCH_S3_MAX_ATTEMPTS`, default 5). */
  maxAttempts: number;
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
    maxAttempts: positiveOr(env.IMAGE_BATCH_S3_MAX_ATTEMPTS, 5),
  };
}

/** Error names of S3 answers that say the service, not the request, failed (after the SDK's own retries). */
const UNAVAILABLE_NAMES = new Set([
  'SlowDown',
  'ServiceUnavailable',
  'InternalError',
  'RequestTimeout',
  'TimeoutError',
]);
/** Node.js network error codes: the connection, not the request, failed. */
const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * `request`, its failure turned into a {@link StorageUnavailableError} when S3 was unavailable — a 5xx, SlowDown, a
 * timeout or a dropped connection, still so after the AWS SDK's retries (`IMAGE_BATCH_S3_MAX_ATTEMPTS`) — so that the
 * batch pauses like on a full disk rather than failing rows it has paid for. Other errors (4xx) are thrown as they are.
 */
async function sendTo<T>(request: Promise<T>, operation: string): Promise<T> {
  try {
    return await request;
  } catch (error) {
    const failure = error as {
      name?: string;
      code?: string;
      message?: string;
      $metadata?: { httpStatusCode?: number };
    };
    const status = failure.$metadata?.httpStatusCode;
    if (
      (status !== undefined && status >= 500) ||
      UNAVAILABLE_NAMES.has(failure.name ?? '') ||
      NETWORK_CODES.has(failure.code ?? '')
    )
      throw new StorageUnavailableError(`S3 ${operation} failed: ${failure.message ?? failure.name}`, {
        cause: error,
      });
    throw error;
  }
}

/** `text` as a whole number ≥ 1, else `fallback`. */
function positiveOr(text: string | undefined, fallback: number): number {
  const value = Number(text);
  return Number.isInteger(value) && value >= 1 ? value : fallback;
}

/** How many GETs run at once when reading per-row results objects. */
const READ_CONCURRENCY = 16;

type S3Module = typeof import('@aws-sdk/client-s3');
let s3Module: Promise<S3Module> | undefined;

/** The AWS SDK, loaded on first use: commands that never touch S3 start without it (it is large). */
export function loadS3(): Promise<S3Module> {
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
      // A buffer, not a stream: the SDK's retries (503 SlowDown, 500s, dropped connections) can send it again.
      await sendTo(
        client.send(
          new s3.PutObjectCommand({
            Bucket: this.bucket,
            Key: this.keyOf(batchId, relativePath),
            Body: await readFile(stagedFile),
            ContentLength: size,
            ContentType: contentTypeOf(relativePath),
          }),
        ),
        'PutObject',
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
    await sendTo(
      client.send(
        new s3.PutObjectCommand({
          Bucket: this.bucket,
          Key: this.keyOf(batchId, relativePath),
          Body: body,
          ContentType: contentTypeOf(relativePath),
        }),
      ),
      'PutObject',
    );
  }

  private resultKey(rowKey: string): string {
    return `${RESULTS_FOLDER}${rowKeyStem(rowKey)}.json`;
  }

  async writeResultLine(batchId: string, line: PendingResultLine): Promise<void> {
    await this.put(batchId, this.resultKey(line.rowKey), Buffer.from(`${line.text}\n`));
  }

  async writeMissingResultLines(batchId: string, lines: PendingResultLine[]): Promise<number> {
    const present = new Set<string>();
    for await (const object of this.list(batchId)) present.add(object.path);
    return writeLinesNotPresent(this, batchId, lines, (rowKey) => present.has(this.resultKey(rowKey)));
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

  /** The pages of a listing of `prefix` (grouped at `/` when `folders`), each answer as S3 gave it. */
  private async *listingPages(prefix: string, folders: boolean) {
    let token: string | undefined;
    do {
      const { client, s3 } = await this.connection();
      const page = await sendTo(
        client.send(
          new s3.ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: prefix,
            ...(folders ? { Delimiter: '/' } : {}),
            ...(token === undefined ? {} : { ContinuationToken: token }),
          }),
        ),
        'ListObjectsV2',
      );
      yield page;
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  async *list(batchId: string): AsyncIterable<StoredObject> {
    const prefix = this.batchPrefix(batchId);
    for await (const page of this.listingPages(prefix, false)) {
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined) continue;
        yield { path: object.Key.slice(prefix.length), bytes: object.Size ?? 0 };
      }
    }
  }

  async *batchFolders(): AsyncIterable<string> {
    for await (const page of this.listingPages(this.prefix, true)) {
      for (const common of page.CommonPrefixes ?? []) {
        const folder = common.Prefix?.slice(this.prefix.length).replace(/\/$/, '');
        if (folder !== undefined && folder !== '' && !folder.startsWith('.')) yield folder;
      }
    }
  }

  async copyImage(
    sourceFolder: string,
    sourcePath: string,
    batchId: string,
    relativePath: string,
  ): Promise<boolean> {
    const { client, s3 } = await this.connection();
    const source = this.keyOf(sourceFolder, sourcePath);
    try {
      await sendTo(
        client.send(
          new s3.CopyObjectCommand({
            Bucket: this.bucket,
            Key: this.keyOf(batchId, relativePath),
            CopySource: `${this.bucket}/${source.split('/').map(encodeURIComponent).join('/')}`,
          }),
        ),
        'CopyObject',
      );
      return true;
    } catch (error) {
      if ((error as { name?: string }).name === 'NoSuchKey') return false;
      throw error;
    }
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

/**
 * The S3 client configuration for `settings`. With a custom endpoint, checksums are sent only where S3 requires them:
 * the SDK's default streams uploads as `aws-chunked` with a trailing checksum, which several S3-compatible servers
 * store verbatim (s3rver does), corrupting the object.
 */
export function s3ClientConfig(settings: S3Settings): S3ClientConfig {
  return {
    region: settings.region,
    // The SDK's standard retry strategy (exponential backoff with jitter, throttling such as 503 SlowDown included).
    retryMode: 'standard',
    maxAttempts: settings.maxAttempts,
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
