/**
 * The long-running verbs — `worker`, `webhooks`, `dashboard`, `simulator` — and `resume`, which lets a paused provider's workers
 * go on. Each runs until SIGINT/SIGTERM (`context.stopRequested`), then stops gracefully.
 */
import { resumeProviderQueue } from '../batch/queues.js';
import { flushPendingResultLines } from '../batch/row-outcome.js';
import { storagePauseReason } from '../batch/storage-pause.js';
import { freeBytes } from '../storage/free-space.js';
import { closeHttpAgents } from '../providers/http.js';
import { ImageBatch } from '../library/image-batch.js';
import { PROVIDER_NAMES, type ProviderName } from '../shared/config.js';
import type { HostName } from '../shared/hosts.js';
import { apiKeyVariable, baseUrlVariable, providersWithKeys } from '../providers/configuration.js';
import { UsageError } from '../shared/errors.js';
import {
  existingBatchStatus,
  print,
  withRedis,
  withRequestsPerMinute,
  type CommandContext,
} from './context.js';

/** The providers a worker serves: those named, else every provider with a key. @throws UsageError without a key. */
function workerProviders(context: CommandContext, named: ProviderName[]): ProviderName[] {
  const providers = named.length > 0 ? named : providersWithKeys(context.config);
  if (providers.length === 0) {
    throw new UsageError(
      `no provider has an API key (${PROVIDER_NAMES.map(apiKeyVariable).join(', ')}). Set one, or start ` +
        '`image-batch simulator` and point a provider at it (see `image-batch providers`).',
    );
  }
  for (const name of providers) {
    if (context.config.providers[name].apiKey === undefined) {
      throw new UsageError(
        `${apiKeyVariable(name)} is not set. Set it, or start \`image-batch simulator\` and point ` +
          `${baseUrlVariable(name)} at it with any ${apiKeyVariable(name)} (see \`image-batch providers\`).`,
      );
    }
  }
  return providers;
}

/** `image-batch worker`: process jobs until SIGINT/SIGTERM, then drain gracefully. */
export async function workerCommand(
  context: CommandContext,
  options: {
    providers: ProviderName[];
    concurrency?: number;
    requestsPerMinute?: number;
    metricsPort?: number;
  },
): Promise<number> {
  context = { ...context, config: withRequestsPerMinute(context.config, options.requestsPerMinute) };
  const providers = workerProviders(context, options.providers);
  // The library's workers (src/library/image-batch.ts): a worker started here and one started in code are the same.
  const images = new ImageBatch({ config: context.config, log: context.log });
  try {
    const pool = await images.startWorkers({
      providers,
      ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
      ...(options.metricsPort === undefined ? {} : { metricsPort: options.metricsPort }),
    });
    const metricsUrl = await pool.metricsUrl();
    if (metricsUrl !== undefined) print(context, `Metrics at ${metricsUrl}`);
    print(context, `Worker running for ${providers.join(', ')}; stop with Ctrl-C (SIGINT) or SIGTERM.`);
    await context.stopRequested;
    print(context, 'Stopping: finishing the jobs in progress…');
    await pool.close();
    print(context, 'Worker stopped; no job was left behind.');
    return 0;
  } finally {
    await images.close();
    await closeHttpAgents();
  }
}

/**
 * `image-batch webhooks`: receive the providers' webhooks until SIGINT/SIGTERM, so parked requests are collected as
 * soon as they finish and polled only slowly meanwhile (src/worker/webhook-receiver.ts).
 * @throws UsageError for a public URL that is not http(s).
 */
export async function webhooksCommand(
  context: CommandContext,
  options: { port: number; host: string; publicUrl: string },
): Promise<number> {
  let publicUrl: URL;
  try {
    publicUrl = new URL(options.publicUrl);
  } catch {
    throw new UsageError(`--public-url ${JSON.stringify(options.publicUrl)} is not a URL`);
  }
  if (!['http:', 'https:'].includes(publicUrl.protocol))
    throw new UsageError(`--public-url must be an http(s) URL, not ${publicUrl.protocol}`);
  if (publicUrl.protocol === 'http:' && !['127.0.0.1', 'localhost', '[::1]'].includes(publicUrl.hostname))
    context.log.warn('providers deliver webhooks to https URLs; put the receiver behind TLS');
  const base = publicUrl.href.replace(/\/+$/, '');
  return withRedis(context, async (redis) => {
    const { startWebhookReceiver } = await import('../worker/webhook-receiver.js');
    const receiver = await startWebhookReceiver({
      config: context.config,
      redis,
      port: options.port,
      host: options.host,
      publicUrl: base,
      log: context.log,
    });
    print(
      context,
      `Webhook receiver at ${receiver.url}, announced as ${base}/webhooks/<provider> (fal, Replicate, WaveSpeedAI).`,
      'Workers now ask for webhooks on new submissions; stop with Ctrl-C (SIGINT) or SIGTERM.',
    );
    await context.stopRequested;
    await receiver.close();
    const { accepted, duplicates, unfinished, rejected } = receiver.counts;
    print(
      context,
      `Webhook receiver stopped: ${accepted} accepted, ${duplicates} duplicates, ${unfinished} not final, ${rejected} refused.`,
    );
    return 0;
  });
}

