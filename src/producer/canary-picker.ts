/**
 * Choosing a batch's canary rows (`--canary N`) while the manifests stream by, stratified across provider × size ×
 * quality × mode: the first row of each stratum is taken as it is read (until N are taken); after the last row, the
 * canary is topped up to N round-robin across the strata, in the order they were first seen, from the rows held
 * meanwhile. So N rows cover min(N, strata) strata, and a large stratum is not sampled N times before a small one
 * once. Memory: at most N spare rows per stratum.
 */
import { firstJobOf, type HeldJob } from '../batch/canary.js';
import type { PendingRow } from './estimate.js';

/** A row as the canary records know it. */
export type CanaryCandidate = HeldJob & { rowKey: string };

/**
 * The stratum of a row: provider (for a row with several candidate hosts, all of them: its host is chosen when it
 * runs), size, quality (or the provider's default) and mode.
 */
export function stratumOf(row: PendingRow): string {
  const { data } = row;
  const hosts = data.routing === undefined ? data.provider : data.routing.candidates.join('|');
  return [hosts, data.resolution, data.quality ?? 'default', data.operation].join(' ');
}

/** Picks the canary rows of one batch. */
export class CanaryPicker {
  private taken = 0;
  private readonly spares = new Map<string, CanaryCandidate[]>();

  constructor(
    private readonly batchId: string,
    /** Canary rows wanted. */
    readonly size: number,
  ) {}

  /**
   * Whether `row` (read now) goes into the canary: `canary`; `spare`, held but kept as one {@link topUp} may take;
   * `rest`, held (the canary will not take it).
   */
  choose(row: PendingRow): 'canary' | 'spare' | 'rest' {
    const stratum = stratumOf(row);
    const spares = this.spares.get(stratum);
    if (spares === undefined && this.taken < this.size) {
      this.spares.set(stratum, []);
      this.taken += 1;
      return 'canary';
    }
    const list = spares ?? [];
    if (spares === undefined) this.spares.set(stratum, list);
    if (list.length >= this.size) return 'rest';
    list.push({ rowKey: row.rowKey, ...firstJobOf(this.batchId, row.data) });
    return 'spare';
  }

  /** After the last row: the held rows to move into the canary so that it has `size` rows (when there are enough). */
  topUp(): CanaryCandidate[] {
    const chosen: CanaryCandidate[] = [];
    const lists = [...this.spares.values()];
    for (let round = 0; this.taken + chosen.length < this.size; round += 1) {
      let any = false;
      for (const list of lists) {
        const candidate = list[round];
        if (candidate === undefined) continue;
        any = true;
        chosen.push(candidate);
        if (this.taken + chosen.length >= this.size) break;
      }
      if (!any) break;
    }
    this.taken += chosen.length;
    return chosen;
  }
}
