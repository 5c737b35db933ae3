/**
 * Job definitions shared by producer and worker.
 *
 * Glossary
 * - **manifest**: a CSV or JSONL file, one row per image request (prompt, input images, resolution, ...).
 * - **batch**: all rows enqueued together under one batch id; outputs go to `<out>/<batch>/`.
 * - **row key**: a row's identity inside its batch: the manifest's `id` field, else `<manifest name>-<line>`.
 * - **job**: one BullMQ job per row, on the queue of the row's provider. Job id = batch id + row key, so
 *   enqueuing the same row twice is a no-op.
 * - **attempt**: one try of a job; a retryable failure leads to another attempt after a backoff.
 * - **request id**: the provider's id for one call (header or body), recorded in results for support tickets.
 * - **resolution tier**: the billing class of an output size (standard or high-resolution), see resolution-tier.ts.
 */
import type { ProviderName } from './config.js';
import type { HostName } from './hosts.js';

export type Operation = 'generate' | 'edit';
export const OUTPUT_FORMATS = ['png', 'jpeg', 'webp'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];
/**
 * Quality tiers a manifest may ask for. `xhigh` and `max` exist on GPT Image 2.5 only (lobehub#19342,
 * llmgateway#3985, Portkey-AI/models#935); each provider's capability table says which models take which.
 */
export const QUALITIES = ['low', 'medium', 'high', 'xhigh', 'max'] as const;
export type Quality = (typeof QUALITIES)[number];
/**
 * Parameters of the GPT image APIs that a manifest may name but no model image-batch serves accepts today
 * (`input_fidelity`: gpt-image-2 answers 400 `invalid_input_fidelity_model`; `response_format`: GPT image models always
 * answer base64 — openai-openapi `CreateImageEditRequest`). A row naming one is refused before any paid call instead of
 * having the field silently dropped.
 */
export const MODEL_PARAMETERS = ['input_fidelity', 'response_format'] as const;
export type ModelParameter = (typeof MODEL_PARAMETERS)[number];
export const BACKGROUNDS = ['transparent', 'opaque', 'auto'] as const;
export type Background = (typeof BACKGROUNDS)[number];
export const MODERATIONS = ['low', 'auto'] as const;
/**
 * How a row reaches its provider: `realtime` (one call per row, the default) or `batch` (OpenAI's Batch API: rows
 * grouped into request files, up to 24 h, half the price — src/worker/openai-batch/).
 */
export const DELIVERIES = ['realtime', 'batch'] as const;
export type Delivery = (typeof DELIVERIES)[number];
export type Moderation = (typeof MODERATIONS)[number];

/** Where a row came from: the manifest path as the user gave it, and its 1-based line number. */
export interface RowSource {
  manifest: string;
  line: number;
}

/** What to make, independent of any vendor's field names. Provider adapters translate it to their wire format. */
export interface ImageRequest {
  operation: Operation;
  prompt: string;
  /** Input images: http(s) or data URLs, or absolute paths of local files. Empty for `generate`. */
  inputImages: string[];
  /**
   * Pixel sizes of the input images as `WIDTHxHEIGHT`, in the order of `inputImages`, where the producer read them
   * (local files); '' where it could not (URLs). Prices each input's image tokens; unknown ones at the most.
   */
  inputImageSizes?: string[];
  /** Mask image (URL or absolute path); white marks the area to edit. */
  mask?: string;
  /** Output size `WIDTHxHEIGHT` in pixels, e.g. `1024x1024`. */
  resolution: string;
  /** Omitted: the provider's default. */
  quality?: Quality;
  /** Images to produce, 1–10 (each provider and model caps it lower or not). */
  numImages: number;
  outputFormat: OutputFormat;
  /** Model asked for by the manifest; omitted: the provider's default for the operation. */
  model?: string;
  /** `transparent`, `opaque` or `auto` (OpenAI, Replicate). */
  background?: Background;
  /** `low` or `auto` (OpenAI generate, Replicate). */
  moderation?: Moderation;
  /** 0–100, for jpeg/webp output (OpenAI, Replicate). */
  outputCompression?: number;
  /** Model parameters the row names beyond the common ones (see {@link MODEL_PARAMETERS}); checked per model. */
  modelParameters?: Partial<Record<ModelParameter, string>>;
  /** `batch`: through OpenAI's Batch API; omitted: realtime. */
  delivery?: 'batch';
  /** The aspect ratio the row names itself (manifest `aspect_ratio`), for hosts that take a ratio and a tier. */
  aspectRatio?: string;
  /** The resolution tier the row names itself (manifest `resolution_tier`: `1K`, `2K`, `4K`), for such hosts. */
  resolutionTier?: string;
  /**
   * The aspect ratio and tier planned for the row at enqueue (hosts that take those instead of pixels: Oxen.ai,
   * WaveSpeedAI), with the size they deliver, `WIDTHxHEIGHT` (src/providers/tier-sizes.ts). Sent as planned, and
   * priced at that tier and size, whatever is learned in between.
   */
  sizePlan?: SizePlan;
}

