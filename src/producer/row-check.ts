/**
 * Checking one parsed manifest row before anything is enqueued: the row schema (./manifest-row.ts), what its provider's
 * model accepts (each adapter prepared once: Oxen.ai reads the schema its host serves, so rows are checked against what
 * the worker will send), its local input files (there, and of a type the provider reads), and its price (a row no
 * published figure prices cannot go into a batch with a budget cap). A good row becomes a priced {@link PendingRow};
 * a bad one, its field errors.
 */
import { knownReuseKey } from '../batch/reuse-key.js';
import { startRowTrace } from '../shared/tracing.js';
import { resolutionTier } from '../cost/resolution-tier.js';
import { quoteRequest, type PriceCatalogue } from '../cost/price-catalogue.js';
import { batchDeliveryProblem } from '../providers/openai/batch-api.js';
import type { ImageProvider } from '../providers/provider.js';
import { sizePlanOf } from '../providers/tier-sizes.js';
import { sourceText } from '../batch/batch-store.js';
import { PROVIDER_NAMES, type ProviderName } from '../shared/config.js';
import type { HostName } from '../shared/hosts.js';
import type { FieldError } from '../shared/errors.js';
import type { Delivery, ImageJobData, RoutePolicy } from '../shared/job-definitions.js';
import type { Logger } from '../shared/logger.js';
import { parseResolution } from '../shared/resolution.js';
import type { PendingRow } from './estimate.js';
import { isLocalImage, validateRow, type ManifestRow } from './manifest-row.js';
import { localImageProblems, type LocalImage } from './local-images.js';

/** Where a row came from, and how its key is made when it has no `id`. */
export interface RowOrigin {
  /** The manifest as the user named it. */
  manifest: string;
  /** The manifest's folder (relative image paths are relative to it). */
  directory: string;
  /** The manifest's file name without extension (row keys default to `<stem>-<line>`). */
  stem: string;
  line: number;
}

/** What the checker needs. */
export interface RowCheckOptions {
  batchId: string;
  /** Every row goes to this provider when set. */
  provider?: ProviderName;
  /** The candidate hosts of rows that name none (`--providers`): a list, or `auto`. */
  providers?: ProviderName[] | 'auto';
  /** How rows with several candidates are routed (`--route`); default `cheapest`. */
  route?: RoutePolicy;
  /** `--max-premium`: the most a host may cost over the row's cheapest candidate, percent. */
  maxPremiumPercent?: number;
  /** The hosts `auto` means: those work can be done on here (a key, or the simulator in `run`). Default: all. */
  autoHosts?: readonly ProviderName[];
  /** The hosts (accounts) of each provider: a row whose candidates have several is routed over them. Default: one. */
  accounts?: (provider: ProviderName) => readonly HostName[];
  defaultProvider: ProviderName;
  /** Delivery of rows that name none (`--delivery`); default realtime. */
  delivery?: Delivery;
  /**
   * The batch has a finish-by time at least 24 hours away (src/batch/finish-by.ts): OpenAI rows that name no delivery,
   * when `delivery` is not given either, go through the Batch API where they can (not in a canary).
   */
  preferBatchApi?: boolean;
  /** `--reuse`: every row may copy an earlier output of the same request (src/worker/reuse.ts). */
  reuse?: boolean;
  /** `--sidecar`: write `<image>.json` beside each image (src/storage/sidecar.ts). */
  sidecar?: boolean;
  /**
   * Whether an earlier output of reuse key `key` is under the output root (src/batch/reuse-index.ts): a reuse row found
   * is estimated free. Absent (a dry run): reuse rows are estimated at their price.
   */
  reuseLookup?: (key: string) => Promise<boolean>;
  /** The batch holds rows for a canary: Batch API rows cannot run in one (yet). */
  canary?: boolean;
  budgetCapped?: boolean;
  providerFor(name: ProviderName): ImageProvider;
  /**
   * The sizes a host was seen to deliver per `ratio@tier` (src/batch/tier-size-book.ts), given to its adapter before
   * its rows are planned; absent: plans use the pessimistic reading of the tiers only.
   */
  deliveredTierSizes?(name: ProviderName): Promise<Record<string, string>>;
  catalogue: PriceCatalogue;
  log: Logger;
}

/** The outcome of checking one row: a priced row to enqueue, or the reasons to reject it. */
export type RowCheck =
  | {
      ok: true;
      row: PendingRow;
      unknownFields: string[];
      /** Why the row asked for the Batch API and goes realtime instead (said at enqueue), when it does. */
      realtimeInstead?: string;
    }
  | { ok: false; rowKey: string; errors: FieldError[]; unknownFields: string[] };

