/**
 * Reading an ended OpenAI batch: its output and error files are downloaded to a staging file and read line by line
 * (never whole: a large batch's base64 images run to tens of GB), each line settling its row once — images decoded,
 * checked and stored as any other output (src/storage/store-image.ts), one results line with `request_id` = the
 * batch request id and the line's `usage` priced at the Batch API rate. A row whose outcome is already recorded (a
 * collect interrupted by a crash, read again) is skipped. Returns the rows the files did not settle: the unfinished
 * rows of an expired or cancelled batch (`batch_expired` lines included).
 */
import { knownReuseKey } from '../../batch/reuse-key.js';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { BatchStore } from '../../batch/batch-store.js';
import { completedLine, failedLine, lineBase } from '../../batch/results-line.js';
import { recordRowOutcome } from '../../batch/row-outcome.js';
import { quoteRequest, type PriceCatalogue } from '../../cost/price-catalogue.js';
import { roundUsd } from '../../cost/usd.js';
import type { OpenAIBatchApi, OpenAIBatchObject } from '../../providers/openai/batch-api.js';
import {
  openaiBatchResultLineSchema,
  openaiImagesResponseSchema,
} from '../../providers/openai/wire-schema.js';
import { OPENAI_DEFAULT_MODEL } from '../../providers/openai/capabilities.js';
import type { ImageJobData, StoredOutput } from '../../shared/job-definitions.js';
import { jobIdFor } from '../../shared/keys.js';
import type { Logger } from '../../shared/logger.js';
import { outputImagePath } from '../../storage/output-layout.js';
import { storeOutputImage } from '../../storage/store-image.js';
import { outputStoreFor } from '../../storage/stores.js';

/** What settling needs. */
export interface CollectContext {
  store: BatchStore;
  api: OpenAIBatchApi;
  catalogue: PriceCatalogue;
  outputRoot: string;
  /** Model named in results (the OpenAI default where the row names none). */
  modelOf(data: ImageJobData): string;
  maxOutputBytes: number;
  /** A PEM file of C2PA trust anchors, for the outputs' provenance. */
  c2paTrustAnchorsPath: string | undefined;
  timeoutMs: number;
  log: Logger;
  signal: AbortSignal;
  /** Called every 100 lines (the driver renews its lock there). @throws to stop reading. */
  keepGoing(): Promise<void>;
}

/**
 * The `custom_id` of a row: its BullMQ job id (`<batch>--<row>`, src/shared/keys.ts) when that is at most 64
 * characters (the length batch tooling accepts), else a hash of it. Deterministic, so lines map back to their rows.
 */
export function customIdOf(batchId: string, rowKey: string): string {
  const jobId = jobIdFor(batchId, rowKey);
  if (jobId.length <= 64) return jobId;
  return `job-sha256-${createHash('sha256').update(jobId).digest('hex').slice(0, 48)}`;
}

/**
 * Settle the rows of `rows` (row key → job data) from the batch's output and error files.
 * @returns the row keys settled now.
 */