/**
 * How a row with several candidate hosts picks one (src/worker/router.ts): `cheapest` — the cheapest healthy host
 * that can start it soon; `fastest` — spread over the healthy hosts in proportion to their rate limits.
 */
export const ROUTE_POLICIES = ['cheapest', 'fastest'] as const;
export type RoutePolicy = (typeof ROUTE_POLICIES)[number];

/** A host a routed row was sent to and left, and why (each certainly did not bill it). */
export interface HostTried {
  /** The host: a provider, or one of its further accounts (`openai@2`, src/shared/hosts.ts). */
  provider: HostName;
  reason: string;
}

/** The routing of a row with several candidate hosts (src/worker/router.ts). */
export interface RowRouting {
  /** Hosts that accepted the row when it was enqueued, cheapest first by the estimate then. */
  candidates: HostName[];
  policy: RoutePolicy;
  /**
   * The most a host may cost over the row's cheapest candidate, percent (`--max-premium`): a dearer host is not used
   * for it, under `fastest` or as a spill under `cheapest`. Absent: no bound.
   */
  maxPremiumPercent?: number;
  /** Hosts the row left, in order. */
  tried: HostTried[];
  /**
   * The host the router chose, saved in the routing job before the row is handed to it, so a router restarted after a
   * crash hands it to the same host (a row is in flight on at most one host).
   */
  assigned?: HostName;
}

/** A planned aspect ratio and tier (see {@link ImageRequest.sizePlan}). */
export interface SizePlan {
  aspectRatio: string;
  /** In the host's own spelling (`2K`, `2k`). */
  tier: string;
  /** `WIDTHxHEIGHT` the ratio at that tier delivers, as far as image-batch knew when planning. */
  expectedSize: string;
}

/** An accepted async request as saved in job data (the adapters' `PendingRequest`, src/providers/provider.ts). */
export interface SavedProviderRequest {
  provider: ProviderName;
  /** The account it was sent with, 2 or more (src/shared/hosts.ts); absent: the provider's first. */
  account?: number;
  /** The provider's request id(s): one, or one per image for Oxen's queue. */
  requestIds: string[];
  /** Where to poll, when the provider said (fal `status_url`, Replicate `urls.get`). */
  statusUrl?: string;
  /** Where the result is, when the provider said (fal `response_url`). */
  resultUrl?: string;
  /** Model the request was sent to. */
  model: string;
  /** ISO time of the submission. */
  submittedAt: string;
  /** True when the provider was asked to announce the request's end by webhook (then it is polled only slowly). */
  webhook?: boolean;
  /**
   * ISO time by which the host must have started the request (it was sent with a start deadline,
   * `CallContext.startDeadlineMs`): past it, a request the host still holds queued is cancelled before it runs
   * (src/worker/start-deadline.ts) and the row is free for another host.
   */
  startBy?: string;
}

/** Data of one BullMQ job (one manifest row): the request plus where it belongs. Holds no API key, ever. */
export interface ImageJobData extends ImageRequest {
  batchId: string;
  rowKey: string;
  source: RowSource;
  provider: ProviderName;
  /** W3C trace context of the row's trace (src/shared/tracing.ts); only while tracing records. */
  traceparent?: string;
  /**
   * The account of `provider` the row is on, 2 or more (`OPENAI_API_KEY_2`, src/shared/hosts.ts); absent: its first.
   * Set by the router, for a row whose candidates include further accounts.
   */
  account?: number;
  /** Set (ISO time) just before a paid submission is sent, cleared once its answer is recorded. */
  submissionStartedAt?: string;
  /** The provider's handle of an accepted async request, saved the moment the submission returns. */
  providerRequest?: SavedProviderRequest;
  /**
   * In a collection job (src/worker/collection.ts): the attempt of the submission job that was accepted, so the row's
   * results line counts the attempts of both jobs.
   */
  acceptedOnAttempt?: number;
  /**
   * USD per image the provider's host served as this row's price when it was enqueued (Oxen.ai's model `pricing`
   * object); the row is priced from it rather than from the built-in catalogue.
   */
  servedUsdPerImage?: number;
  /**
   * A row made in several synchronous calls (a host that makes fewer images per call than the row asks for): the
   * images stored so far, in order, and the request ids of their calls — saved after each call, so a restarted job
   * goes on from the next image and never pays for a stored one again (src/worker/calls-in-parts.ts).
   */
  partialOutputs?: StoredOutput[];
  partialRequestIds?: string[];
  /** Set for a row with several candidate hosts: how it is routed, and the hosts it left (src/worker/router.ts). */
  routing?: RowRouting;
  /** A paid answer whose images could not be stored yet (the output storage was full, src/worker/storage-hold.ts). */
  heldResponse?: HeldResponse;
  /** `--reuse` or manifest `reuse: true`: copy an earlier output of the same request instead of paying for a new one. */
  reuse?: true;
  /** `--sidecar`: write `<image>.json` beside each image (src/storage/sidecar.ts). */
  sidecar?: true;
}