/** `image-batch simulator`: the provider simulator as a standalone server, until SIGINT/SIGTERM. */
export async function simulatorCommand(
  context: CommandContext,
  options: { port: number; host: string; latencyMs: number },
): Promise<number> {
  const { ProviderSimulator, simulatorBaseUrls } = await import('../simulator/server.js');
  const simulator = new ProviderSimulator({
    port: options.port,
    host: options.host,
    latencyMs: options.latencyMs,
  });
  const url = await simulator.start();
  const urls = simulatorBaseUrls(url);
  print(
    context,
    `Provider simulator listening at ${url} (Oxen.ai, fal.ai, OpenAI, Replicate and WaveSpeedAI APIs).`,
    'Point image-batch at it:',
    ...PROVIDER_NAMES.map((name) => {
      const fal =
        name === 'fal' ? `FAL_REST_URL=${urls.fal.restUrl} FAL_PLATFORM_URL=${urls.fal.platformUrl} ` : '';
      return `  export ${baseUrlVariable(name)}=${urls[name].baseUrl} ${fal}${apiKeyVariable(name)}=simulator`;
    }),
    `Inject faults:            curl -X POST ${url}/__simulator/faults -d '{"faults":[{"status":429,"retryAfterSeconds":2}]}'`,
  );
  await context.stopRequested;
  await simulator.stop();
  print(context, `Simulator stopped after ${simulator.paidRequestTotal} paid requests.`);
  return 0;
}

/**
 * `image-batch resume <host>`: resume a host's queue (a provider, or `provider@N` for its N-th account) paused for its
 * account (credit, authentication).
 */
export async function resumeCommand(
  context: CommandContext,
  options: { provider: HostName },
): Promise<number> {
  return withRedis(context, async (redis) => {
    const reason = await resumeProviderQueue(redis, context.config, options.provider);
    print(
      context,
      `Resumed ${options.provider}${reason === undefined ? '' : ` (it was paused: ${reason})`}.`,
    );
    return 0;
  });
}

/** The least room a batch paused for its storage needs under its output root to be resumed, bytes. */
const RESUME_MIN_FREE_BYTES = 256 * 1024;

/**
 * `image-batch resume --batch <id>`: resume a batch paused by hand or for its output storage (a full disk). Refused
 * while its local output root still has less than {@link RESUME_MIN_FREE_BYTES} (or IMAGE_BATCH_MIN_FREE_BYTES) free; the
 * rows held with their images' sources are then stored without calling the host again, and results lines kept in
 * Redis are written.
 */
export async function resumeBatchCommand(
  context: CommandContext,
  options: { batch: string },
): Promise<number> {
  return withRedis(context, async (redis, store) => {
    const status = await existingBatchStatus(context, store, options.batch);
    const reason = await storagePauseReason(redis, context.config.queuePrefix, status.batchId);
    const free = await freeBytes(status.outputDirectory, 0);
    const needed = Math.max(context.config.minFreeBytes ?? 0, RESUME_MIN_FREE_BYTES);
    if (reason !== undefined && free !== undefined && free < needed) {
      print(
        context,
        `Not resumed: still ${(free / 1024 / 1024).toFixed(1)} MiB free under ${status.outputDirectory}.`,
      );
      return 1;
    }
    await store.setPaused(status.batchId, false);
    const written = await flushPendingResultLines(store, status.batchId, status.outputDirectory, 0);
    print(
      context,
      `Resumed batch ${status.batchId}${reason === undefined ? '' : ` (it was paused: ${reason})`}` +
        `${written > 0 ? `; wrote ${written} results lines kept meanwhile` : ''}. Workers take its rows again.`,
    );
    return 0;
  });
}

/** `image-batch dashboard`: bull-board and the batch pages, until SIGINT/SIGTERM. */
export async function dashboardCommand(
  context: CommandContext,
  options: { port: number; host: string; readOnly: boolean },
): Promise<number> {
  return withRedis(context, async (redis) => {
    // Loaded here: express and bull-board are large, and no other verb needs them.
    const { startDashboard } = await import('../dashboard/server.js');
    const { config } = context;
    const dashboard = await startDashboard({
      config,
      redis,
      log: context.log,
      host: options.host,
      port: options.port,
      readOnly: options.readOnly,
      ...(config.dashboardAuth === undefined ? {} : { auth: config.dashboardAuth }),
    });
    print(
      context,
      `Dashboard at ${dashboard.url}/ (queues: ${dashboard.url}/queues; API: ${dashboard.url}/api/openapi.json)` +
        `${options.readOnly ? ', read-only' : ''}${config.dashboardAuth === undefined ? '' : ', basic auth on'}.`,
    );
    await context.stopRequested;
    await dashboard.close();
    return 0;
  });
}