export async function collectBatch(
  batch: OpenAIBatchObject,
  batchId: string,
  rows: ReadonlyMap<string, ImageJobData>,
  context: CollectContext,
): Promise<string[]> {
  const byCustomId = new Map([...rows.keys()].map((rowKey) => [customIdOf(batchId, rowKey), rowKey]));
  const settled: string[] = [];
  const staging = await mkdtemp(path.join(tmpdir(), 'image-batch-openai-batch-'));
  try {
    for (const fileId of [batch.output_file_id, batch.error_file_id]) {
      if (fileId === undefined || fileId === null) continue;
      const file = path.join(staging, fileId);
      await context.api.downloadFile(fileId, file, context.signal);
      const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
      let read = 0;
      for await (const text of lines) {
        read += 1;
        if (read % 100 === 0) await context.keepGoing();
        if (text.trim() === '') continue;
        const parsed = openaiBatchResultLineSchema.safeParse(safeJson(text));
        if (!parsed.success) continue;
        const rowKey = byCustomId.get(parsed.data.custom_id);
        const data = rowKey === undefined ? undefined : rows.get(rowKey);
        if (rowKey === undefined || data === undefined) continue;
        if (parsed.data.error?.code === 'batch_expired') continue;
        if ((await context.store.outcome(batchId, rowKey)) === undefined)
          await settleLine(data, parsed.data, context);
        settled.push(rowKey);
      }
      await rm(file, { force: true });
    }
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return settled;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

type ResultLineOfBatch = ReturnType<typeof openaiBatchResultLineSchema.parse>;

/** Record one row's outcome from its line: stored images and usage, or the failure OpenAI gave. */
async function settleLine(
  data: ImageJobData,
  line: ResultLineOfBatch,
  context: CollectContext,
): Promise<void> {
  const model = context.modelOf(data);
  const base = lineBase(data, model, 1, undefined);
  const requestId = line.id ?? line.response?.request_id ?? null;
  const response = line.response;
  const answer =
    response?.status_code === 200 ? openaiImagesResponseSchema.safeParse(response.body) : undefined;
  if (answer === undefined || !answer.success) {
    const failure = failureOf(line);
    await recordRowOutcome(
      context.store,
      data,
      failedLine(base, { ...failure, requestId }),
      context.outputRoot,
    );
    return;
  }
  const store = outputStoreFor(context.outputRoot);
  const outputs: StoredOutput[] = [];
  const images = answer.data.data;
  for (const [index, image] of images.entries()) {
    outputs.push(
      await storeOutputImage(
        { kind: 'base64', data: image.b64_json },
        store,
        data.batchId,
        outputImagePath(data.rowKey, index, images.length, data.outputFormat),
        data.outputFormat,
        {
          provider: 'openai',
          timeoutMs: context.timeoutMs,
          maxBytes: context.maxOutputBytes,
          c2paTrustAnchorsPath: context.c2paTrustAnchorsPath,
          signal: context.signal,
        },
      ),
    );
  }
  const quote = quoteRequest(context.catalogue, 'openai', data, 'high');
  const inputsUsd = quote.usd - quote.usdPerImage * data.numImages;
  const usage = answer.data.usage as Record<string, unknown> | undefined;
  const completed = completedLine(base, {
    model,
    outputs,
    reuseKey: await knownReuseKey(data),
    requestId,
    costUsd: roundUsd(quote.usdPerImage * outputs.length + inputsUsd),
    actualUsd: context.catalogue.actualUsd('openai', usage, 'batch'),
    usage,
  });
  await recordRowOutcome(context.store, data, completed, context.outputRoot);
}

/** The stable failure code and message of an error line (OpenAI puts errors under `response.body.error`). */
function failureOf(line: ResultLineOfBatch): { code: string; message: string } {
  const body = line.response?.body as { error?: { code?: string | null; message?: string } } | undefined;
  const status = line.response?.status_code;
  const message = body?.error?.message ?? line.error?.message ?? `HTTP ${status ?? '?'} in the batch`;
  if (body?.error?.code === 'moderation_blocked') return { code: 'content_policy', message };
  if (status !== undefined && status >= 500) return { code: 'server_error', message };
  if (status === 200) return { code: 'invalid_response', message: 'the line had no image' };
  return { code: 'bad_request', message };
}

/**
 * Record rows failed with `code` and `message` (nothing of theirs billed, or nothing readable came back) and drop them
 * from their group.
 */
export async function failRows(
  store: BatchStore,
  batchId: string,
  groupId: string,
  failures: Array<{ data: ImageJobData; code: string; message: string }>,
): Promise<void> {
  const outputRoot = await store.outputDirectory(batchId);
  if (outputRoot === undefined) return;
  for (const { data, code, message } of failures) {
    const base = lineBase(data, data.model ?? OPENAI_DEFAULT_MODEL, 1, undefined);
    await recordRowOutcome(store, data, failedLine(base, { code, message, requestId: null }), outputRoot);
  }
  await store.openaiBatches.dropRows(
    batchId,
    groupId,
    failures.map(({ data }) => data.rowKey),
  );
}
