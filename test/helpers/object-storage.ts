/**
 * An S3-compatible server on loopback for tests (s3rver, files in a temporary directory), with one bucket.
 * Its credentials are s3rver's fixed test pair; they reach the code under test only through the AWS SDK's
 * environment variables, as a user's would.
 */
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import type { Readable } from 'node:stream';
import { bufferOf } from '../../src/storage/output-store.js';
import { temporaryDirectory } from './files.js';

// The AWS SDK warns on Node 20 that its 2027 releases need Node 22; the tests need no reminder.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** A running S3-compatible server. */
export interface ObjectStorage {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  bucket: string;
  /** Environment for a process that writes to it (endpoint, region, credentials). */
  environment: Record<string, string>;
  stop(): Promise<void>;
}

/** Start s3rver on a free loopback port with bucket `bucket`. */
export async function startObjectStorage(bucket = 'image-batch-test'): Promise<ObjectStorage> {
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory: await temporaryDirectory(),
    configureBuckets: [{ name: bucket }],
  });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    bucket,
    environment: {
      IMAGE_BATCH_S3_ENDPOINT: endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
    stop: () => server.close(),
  };
}

/**
 * Read object `key` of `storage`'s bucket with a client of the test's own (s3rver's fixed credentials).
 * @returns its bytes. @throws the SDK's error when there is no such object.
 */
export async function readObject(storage: ObjectStorage, key: string): Promise<Buffer> {
  const client = new S3Client({
    region: 'us-east-1',
    endpoint: storage.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  try {
    const answer = await client.send(new GetObjectCommand({ Bucket: storage.bucket, Key: key }));
    return await bufferOf(answer.Body as Readable);
  } finally {
    client.destroy();
  }
}
