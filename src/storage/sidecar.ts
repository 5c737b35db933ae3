/**
 * Sidecar files (`--sidecar`, issue 31): `<image>.json` beside each stored image, for asset-management imports — what
 * made it (prompt, model, host, request id, time, cost) and its C2PA provenance as read from the stored bytes.
 */
import type { ResultLine } from '../shared/job-definitions.js';
import type { OutputStore } from './output-store.js';

/** The sidecar path of image `imagePath` (relative to the batch): `images/a.png` → `images/a.png.json`. */
export function sidecarPathOf(imagePath: string): string {
  return `${imagePath}.json`;
}

/** The sidecar of output `index` of completed row `line` of batch `batchId`, as JSON text. */
export function sidecarText(batchId: string, line: ResultLine, index: number): string {
  const output = line.outputs[index]!;
  const sidecar = {
    image: output.path,
    derivative: false,
    batch: batchId,
    row_key: line.row_key,
    prompt: line.prompt,
    operation: line.operation,
    model: line.model,
    host: line.account > 1 ? `${line.provider}@${line.account}` : line.provider,
    request_id: line.request_id,
    created: line.finished_at,
    /** The row's estimated USD (all its images), 0 for a reused row. */
    cost_usd: line.cost_usd,
    width: output.width,
    height: output.height,
    bytes: output.bytes,
    sha256: output.sha256,
    c2pa: output.c2pa ?? null,
    reused_from: line.reused_from ?? null,
  };
  return `${JSON.stringify(sidecar, null, 2)}\n`;
}

/** Write the sidecar of each image of completed row `line` beside the image. */
export async function writeSidecars(store: OutputStore, batchId: string, line: ResultLine): Promise<void> {
  for (const [index, output] of line.outputs.entries())
    await store.writeText(batchId, sidecarPathOf(output.path), sidecarText(batchId, line, index));
}
