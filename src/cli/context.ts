/**
 * What every CLI verb gets and shares: the context (configuration, logger, output, a stop signal), printing, a Redis
 * connection opened and closed around the verb's work, and the checks of names the user typed.
 */
import path from 'node:path';
import { BatchStore, type BatchStatus } from '../batch/batch-store.js';
import { checkBatchId } from '../producer/batch-id.js';
import { PROVIDER_NAMES } from '../shared/config.js';
import { withProviderSettings, type Config } from '../providers/configuration.js';
import { ConfigurationError, UsageError } from '../shared/errors.js';
import { redisAnswers, startEmbeddedRedis, type EmbeddedRedis } from '../shared/embedded-redis.js';
import { isS3Root } from '../storage/output-store.js';
import type { Logger } from '../shared/logger.js';
import { connectRedis, type RedisConnection } from '../shared/redis.js';
import { upgradeKeyLayout } from '../batch/key-layout.js';
import type { CliOutput } from './progress.js';

/** What every verb gets. */
export interface CommandContext {
  config: Config;
  log: Logger;
  output: CliOutput;
  /** Where confirmation answers are read from (a TTY, or nothing is asked). */
  input: NodeJS.ReadableStream & { isTTY?: boolean };
  /** Resolves when the user asks to stop (SIGINT/SIGTERM); verbs that run long race against it. */
  stopRequested: Promise<void>;
}

/** Write `lines` to standard output. */
export function print(context: CommandContext, ...lines: string[]): void {
  for (const line of lines) context.output.stdout.write(`${line}\n`);
}

/**
 * Run `work` with a Redis connection and the batch records on it, disconnecting afterwards whatever happens.
 * @throws ConfigurationError when Redis does not answer (exit code 2).
 */
export async function withRedis<T>(
  context: CommandContext,
  work: (redis: RedisConnection, store: BatchStore) => Promise<T>,
): Promise<T> {
  if (context.config.redisSource === 'embedded')
    throw new ConfigurationError(
      'REDIS_URL=embedded starts a private Redis for `image-batch run` only; this command needs the shared Redis ' +
        'your workers use: set REDIS_URL to it.',
    );
  const redis = await connectRedis(
    context.config.redisUrl,
    context.config.redisSource === 'default'
      ? '`image-batch run` starts a private Redis when none answers; this command needs a shared one.'
      : undefined,
  );
  try {
    const renamed = await upgradeKeyLayout(redis, context.config.queuePrefix);
    if (renamed > 0)
      context.log.info({ renamed }, 'renamed the Redis keys of an earlier image-batch to hash-tagged names');
    return await work(redis, new BatchStore(redis, context.config.queuePrefix));
  } finally {
    redis.disconnect();
  }
}

/**
 * The Redis `run` uses: REDIS_URL when set; when it is not set and nothing answers at the default address, or it is
 * `embedded`, a private `redis-server` with its data in `<out>/.redis/` (AOF on: running the same command again after
 * an interruption continues the batch), said in one line. The caller stops it.
 * @throws ConfigurationError naming the ways to get Redis when a private one cannot be started.
 */
export async function redisForRun(
  context: CommandContext,
  config: Config,
  outputRoot: string,
): Promise<{ config: Config; embedded: EmbeddedRedis | undefined }> {
  if (config.redisSource === 'environment') return { config, embedded: undefined };
  if (config.redisSource === 'default' && (await redisAnswers(config.redisUrl)))
    return { config, embedded: undefined };
  const directory = isS3Root(outputRoot)
    ? path.resolve('.image-batch', 'redis')
    : path.join(path.resolve(outputRoot), '.redis');
  const embedded = await startEmbeddedRedis(directory);
  const why = config.redisSource === 'embedded' ? 'REDIS_URL=embedded' : `no Redis at ${config.redisUrl}`;
  print(
    context,
    embedded.adopted
      ? `Redis: ${why}; continuing with the private Redis an interrupted run left in ${directory} (pid ${embedded.pid}).`
      : `Redis: ${why}; started a private one (pid ${embedded.pid}, data in ${directory}); it stops when this run ends.`,
  );
  return { config: { ...config, redisUrl: embedded.url, redisSource: 'environment' }, embedded };
}

/** The status of a batch the user named. @throws UsageError when Redis knows no such batch. */
export async function existingBatchStatus(
  context: CommandContext,
  store: BatchStore,
  batch: string,
): Promise<BatchStatus> {
  const status = await store.status(checkBatchId(batch));
  if (status === undefined)
    throw new UsageError(`no batch "${batch}" in Redis (prefix ${context.config.queuePrefix})`);
  return status;
}

/** `config` with every provider's requests per minute set to `requestsPerMinute`, when given. */
export function withRequestsPerMinute(config: Config, requestsPerMinute: number | undefined): Config {
  if (requestsPerMinute === undefined) return config;
  let result = config;
  for (const name of PROVIDER_NAMES) result = withProviderSettings(result, name, { requestsPerMinute });
  return result;
}

/** 0 when every row completed and no more were rejected than allowed; else 1. */
export function exitCodeFor(
  status: { failed: number; rejected: number; pending: number },
  maxRejected: number,
): number {
  return status.failed > 0 || status.pending > 0 || status.rejected > maxRejected ? 1 : 0;
}
