/**
 * OpenAI's Files and Batches APIs for image requests (openai-node `src/resources/batches.ts`, `files.ts`;
 * openai/openai-openapi `CreateBatchRequest`, `CreateFileRequest`, `EditImageBodyJsonParam`, @f85dbe2):
 *
 * - a request file is JSONL, one `{custom_id, method: "POST", url, body}` per request, at most 50,000 requests and
 *   200 MB, uploaded with purpose `batch`; all its lines go to one endpoint (`/v1/images/generations` or
 *   `/v1/images/edits`; images are batch endpoints since 2026-02-10, openai-node "feat(api): support for images in
 *   batch api");
 * - edits inside a batch are JSON, not multipart: `images: [{file_id}]` and `mask: {file_id}`, the files uploaded
 *   once and shared by every line that names the same bytes. Purpose `user_data`: no published page says which purpose
 *   JSON edits by `file_id` accept; `CreateFileRequest.purpose` calls `user_data` "Flexible file type for any
 *   purpose" and `vision` "Images used for vision fine-tuning", and OpenAI's file-inputs guide recommends `user_data`
 *   "for files you plan to use as model inputs" (platform.openai.com/docs/guides/pdf-files, quoted in
 *   BasedHardware/omi#3361); third-party tools use `vision` (UNCONFIRMED, docs/providers.md);
 * - a JSON edit's `size` is one of `auto`, `1024x1024`, `1536x1024`, `1024x1536` (`EditImageBodyJsonParam.size`,
 *   unlike the multipart form, which takes any valid `WIDTHxHEIGHT` on gpt-image-2): other edit rows go realtime;
 * - `POST /batches` `{input_file_id, endpoint, completion_window: "24h", metadata}`; `GET /batches/{id}`;
 *   `GET /batches` (newest first, `after`); `POST /batches/{id}/cancel`; `GET /files/{id}/content` for the output and
 *   error files (`{id, custom_id, response: {status_code, request_id, body}, error}` per line).
 */
import { createHash } from 'node:crypto';
import { FormData } from 'undici';
import type { ImageRequest } from '../../shared/job-definitions.js';
import type { ProviderErrorDetails } from '../../shared/errors.js';
import {
  authorizedCallOptions,
  downloadToFile,
  errorForStatus,
  getOnce,
  postOnce,
  type HttpResponse,
} from '../http.js';
import type { OpenAIProvider, OpenAISettings } from './client.js';
import { toOpenAIMask } from './mask.js';
import { OPENAI_SETTINGS } from './settings.js';
import {
  openaiBatchListSchema,
  openaiBatchSchema,
  openaiFileSchema,
  type OpenAIBatchObject,
} from './wire-schema.js';

/** Sizes a JSON edit takes (openai-openapi @f85dbe2 `EditImageBodyJsonParam.size`, besides `auto`). */
export const OPENAI_BATCH_EDIT_SIZES: readonly string[] = ['1024x1024', '1536x1024', '1024x1536'];

/**
 * Why `request` cannot go through the Batch API as asked (an edit of a size the JSON edit schema does not list), or
 * undefined. Such a row goes realtime instead of failing a day later.
 */
export function batchDeliveryProblem(request: ImageRequest): string | undefined {
  if (request.operation !== 'edit' || OPENAI_BATCH_EDIT_SIZES.includes(request.resolution)) return undefined;
  return (
    `the Batch API's edits are JSON, whose size is one of auto, ${OPENAI_BATCH_EDIT_SIZES.join(', ')} ` +
    `(openai-openapi EditImageBodyJsonParam.size), not ${request.resolution}`
  );
}

/** What one request file may hold (CreateBatchRequest.input_file_id: "up to 50,000 requests, … up to 200 MB"). */
export const OPENAI_BATCH_LIMITS = { requests: 50_000, bytes: 200 * 1024 * 1024 } as const;

/** Largest output or error file read, bytes (a large batch's base64 images run to tens of GB). */
const MAX_RESULT_FILE_BYTES = 1024 ** 4;

export type { OpenAIBatchObject } from './wire-schema.js';

/** The endpoint of a request file of `operation`. */
export function batchEndpointOf(
  operation: 'generate' | 'edit',
): '/v1/images/generations' | '/v1/images/edits' {
  return operation === 'generate' ? '/v1/images/generations' : '/v1/images/edits';
}

/** OpenAI's Batch API, with the adapter's request fields and input reading. */
export class OpenAIBatchApi {
  constructor(
    private readonly provider: OpenAIProvider,
    private readonly settings: OpenAISettings,
  ) {}

  private options(signal: AbortSignal) {
    return authorizedCallOptions(
      'openai',
      { apiKey: this.settings.apiKey, keyVariable: OPENAI_SETTINGS.keyVariable },
      { signal },
      this.settings.timeoutMs,
    );
  }

  private url(path: string): string {
    return `${this.settings.baseUrl}${path}`;
  }

  /** `response` when 2xx. @throws the taxonomy's error for its status (errorForStatus). */
  private ok(response: HttpResponse, what: string): HttpResponse {
    if (response.status >= 200 && response.status < 300) return response;
    const details: ProviderErrorDetails & { status: number } = {
      provider: 'openai',
      status: response.status,
      ...(response.headers['x-request-id'] === undefined
        ? {}
        : { requestId: response.headers['x-request-id'] }),
    };
    const message = (response.body as { error?: { message?: string } } | undefined)?.error?.message;
    throw errorForStatus(`${what}: ${message ?? `HTTP ${response.status}`}`, details, response.headers);
  }

