/**
 * Provenance of stored outputs: the C2PA manifest an image carries (GPT Image outputs are signed by OpenAI; a real
 * gpt-image-2 PNG has a `caBX` chunk), read and validated with the Content Authenticity Initiative's SDK
 * (src/shared/c2pa-runtime.ts) from the bytes exactly as stored, and summed up for the results line.
 *
 * What the states mean (c2pa-rs `validation_state`, https://opensource.contentauthenticity.org/docs/manifest/validation):
 * - `trusted`: intact, and its signing certificate chains to a trust anchor given in IMAGE_BATCH_C2PA_TRUST_ANCHORS;
 * - `valid`: intact and well signed, its signer not among the configured trust anchors (`signingCredential.untrusted`);
 * - `invalid`: present but failing validation — the image or the manifest was changed after signing (a metadata write
 *   gives `assertion.dataHash.mismatch`), or the manifest cannot be parsed (`manifest.unreadable`);
 * - `missing`: no C2PA manifest (never signed, or stripped by a re-encode such as a resize).
 */
import { readFile } from 'node:fs/promises';
import { c2paSdk } from '../shared/c2pa-runtime.js';
import type { OutputFormat, ProvenanceSummary, StoredOutput } from '../shared/job-definitions.js';

const MEDIA_TYPES: Record<OutputFormat, string> = {
  png: 'image/png',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
};

const JUMBF_MARKER = Buffer.from('jumb', 'latin1');
const C2PA_LABEL = Buffer.from('c2pa', 'latin1');

/** Failure code recorded for a manifest the SDK found but could not read (ours, not a C2PA status code). */
export const UNREADABLE_MANIFEST_CODE = 'manifest.unreadable';

interface ManifestStoreJson {
  active_manifest?: string;
  validation_state?: string;
  validation_results?: { activeManifest?: { failure?: Array<{ code: string }> } };
  validation_status?: Array<{ code: string }>;
  manifests?: Record<string, ActiveManifestJson>;
}

interface ActiveManifestJson {
  claim_generator?: string;
  claim_generator_info?: Array<{ name?: string; version?: string }>;
  signature_info?: { common_name?: string; issuer?: string };
  assertions?: Array<{ label: string; data?: { actions?: Array<{ digitalSourceType?: string }> } }>;
}

const trustAnchorFiles = new Map<string, Promise<string>>();

/**
 * The PEM text of trust anchor file `path`, read once; '' when it cannot be read (the configuration checked it exists
 * at start: a file gone since leaves signers `valid`, never a paid row unstored).
 */
function trustAnchorsOf(path: string): Promise<string> {
  let text = trustAnchorFiles.get(path);
  if (text === undefined) {
    text = readFile(path, 'utf8').catch(() => '');
    trustAnchorFiles.set(path, text);
  }
  return text;
}

/**
 * Reads one at a time: the SDK copies each image into its WebAssembly memory, which grows to the most held at once and
 * never shrinks — fifty 4K PNGs read together would keep a gigabyte. A file is read into memory only when its turn
 * comes, so at most one image is held here.
 */
let readsInTurn: Promise<unknown> = Promise.resolve();

/**
 * Read and validate the C2PA manifest of an image (in `format`): its bytes, or the path of its file.
 * @param trustAnchorsPath a PEM file of trust anchors (IMAGE_BATCH_C2PA_TRUST_ANCHORS), for `trusted`; none: a valid
 *   manifest is `valid`.
 * @returns its summary; `missing` when there is no manifest. Never throws for what the image holds.
 * @throws Error when the image's file cannot be read.
 */
export function readProvenance(
  image: Uint8Array | string,
  format: OutputFormat,
  trustAnchorsPath?: string,
): Promise<ProvenanceSummary> {
  const read = readsInTurn.then(async () => {
    const bytes = typeof image === 'string' ? await readFile(image) : image;
    return readManifest(bytes, format, trustAnchorsPath);
  });
  readsInTurn = read.catch(() => undefined);
  return read;
}

async function readManifest(
  bytes: Uint8Array,
  format: OutputFormat,
  trustAnchorsPath: string | undefined,
): Promise<ProvenanceSummary> {
  // Every embedded manifest store is a JUMBF box labelled `c2pa` (C2PA 2.1 §11.1): without either marker there is
  // none to read, and the SDK is not loaded.
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (!buffer.includes(JUMBF_MARKER) && !buffer.includes(C2PA_LABEL)) return missingProvenance();
  const sdk = await c2paSdk();
  const anchors = trustAnchorsPath === undefined ? '' : await trustAnchorsOf(trustAnchorsPath);
  const context = anchors === '' ? undefined : JSON.stringify({ trust: { trust_anchors: anchors } });
  let store: ManifestStoreJson;
  try {
    const reader = await sdk.WasmReader.fromBytes(MEDIA_TYPES[format], bytes, context);
    try {
      store = JSON.parse(reader.json()) as ManifestStoreJson;
    } finally {
      reader.free();
    }
  } catch (error) {
    if (/JumbfNotFound|ProvenanceMissing|NotFound/i.test(String(error))) return missingProvenance();
    return { ...missingProvenance(), state: 'invalid', failure_codes: [UNREADABLE_MANIFEST_CODE] };
  }
  return summaryOf(store);
}

function missingProvenance(): ProvenanceSummary {
  return {
    state: 'missing',
    failure_codes: [],
    claim_generator: null,
    signer: null,
    digital_source_type: null,
  };
}

function summaryOf(store: ManifestStoreJson): ProvenanceSummary {
  const active = store.active_manifest === undefined ? undefined : store.manifests?.[store.active_manifest];
  if (active === undefined) return missingProvenance();
  const failures = store.validation_results?.activeManifest?.failure ?? store.validation_status ?? [];
  const stateName = (store.validation_state ?? 'Invalid').toLowerCase();
  const generatorInfo = active.claim_generator_info?.[0];
  const signature = active.signature_info;
  const sourceType = active.assertions
    ?.filter((assertion) => assertion.label.startsWith('c2pa.actions'))
    .flatMap((assertion) => assertion.data?.actions ?? [])
    .find((action) => action.digitalSourceType !== undefined)?.digitalSourceType;
  return {
    state: stateName === 'trusted' || stateName === 'valid' ? stateName : 'invalid',
    failure_codes: [...new Set(failures.map((failure) => failure.code))],
    claim_generator:
      active.claim_generator ??
      (generatorInfo?.name === undefined
        ? null
        : [generatorInfo.name, generatorInfo.version].filter(Boolean).join(' ')),
    signer:
      signature?.common_name === undefined
        ? (signature?.issuer ?? null)
        : signature.issuer === undefined
          ? signature.common_name
          : `${signature.common_name} (${signature.issuer})`,
    digital_source_type: sourceType ?? null,
  };
}

/** Images by provenance: `valid` counts valid and trusted manifests; images stored before provenance was read count as none. */
export interface ProvenanceCounts {
  valid: number;
  invalid: number;
  missing: number;
}

/** How many of `outputs` have valid (or trusted), invalid and missing C2PA provenance. */
export function provenanceCounts(outputs: readonly StoredOutput[]): ProvenanceCounts {
  const counts: ProvenanceCounts = { valid: 0, invalid: 0, missing: 0 };
  for (const output of outputs) {
    const state = output.c2pa?.state;
    if (state === 'valid' || state === 'trusted') counts.valid += 1;
    else if (state === 'invalid') counts.invalid += 1;
    else if (state === 'missing') counts.missing += 1;
  }
  return counts;
}
