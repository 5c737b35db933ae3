/**
 * Simulated OpenAI Files and Batches APIs, as openai/openai-openapi (@f85dbe2) and openai-node
 * (`src/resources/batches.ts`, `files.ts`) describe them:
 *
 * - `POST /v1/files` (multipart `file`, `purpose`), `GET /v1/files/{id}`, `GET /v1/files/{id}/content`;
 * - `POST /v1/batches` (`input_file_id` of a `batch` file, `endpoint` `/v1/images/generations` or `/v1/images/edits` —
 *   images are batch endpoints since 2026-02-10 —, `completion_window: "24h"`, `metadata`), `GET /v1/batches/{id}`,
 *   `GET /v1/batches` (newest first, `after`, `limit`), `POST /v1/batches/{id}/cancel`.
 *
 * Input lines are `{custom_id, method, url, body}` (at most 50,000, file at most 200 MB); each output line is
 * `{id: "batch_req_…", custom_id, response: {status_code, request_id, body}, error}`. Requests that fail go to the
 * error file with their HTTP status and OpenAI's error body (openai/openai-openapi#302 shows errors under
 * `response.body`), and the unfinished requests of an expired batch with code `batch_expired` (OpenAI's Batch guide).
 * Edits are JSON: `images: [{file_id}|{image_url}]`, `mask: {file_id}`. Output and error files are written to disk
 * line by line and served as streams, so a large batch does not sit in memory. Knobs: processing time, expiry after
 * some lines, per-line failures (the refusal marker), all for tests.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { authorized, type RouteContext, type SimulatorCore } from '../core.js';
import { parseJson, parseMultipart, readBody, sendJson } from '../http-helpers.js';
import { processLine } from './openai-batch-lines.js';
import {
  asRecord,
  batchWorldOf,
  ENDPOINTS,
  MAX_BATCH_FILE_BYTES,
  MAX_BATCH_REQUESTS,
  now,
  type BatchWorld,
  type SimulatedBatch,
  type StoredFile,
} from './openai-batch-world.js';

export { batchWorldOf, type BatchBehaviour, type BatchWorld } from './openai-batch-world.js';
import { openaiError, type Failure } from './openai-rules.js';

function fileObject(file: StoredFile): Record<string, unknown> {
  return {
    id: file.id,
    object: 'file',
    bytes: file.bytes,
    created_at: file.createdAt,
    filename: file.filename,
    purpose: file.purpose,
    status: 'processed',
  };
}

function batchObject(batch: SimulatedBatch): Record<string, unknown> {
  return {
    id: batch.id,
    object: 'batch',
    endpoint: batch.endpoint,
    input_file_id: batch.inputFileId,
    completion_window: '24h',
    status: batch.status,
    output_file_id: batch.outputFileId ?? null,
    error_file_id: batch.errorFileId ?? null,
    created_at: batch.createdAt,
    expires_at: batch.expiresAt,
    request_counts: batch.counts,
    metadata: batch.metadata,
    ...Object.fromEntries(Object.entries(batch.timestamps).map(([name, at]) => [`${name}_at`, at])),
  };
}

const fail = (context: RouteContext, failure: Failure) =>
  sendJson(context.response, failure.status, failure.body);

/** `POST /v1/files`. */
async function uploadFile(context: RouteContext, world: BatchWorld): Promise<void> {
  const raw = await readBody(context.request);
  const form = await parseMultipart(context.request, raw);
  const file = form?.get('file');
  const purpose = form?.get('purpose');
  if (form === undefined || file === null || file === undefined || typeof file === 'string')
    return fail(context, openaiError(400, "Missing required parameter: 'file'.", 'file', null));
  if (typeof purpose !== 'string' || !['batch', 'user_data', 'vision', 'assistants'].includes(purpose))
    return fail(context, openaiError(400, "Invalid value for 'purpose'.", 'purpose', null));
  const content = Buffer.from(await file.arrayBuffer());
  if (purpose === 'batch' && content.length > MAX_BATCH_FILE_BYTES)
    return fail(context, openaiError(400, 'Batch input files can be at most 200 MB.', 'file', null));
  const stored = await world.storeFile(content, purpose, file.name);
  sendJson(context.response, 200, fileObject(stored));
}

