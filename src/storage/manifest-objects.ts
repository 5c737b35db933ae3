/**
 * Manifests kept in S3-compatible storage (`s3://bucket/key.csv`): their size and modification time, and their bytes
 * from any offset (a manifest cursor resumes mid-file with a ranged GET, RFC 9110 `Range: bytes=<first>-<last>`; S3
 * GetObject, https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html). Credentials come from the AWS SDK's
 * own chain, as for the output store.
 */
import type { Readable } from 'node:stream';
import { UsageError } from '../shared/errors.js';
import { loadS3 } from './s3-store.js';
import { sharedS3Client } from './stores.js';

/** Whether a manifest location names an object (`s3://…`) rather than a file. */
export function isObjectLocation(location: string): boolean {
  return location.startsWith('s3://');
}

/** An object's bucket and key. @throws UsageError for a location without both. */
function bucketAndKey(location: string): { Bucket: string; Key: string } {
  const match = /^s3:\/\/([^/]+)\/(.+)$/.exec(location);
  if (match === null) throw new UsageError(`not an S3 object: ${location} (expected s3://bucket/key.csv)`);
  return { Bucket: match[1]!, Key: match[2]! };
}

/**
 * Size (bytes) and modification time (ms since the epoch) of the object, or undefined when it does not exist.
 * @throws Error when the storage cannot be reached (after the SDK's retries).
 */
export async function objectInfo(
  location: string,
): Promise<{ size: number; modifiedMs: number } | undefined> {
  const [client, s3] = await Promise.all([sharedS3Client(), loadS3()]);
  try {
    const head = await client.send(new s3.HeadObjectCommand(bucketAndKey(location)));
    return { size: head.ContentLength ?? 0, modifiedMs: head.LastModified?.getTime() ?? 0 };
  } catch (error) {
    const name = (error as { name?: string }).name;
    if (name === 'NotFound' || name === 'NoSuchKey') return undefined;
    throw error;
  }
}

/**
 * The object's bytes from `start` (default 0) to `end` (inclusive; default its end).
 * @throws Error when it cannot be read.
 */
export async function readObject(
  location: string,
  range: { start?: number; end?: number } = {},
): Promise<Readable> {
  const [client, s3] = await Promise.all([sharedS3Client(), loadS3()]);
  const first = range.start ?? 0;
  const wanted = first > 0 || range.end !== undefined;
  const answer = await client.send(
    new s3.GetObjectCommand({
      ...bucketAndKey(location),
      ...(wanted ? { Range: `bytes=${first}-${range.end ?? ''}` } : {}),
    }),
  );
  return answer.Body as Readable;
}