/** Checks rows, keeping prepared adapters and local-file lookups between them. */
export class RowChecker {
  private readonly adapters = new Map<ProviderName, Promise<ImageProvider>>();
  private readonly localFiles = new Map<string, LocalImage>();

  constructor(private readonly options: RowCheckOptions) {}

  /** The adapter of `name`, prepared once (its `prepare` reads what the host serves). */
  private adapterFor(name: ProviderName): Promise<ImageProvider> {
    let adapter = this.adapters.get(name);
    if (adapter === undefined) {
      const created = this.options.providerFor(name);
      const prepared = created.prepare?.({ signal: AbortSignal.timeout(30_000), log: this.options.log });
      const learned =
        created.learnTierSizes === undefined ? undefined : this.options.deliveredTierSizes?.(name);
      adapter = Promise.all([prepared, learned]).then(([, sizes]) => {
        if (sizes !== undefined) created.learnTierSizes?.(sizes);
        return created;
      });
      this.adapters.set(name, adapter);
    }
    return adapter;
  }

  /**
   * Why a Batch API row cannot go: only OpenAI has a Batch API, and a canary (rows run first, the rest held) is for
   * realtime rows — a request file takes up to a day.
   */
  private deliveryProblems(data: ImageJobData): FieldError[] {
    if (data.delivery !== 'batch') return [];
    if (data.provider !== 'openai')
      return [
        {
          field: 'delivery',
          message: `batch delivery is OpenAI's Batch API; this row goes to ${data.provider}`,
        },
      ];
    if (this.options.canary === true)
      return [{ field: 'delivery', message: 'batch delivery does not run in a canary yet; drop --canary' }];
    return [];
  }

  /** Check the raw `fields` of the row at `origin`. */
  async check(fields: Record<string, unknown>, origin: RowOrigin): Promise<RowCheck> {
    const validation = validateRow(fields, origin.directory);
    const { unknownFields } = validation;
    const rowKeyOf = (id: string | undefined) => id ?? `${origin.stem}-${origin.line}`;
    if (!validation.ok) {
      const id =
        typeof fields.id === 'string' || typeof fields.id === 'number' ? String(fields.id) : undefined;
      return { ok: false, rowKey: rowKeyOf(id), errors: validation.errors, unknownFields };
    }
    const { row } = validation;
    const rowKey = rowKeyOf(row.id);
    const place = { rowKey, manifest: origin.manifest, line: origin.line };
    const candidates = this.candidatesOf(row);
    if (candidates.length === 1) {
      const single = await this.checkOn(row, candidates[0]!, place);
      if (single.ok) this.overAccounts(row, single.row);
      return single.ok
        ? { ok: true, row: single.row, unknownFields, ...pick(single, 'realtimeInstead') }
        : { ok: false, rowKey, errors: single.errors, unknownFields };
    }
    return { ...(await this.route(row, candidates, place)), unknownFields };
  }

  /**
   * The hosts a row may go to: `--provider` for every row; else the row's own host, list or `auto`; else the batch's
   * `--providers` (a list or `auto`); else the default host. `auto` is every host work can be done on here.
   */
  private candidatesOf(row: ManifestRow): ProviderName[] {
    if (this.options.provider !== undefined) return [this.options.provider];
    if (row.provider !== undefined) return [row.provider];
    const named = row.candidates ?? this.options.providers;
    if (named === undefined) return [this.options.defaultProvider];
    return named === 'auto' ? [...(this.options.autoHosts ?? PROVIDER_NAMES)] : named;
  }

  /** The hosts of `provider`: its accounts (src/shared/hosts.ts). */
  private accountsOf(provider: ProviderName): readonly HostName[] {
    return this.options.accounts?.(provider) ?? [provider];
  }

  /**
   * A row for one provider that has several accounts is routed over them (each its own candidate, at one price):
   * except through the Batch API, which keeps it on the first account.
   */
  private overAccounts(row: ManifestRow, pending: PendingRow): void {
    const accounts = this.accountsOf(pending.data.provider);
    if (accounts.length < 2 || pending.data.delivery === 'batch') return;
    pending.data.routing = {
      candidates: [...accounts],
      policy: row.route ?? this.options.route ?? 'cheapest',
      tried: [],
    };
  }