/** `POST /v1/batches`. */
async function createBatch(context: RouteContext, world: BatchWorld): Promise<void> {
  const body = parseJson((await readBody(context.request)).toString('utf8')) as
    Record<string, unknown> | undefined;
  const input = typeof body?.input_file_id === 'string' ? world.files.get(body.input_file_id) : undefined;
  if (body === undefined || input === undefined || input.purpose !== 'batch')
    return fail(
      context,
      openaiError(400, 'input_file_id must name an uploaded file of purpose batch.', 'input_file_id', null),
    );
  const endpoint = body.endpoint as keyof typeof ENDPOINTS;
  if (!(endpoint in ENDPOINTS))
    return fail(context, openaiError(400, "Invalid value for 'endpoint'.", 'endpoint', null));
  if (body.completion_window !== '24h')
    return fail(
      context,
      openaiError(400, "Invalid value for 'completion_window': only 24h.", 'completion_window', null),
    );
  const lines = (await readFile(input.diskPath, 'utf8')).split('\n').filter((line) => line.trim() !== '');
  if (lines.length > MAX_BATCH_REQUESTS)
    return fail(context, openaiError(400, 'A batch holds at most 50,000 requests.', 'input_file_id', null));
  const created = now();
  const batch: SimulatedBatch = {
    id: `batch_${randomUUID().replace(/-/g, '')}`,
    endpoint,
    inputFileId: input.id,
    status: 'validating',
    createdAt: created,
    expiresAt: created + 24 * 3600,
    metadata: (body.metadata as Record<string, string> | undefined) ?? null,
    counts: { total: lines.length, completed: 0, failed: 0 },
    cancelRequested: false,
    timestamps: {},
  };
  world.batches.set(batch.id, batch);
  world.batchesCreated += 1;
  for (const line of lines) {
    const customId = asRecord(parseJson(line)).custom_id;
    if (typeof customId === 'string')
      world.linesByCustomId.set(customId, (world.linesByCustomId.get(customId) ?? 0) + 1);
  }
  void runBatch(context.core, world, batch, lines);
  if ((world.behaviour.dropCreateAnswers ?? 0) > 0) {
    world.behaviour.dropCreateAnswers! -= 1;
    context.response.socket?.destroy();
    return;
  }
  sendJson(context.response, 200, batchObject(batch));
}

/** Work through a batch's lines in the background, writing the output and error files as it goes. */
async function runBatch(
  core: SimulatorCore,
  world: BatchWorld,
  batch: SimulatedBatch,
  lines: string[],
): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, world.behaviour.processingMs / 2));
  batch.status = 'in_progress';
  batch.timestamps.in_progress = now();
  await new Promise((resolve) => setTimeout(resolve, world.behaviour.processingMs / 2));
  const output = await world.storeFile(Buffer.alloc(0), 'batch_output', `${batch.id}_output.jsonl`);
  const errors = await world.storeFile(Buffer.alloc(0), 'batch_output', `${batch.id}_error.jsonl`);
  const outputStream = createWriteStream(output.diskPath);
  const errorStream = createWriteStream(errors.diskPath);
  const limit = world.behaviour.expireAfterLines ?? Number.POSITIVE_INFINITY;
  let processed = 0;
  for (const line of lines) {
    if (batch.cancelRequested) break;
    if (processed >= limit) {
      const customId = asRecord(parseJson(line)).custom_id;
      write(errorStream, {
        id: `batch_req_${randomUUID().replace(/-/g, '')}`,
        custom_id: customId,
        response: null,
        error: {
          code: 'batch_expired',
          message: 'This request could not be executed before the completion window expired.',
        },
      });
      batch.counts.failed += 1;
      continue;
    }
    const result = await processLine(core, world, batch, line);
    if (result.ok && (world.behaviour.unreadableLines ?? 0) > 0) {
      world.behaviour.unreadableLines! -= 1;
      outputStream.write('{"id": "batch_req_unreadable", "custom_id": \n');
    } else write(result.ok ? outputStream : errorStream, result.line);
    if (result.ok) batch.counts.completed += 1;
    else batch.counts.failed += 1;
    processed += 1;
  }
  await Promise.all([close(outputStream), close(errorStream)]);
  output.bytes = (await stat(output.diskPath)).size;
  errors.bytes = (await stat(errors.diskPath)).size;
  batch.outputFileId = output.id;
  batch.errorFileId = errors.id;
  const ending = batch.cancelRequested ? 'cancelled' : processed < lines.length ? 'expired' : 'completed';
  if (ending === 'completed') batch.timestamps.finalizing = now();
  batch.status = ending;
  batch.timestamps[ending] = now();
}

