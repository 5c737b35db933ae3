/**
 * The output store of an output root: a directory, or S3-compatible storage for an `s3://` root (one store per root
 * and process, one S3 client per process).
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { LocalOutputStore } from './local-store.js';
import { isS3Root, normalizeOutputRoot, type OutputStore } from './output-store.js';
import { loadS3, s3ClientConfig, s3SettingsFromEnv, S3OutputStore } from './s3-store.js';

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
      store = new S3OutputStore(normalized, sharedS3Client(env));
    } else {
      store = new LocalOutputStore(normalized);
    }
    stores.set(normalized, store);
  }
  return store;
}

/** This process's S3 client (settings from `env` the first time), loading the AWS SDK on first use. */
export function sharedS3Client(env: NodeJS.ProcessEnv = process.env): Promise<S3Client> {
  if (s3Client === undefined) {
    const settings = s3SettingsFromEnv(env);
    s3Client = loadS3().then((sdk) => new sdk.S3Client(s3ClientConfig(settings)));
  }
  return s3Client;
}