  /**
   * Check a row with several candidate hosts on each: the hosts that accept it, cheapest first by the estimate now,
   * become its routing (src/worker/router.ts); the cheapest one's priced row is the estimate. None accepting it is one
   * reject saying, host by host, why each refused it.
   */
  private async route(
    row: ManifestRow,
    candidates: ProviderName[],
    place: { rowKey: string; manifest: string; line: number },
  ): Promise<
    | Omit<Extract<RowCheck, { ok: true }>, 'unknownFields'>
    | Omit<Extract<RowCheck, { ok: false }>, 'unknownFields'>
  > {
    const refuse = (field: string, message: string) => ({
      ok: false as const,
      rowKey: place.rowKey,
      errors: [{ field, message }],
    });
    if ((row.delivery ?? this.options.delivery) === 'batch')
      return refuse('delivery', "batch delivery is OpenAI's Batch API: name the one provider openai");
    const accepted: PendingRow[] = [];
    const refusals: string[] = [];
    for (const candidate of candidates) {
      const checked = await this.checkOn(row, candidate, place);
      if (checked.ok) accepted.push(checked.row);
      else refusals.push(`${candidate}: ${checked.errors.map((error) => error.message).join('; ')}`);
    }
    if (accepted.length === 0)
      return refuse('provider', `no candidate host can make this row — ${refusals.join(' | ')}`);
    // Unpriced rows last: a price is needed to call a host the cheapest.
    const order = [...accepted].sort(
      (a, b) => Number(a.unpriced !== undefined) - Number(b.unpriced !== undefined) || a.costUsd - b.costUsd,
    );
    const policy = row.route ?? this.options.route ?? 'cheapest';
    // The estimate: the cheapest host under `cheapest`; under `fastest`, the dearest it may go to (at most).
    const chosen = policy === 'fastest' ? dearestWithin(order, this.options.maxPremiumPercent) : order[0]!;
    chosen.data.routing = {
      // Each provider's accounts in turn: a provider's first account is its name, so one key each changes nothing.
      candidates: order.flatMap((entry) => this.accountsOf(entry.data.provider)),
      policy,
      ...(this.options.maxPremiumPercent === undefined
        ? {}
        : { maxPremiumPercent: this.options.maxPremiumPercent }),
      tried: [],
    };
    // In the order named: the first is what pinning the row to the first-named host would cost.
    chosen.alternatives = accepted.map((entry) => ({ provider: entry.data.provider, usd: entry.costUsd }));
    return { ok: true, row: chosen };
  }

  /** Whether a reuse row's request has an earlier output to copy (known now only when its inputs are local). */
  private async reusable(data: ImageJobData): Promise<boolean> {
    const lookup = this.options.reuseLookup;
    if (lookup === undefined) return false;
    const key = await knownReuseKey(data);
    return key !== undefined && (await lookup(key));
  }

  /** Check and price the row on one host. */
  private async checkOn(
    row: ManifestRow,
    provider: ProviderName,
    place: { rowKey: string; manifest: string; line: number },
  ): Promise<{ ok: true; row: PendingRow; realtimeInstead?: string } | { ok: false; errors: FieldError[] }> {
    const { rowKey } = place;
    const data = jobDataOf(row, { batchId: this.options.batchId, ...place, provider });
    if (this.options.reuse === true) data.reuse = true;
    if (this.options.sidecar === true) data.sidecar = true;
    const preferred =
      this.options.preferBatchApi === true && provider === 'openai' && this.options.canary !== true
        ? 'batch'
        : 'realtime';
    const delivery = row.delivery ?? this.options.delivery ?? preferred;
    // An OpenAI edit of a size the Batch API's JSON edits do not take goes realtime, said now, not failed a day later.
    const realtimeInstead =
      delivery === 'batch' && provider === 'openai' ? batchDeliveryProblem(data) : undefined;
    if (delivery === 'batch' && realtimeInstead === undefined) data.delivery = 'batch';
    const adapter = await this.adapterFor(provider);
    const errors: FieldError[] = adapter.checkRequest(data);
    const deliveryProblems = this.deliveryProblems(data);
    errors.push(...deliveryProblems);
    errors.push(...(await localImageProblems(row, this.localFiles, adapter.capabilitiesFor(data))));
    // A row that cannot go through the Batch API it asks for has no batch price to quote.
    if (deliveryProblems.length > 0) return { ok: false, errors };
    if (data.operation === 'edit' && data.inputImages.some(isLocalImage))
      data.inputImageSizes = data.inputImages.map((reference) => this.localFiles.get(reference)?.size ?? '');
    planSizeOf(data, adapter);
    const resolution = parseResolution(data.sizePlan?.expectedSize ?? data.resolution)!;
    const served = adapter.servedPrice?.(data);
    if (served !== undefined) data.servedUsdPerImage = served;
    const quote = quoteRequest(this.options.catalogue, provider, data, adapter.defaultQuality);
    const unpriced = quote.unpriced === true ? (quote.source.note ?? 'no published price') : undefined;
    if (unpriced !== undefined && this.options.budgetCapped === true)
      errors.push({ field: 'quality', message: `${unpriced}: a batch with a budget cap cannot hold it` });
    if (errors.length > 0) return { ok: false, errors };
    const pending: PendingRow = {
      rowKey,
      source: sourceText({ manifest: place.manifest, line: place.line }),
      data,
      tier: resolutionTier(resolution),
      images: row.numImages,
      costUsd: quote.usd,
      estimated: quote.estimate,
      overridden: quote.override,
      ...(unpriced === undefined ? {} : { unpriced }),
      billedQuality: data.quality ?? adapter.defaultQuality,
      ...(data.delivery === 'batch'
        ? {
            realtimeUsd: quoteRequest(
              this.options.catalogue,
              provider,
              realtimeOf(data),
              adapter.defaultQuality,
            ).usd,
          }
        : {}),
    };
    if (data.reuse === true && (await this.reusable(data))) {
      pending.costUsd = 0;
      pending.reused = true;
    }
    return { ok: true, row: pending, ...(realtimeInstead === undefined ? {} : { realtimeInstead }) };
  }
}