  /**
   * One line of a request file for `request`, its `custom_id` our job id. Edit inputs are uploaded (once per distinct
   * content: `uploads` maps a SHA-256 to its file id) and named by `file_id`; the mask is converted to OpenAI's alpha
   * form first (./mask.ts). @throws BadRequestError when an input cannot be read (the row fails; nothing is sent).
   */
  async requestLine(
    request: ImageRequest,
    customId: string,
    uploads: Map<string, string>,
    signal: AbortSignal,
  ): Promise<string> {
    const body: Record<string, unknown> = { ...this.provider.buildFields(request) };
    if (request.operation === 'edit') {
      const images: Array<{ file_id: string }> = [];
      let firstSize: { width: number; height: number } | undefined;
      for (const reference of request.inputImages) {
        const { bytes, type } = await this.provider.imageBytes(reference, signal, 'image_urls');
        firstSize ??= await this.provider.imageSize(bytes, reference);
        images.push({
          file_id: await this.uploadOnce(bytes, `input.${type.split('/')[1] ?? 'png'}`, uploads, signal),
        });
      }
      body.images = images;
      if (request.mask !== undefined && firstSize !== undefined) {
        const { bytes } = await this.provider.imageBytes(request.mask, signal, 'mask_url');
        body.mask = {
          file_id: await this.uploadOnce(await toOpenAIMask(bytes, firstSize), 'mask.png', uploads, signal),
        };
      }
    }
    return JSON.stringify({
      custom_id: customId,
      method: 'POST',
      url: batchEndpointOf(request.operation),
      body,
    });
  }

  private async uploadOnce(
    bytes: Buffer,
    filename: string,
    uploads: Map<string, string>,
    signal: AbortSignal,
  ) {
    const hash = createHash('sha256').update(bytes).digest('hex');
    let fileId = uploads.get(hash);
    if (fileId === undefined) {
      fileId = await this.uploadFile(bytes, filename, 'user_data', signal);
      uploads.set(hash, fileId);
    }
    return fileId;
  }

  /** `POST /files` (multipart `file`, `purpose`). @returns the file id. */
  async uploadFile(
    content: Buffer,
    filename: string,
    purpose: 'batch' | 'user_data',
    signal: AbortSignal,
  ): Promise<string> {
    const form = new FormData();
    form.append('purpose', purpose);
    form.append('file', new Blob([content]), filename);
    const response = this.ok(
      await postOnce(this.url('/files'), form, this.options(signal)),
      'uploading a file',
    );
    return openaiFileSchema.parse(response.body).id;
  }

  /** `POST /batches` for a request file of `operation`, with `metadata` (at most 16 keys). */
  async createBatch(
    inputFileId: string,
    operation: 'generate' | 'edit',
    metadata: Record<string, string>,
    signal: AbortSignal,
  ): Promise<OpenAIBatchObject> {
    const body = {
      input_file_id: inputFileId,
      endpoint: batchEndpointOf(operation),
      completion_window: '24h',
      metadata,
    };
    const response = this.ok(
      await postOnce(this.url('/batches'), body, this.options(signal)),
      'creating a batch',
    );
    return openaiBatchSchema.parse(response.body);
  }

  /** `GET /batches/{id}`. */
  async retrieveBatch(id: string, signal: AbortSignal): Promise<OpenAIBatchObject> {
    const response = this.ok(
      await getOnce(this.url(`/batches/${encodeURIComponent(id)}`), this.options(signal)),
      'reading a batch',
    );
    return openaiBatchSchema.parse(response.body);
  }

  /**
   * The batch whose metadata has `key` = `value`, among the newest `pages` × 100 (a batch created by a call whose
   * answer was lost is found this way instead of being created twice). Undefined when none has it.
   */
  async findBatch(
    key: string,
    value: string,
    signal: AbortSignal,
    pages = 10,
  ): Promise<OpenAIBatchObject | undefined> {
    let after: string | undefined;
    for (let page = 0; page < pages; page += 1) {
      const query = `?limit=100${after === undefined ? '' : `&after=${encodeURIComponent(after)}`}`;
      const response = this.ok(
        await getOnce(this.url(`/batches${query}`), this.options(signal)),
        'listing batches',
      );
      const list = openaiBatchListSchema.parse(response.body);
      const found = list.data.find((batch) => batch.metadata?.[key] === value);
      if (found !== undefined) return found;
      if (!list.has_more || list.data.length === 0) return undefined;
      after = list.data.at(-1)!.id;
    }
    return undefined;
  }

  /** `POST /batches/{id}/cancel`. */
  async cancelBatch(id: string, signal: AbortSignal): Promise<OpenAIBatchObject> {
    const response = this.ok(
      await postOnce(this.url(`/batches/${encodeURIComponent(id)}/cancel`), {}, this.options(signal)),
      'cancelling a batch',
    );
    return openaiBatchSchema.parse(response.body);
  }

  /** Stream file `fileId`'s content (`GET /files/{id}/content`) into `target` (never held in memory). */
  async downloadFile(fileId: string, target: string, signal: AbortSignal): Promise<void> {
    await downloadToFile(this.url(`/files/${encodeURIComponent(fileId)}/content`), target, {
      ...this.options(signal),
      maxBytes: MAX_RESULT_FILE_BYTES,
    });
  }
}