/**
 * A paid answer whose images could not be stored (a full disk under `--out`, issue 26), kept in its job so that the
 * row is stored once there is room, without calling the host again: its images as the host handed them over (a URL,
 * valid while the host keeps it, or the base64 bytes) and what its results line needs.
 */
export interface HeldResponse {
  images: Array<{ kind: 'url'; url: string } | { kind: 'base64'; data: string }>;
  model: string;
  requestId?: string;
  usage?: Record<string, unknown>;
  /** Images of the row stored before (a row made in several calls). */
  stored: StoredOutput[];
}

/** One stored output image, as written to results.jsonl. */
export interface StoredOutput {
  /** Path relative to the batch directory, e.g. `images/row-7.png`. */
  path: string;
  width: number;
  height: number;
  /** File size in bytes. */
  bytes: number;
  /** Hex SHA-256 of the file: the bytes exactly as the host delivered them (never re-encoded). */
  sha256: string;
  /** The image's C2PA provenance, read from the stored bytes (src/storage/provenance.ts). */
  c2pa?: ProvenanceSummary;
}

/**
 * What the C2PA manifest of one stored image says (issue 31), read with the Content Authenticity Initiative's SDK.
 * See src/storage/provenance.ts for the states.
 */
export interface ProvenanceSummary {
  state: 'trusted' | 'valid' | 'invalid' | 'missing';
  /** C2PA validation status codes that failed for the active manifest, e.g. `assertion.dataHash.mismatch`. */
  failure_codes: string[];
  /** The claim generator (name and version), e.g. `ChatGPT`. */
  claim_generator: string | null;
  /** The signing certificate's common name and issuer, e.g. `Truepic Lens CLI in Sora (OpenAI)`. */
  signer: string | null;
  /** The `digitalSourceType` of the manifest's actions, e.g. `http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia`. */
  digital_source_type: string | null;
}

/** One line of results.jsonl: the final outcome of one row. */
export interface ResultLine {
  row_key: string;
  /** The row's prompt. */
  prompt: string;
  manifest: string;
  line: number;
  status: 'completed' | 'failed';
  operation: Operation;
  outputs: StoredOutput[];
  provider: ProviderName;
  /** The account of `provider` the row was made with: 1 for its first key, 2 for `<KEY>_2`, and so on. */
  account: number;
  model: string;
  request_id: string | null;
  attempts: number;
  resolution: string;
  resolution_tier: string;
  /** Estimated cost of this row in USD (0 for a failed row, and for a row no published figure can price). */
  cost_usd: number;
  /** Actual cost in USD from the usage the provider reported (OpenAI tokens), else null. */
  cost_usd_actual: number | null;
  /** `cost_usd_actual − cost_usd` in USD (positive: billed more than estimated), null without an actual cost. */
  cost_usd_difference: number | null;
  /** Token usage the provider reported (OpenAI), else null. */
  usage: Record<string, unknown> | null;
  /**
   * The size parameters sent to the provider, where it takes something other than the row's `resolution`
   * (WaveSpeedAI and Oxen.ai: `{aspect_ratio, resolution}` chosen nearest to the row's size), else null.
   */
  size_requested: Record<string, string> | null;
  /** For a row with several candidate hosts: the hosts it was sent to and left, with why; else null. */
  hosts_tried: HostTried[] | null;
  error: { code: string; message: string } | null;
  finished_at: string;
  /**
   * A completed row's reuse key (src/batch/reuse-key.ts): what a later `--reuse` row asking for the same image finds
   * it by. Absent where it could not be known without a download (inputs at URLs, in a row not asking for reuse).
   */
  reuse_key?: string;
  /** The earlier row whose images this row's are copies of (`--reuse`): nothing was paid for them. */
  reused_from?: { batch: string; row_key: string };
}

/** The job option `backoff.type` that selects image-batch's backoff strategy (src/worker/backoff.ts). */
export const PROVIDER_BACKOFF_TYPE = 'provider-full-jitter';
