/**
 * The verbs that read a batch: `status` (counts and cost so far) and `report` (the figures for finance as a table,
 * JSON or per-row CSV, and with `--objects` every stored file).
 */
import { reportFigures, reportTable, writeReportCsv } from '../batch/batch-report.js';
import { type StoredObject } from '../storage/output-store.js';
import { outputStoreFor } from '../storage/stores.js';
import { existingBatchStatus, print, withRedis, type CommandContext } from './context.js';
import { describeAutoscaling, describeHosts, describeStatus } from './report.js';
import { readAutoscalingSignal } from '../batch/autoscaling.js';
import { batchHosts } from '../batch/batch-hosts.js';
import { storagePauseReason } from '../batch/storage-pause.js';
import { ProviderHealth } from '../batch/provider-health.js';
import { configuredHosts } from '../providers/configuration.js';
import { loadCatalogue } from '../cost/price-catalogue.js';
import { priceList, priceListLines } from '../cost/price-list.js';

/** `image-batch status`: counts per state and cost so far. */
export async function statusCommand(
  context: CommandContext,
  options: { batch: string; json: boolean },
): Promise<number> {
  return withRedis(context, async (redis, store) => {
    const status = await existingBatchStatus(context, store, options.batch);
    const { config } = context;
    const health = new ProviderHealth(redis, config.queuePrefix, {
      threshold: config.breakerThreshold,
      openMs: config.breakerOpenMs,
    });
    const batch = { batchId: status.batchId, counters: status.counters, capUsd: status.budgetUsd };
    const hosts = await batchHosts(redis, config.queuePrefix, batch, health, configuredHosts(config));
    const pausedReason = await storagePauseReason(redis, config.queuePrefix, status.batchId);
    const paused = pausedReason === undefined ? {} : { pausedReason };
    const autoscaling = await readAutoscalingSignal(redis, config, configuredHosts(config).accounts);
    if (options.json) print(context, JSON.stringify({ ...status, ...paused, hosts, autoscaling }, null, 2));
    else
      print(
        context,
        ...describeStatus(status),
        ...(pausedReason === undefined ? [] : [`Paused: ${pausedReason}.`]),
        ...describeHosts(hosts),
        describeAutoscaling(autoscaling),
      );
    return 0;
  });
}

/** `image-batch report <batch>`: the batch's figures as a table, JSON, or per-row CSV. */
export async function reportCommand(
  context: CommandContext,
  options: {
    batch: string;
    format: 'table' | 'json' | 'csv';
    /** List every stored file of the batch (table and JSON). */
    objects?: boolean;
  },
): Promise<number> {
  return withRedis(context, async (_redis, store) => {
    const status = await existingBatchStatus(context, store, options.batch);
    const outputStore = outputStoreFor(status.outputDirectory);
    if (options.format === 'csv') {
      await writeReportCsv(outputStore.resultLines(status.batchId), (text) =>
        context.output.stdout.write(text),
      );
      return 0;
    }
    const pricing = await store.pricing(status.batchId);
    const objects: StoredObject[] = [];
    if (options.objects) for await (const object of outputStore.list(status.batchId)) objects.push(object);
    const figures = {
      ...reportFigures(status),
      pricing_file: pricing === undefined ? null : (JSON.parse(pricing) as unknown),
      location: outputStore.batchLocation(status.batchId),
      ...(options.objects ? { objects } : {}),
    };
    if (options.format === 'json') {
      print(context, JSON.stringify(figures, null, 2));
      return 0;
    }
    print(context, ...reportTable(figures), `  stored at ${figures.location}`);
    if (pricing !== undefined)
      print(
        context,
        '  prices: from the pricing file stored with the batch where it names them; the catalogue elsewhere',
      );
    if (options.objects) {
      const bytes = objects.reduce((sum, object) => sum + object.bytes, 0);
      print(context, `  ${objects.length} stored objects, ${bytes} bytes:`);
      for (const object of objects) print(context, `    ${object.path}  ${object.bytes}`);
    }
    return 0;
  });
}

/**
 * `image-batch prices`: the price catalogue — each provider's basis and sources (URL and date read) and what one image
 * costs at the common sizes and each quality, with the user's pricing file applied when given.
 */
export async function pricesCommand(
  context: CommandContext,
  options: { pricing?: string; json: boolean },
): Promise<number> {
  const { catalogue } = await loadCatalogue(options.pricing ?? context.config.pricingFile);
  const entries = priceList(catalogue);
  if (options.json) print(context, JSON.stringify(entries, null, 2));
  else print(context, ...priceListLines(entries));
  return 0;
}