function write(stream: WriteStream, value: unknown): void {
  stream.write(`${JSON.stringify(value)}\n`);
}

function close(stream: WriteStream): Promise<void> {
  return new Promise((resolve, reject) =>
    stream.end((error?: Error | null) => (error ? reject(error) : resolve())),
  );
}

/** The Files and Batches routes; false when the path is not theirs. */
export async function openaiBatchRoutes(context: RouteContext): Promise<boolean> {
  const { request, url } = context;
  const world = batchWorldOf(context.core);
  const isFiles = url.pathname === '/v1/files' || url.pathname.startsWith('/v1/files/');
  const isBatches = url.pathname === '/v1/batches' || url.pathname.startsWith('/v1/batches/');
  if (!isFiles && !isBatches) return false;
  if (!authorized(context, 'Bearer')) {
    fail(context, openaiError(401, 'Incorrect API key provided.', null, 'invalid_api_key'));
    return true;
  }
  const file = /^\/v1\/files\/([^/]+)(\/content)?$/.exec(url.pathname);
  const batch = /^\/v1\/batches\/([^/]+)(\/cancel)?$/.exec(url.pathname);
  if (request.method === 'POST' && url.pathname === '/v1/files') await uploadFile(context, world);
  else if (request.method === 'GET' && file !== null)
    serveFile(context, world, file[1]!, file[2] !== undefined);
  else if (request.method === 'POST' && url.pathname === '/v1/batches') await createBatch(context, world);
  else if (request.method === 'GET' && url.pathname === '/v1/batches') listBatches(context, world);
  else if (
    batch !== null &&
    (request.method === 'GET' || (request.method === 'POST' && batch[2] !== undefined))
  )
    answerBatch(context, world, batch[1]!, batch[2] !== undefined);
  else sendJson(context.response, 404, openaiError(404, 'Not found.', null, null).body);
  return true;
}

function serveFile(context: RouteContext, world: BatchWorld, id: string, content: boolean): void {
  const file = world.files.get(id);
  if (file === undefined) return fail(context, openaiError(404, `No such File object: ${id}`, 'id', null));
  if (!content) return sendJson(context.response, 200, fileObject(file));
  context.response.writeHead(200, {
    'content-type': 'application/octet-stream',
    'content-length': String(file.bytes),
  });
  createReadStream(file.diskPath).pipe(context.response);
}

function listBatches(context: RouteContext, world: BatchWorld): void {
  const all = [...world.batches.values()].sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1));
  const after = context.url.searchParams.get('after');
  const start = after === null ? 0 : all.findIndex((entry) => entry.id === after) + 1;
  const limit = Math.min(100, Number(context.url.searchParams.get('limit') ?? 20) || 20);
  const page = all.slice(start, start + limit);
  sendJson(context.response, 200, {
    object: 'list',
    data: page.map(batchObject),
    first_id: page[0]?.id ?? null,
    last_id: page.at(-1)?.id ?? null,
    has_more: start + limit < all.length,
  });
}

function answerBatch(context: RouteContext, world: BatchWorld, id: string, cancel: boolean): void {
  const batch = world.batches.get(id);
  if (batch === undefined)
    return fail(context, openaiError(404, `No batch found with id '${id}'.`, 'id', null));
  if (cancel && ['validating', 'in_progress'].includes(batch.status)) {
    batch.cancelRequested = true;
    batch.status = 'cancelling';
    batch.timestamps.cancelling = now();
  }
  sendJson(context.response, 200, batchObject(batch));
}