/** `{ key: value }` when `value` is set, else `{}`. */
function pick<T extends object, K extends keyof T>(from: T, key: K): Partial<Pick<T, K>> {
  return from[key] === undefined ? {} : ({ [key]: from[key] } as Partial<Pick<T, K>>);
}

/**
 * Fix the aspect ratio and tier `data` is sent with on a host that takes those (`sizePlan`), so workers send and
 * price what was planned now. A row naming its ratio or tier asks for that tier's size: its `resolution` becomes it.
 */
function planSizeOf(data: ImageJobData, adapter: ImageProvider): void {
  const plan = adapter.planSize?.(data);
  if (plan === undefined) return;
  data.sizePlan = sizePlanOf(plan);
  if (data.aspectRatio !== undefined || data.resolutionTier !== undefined)
    data.resolution = data.sizePlan.expectedSize;
}

/** The request of `data` sent realtime. */
function realtimeOf(data: ImageJobData): ImageJobData {
  const { delivery: _delivery, ...realtime } = data;
  return realtime;
}

/** The job data of a validated row. */
export function jobDataOf(
  row: ManifestRow,
  context: { batchId: string; rowKey: string; manifest: string; line: number; provider: ProviderName },
): ImageJobData {
  const data: ImageJobData = {
    batchId: context.batchId,
    rowKey: context.rowKey,
    source: { manifest: context.manifest, line: context.line },
    provider: context.provider,
    operation: row.mode,
    prompt: row.prompt,
    inputImages: row.imageUrls,
    resolution: row.resolution,
    numImages: row.numImages,
    outputFormat: row.outputFormat,
  };
  if (row.maskUrl !== undefined) data.mask = row.maskUrl;
  if (row.quality !== undefined) data.quality = row.quality;
  if (row.model !== undefined) data.model = row.model;
  if (row.background !== undefined) data.background = row.background;
  if (row.moderation !== undefined) data.moderation = row.moderation;
  if (row.outputCompression !== undefined) data.outputCompression = row.outputCompression;
  if (row.modelParameters !== undefined) data.modelParameters = row.modelParameters;
  if (row.aspectRatio !== undefined) data.aspectRatio = row.aspectRatio;
  if (row.resolutionTier !== undefined) data.resolutionTier = row.resolutionTier;
  if (row.reuse === true) data.reuse = true;
  const traceparent = startRowTrace({
    'image_batch.batch_id': context.batchId,
    'image_batch.row_key': context.rowKey,
    'image_batch.manifest': context.manifest,
    'image_batch.line': context.line,
  });
  if (traceparent !== undefined) data.traceparent = traceparent;
  return data;
}

/**
 * The dearest of a row's accepted hosts (`order`: cheapest first, unpriced last) that `fastest` may send it to: within
 * `maxPremiumPercent` of the cheapest when bounded, else any — an unpriced one first (the row is then unpriced).
 */
function dearestWithin(order: readonly PendingRow[], maxPremiumPercent: number | undefined): PendingRow {
  if (maxPremiumPercent === undefined) return order.at(-1)!;
  const ceiling = order[0]!.costUsd * (1 + maxPremiumPercent / 100) + 1e-9;
  const within = order.filter((entry) => entry.unpriced === undefined && entry.costUsd <= ceiling);
  return within.at(-1) ?? order[0]!;
}
