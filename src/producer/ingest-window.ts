/**
 * Which rows of one read of a batch's manifests get their jobs now (windowed ingest, src/batch/manifest-cursor.ts).
 * The cursor is a place in the manifests, in the order of the cursor's list: rows before it have been added, rows
 * from it on wait. A read adds rows only where it reads on from the cursor without a gap — the rows it reads from the
 * cursor's row on, in the cursor's manifest, while there is room; reaching the end of that manifest moves the cursor
 * to the next one — so no row is ever passed over. Rows behind the cursor are `rescue` (their jobs come back if a
 * crash lost them), rows after it are only registered (or, for a refill, end the read).
 */
import type { CursorPosition } from '../batch/manifest-cursor.js';
import type { ChunkCounts, ChunkMode } from './chunk-writer.js';
import type { EnqueueReport } from './enqueue-options.js';
import type { ResumePoint } from './manifest-reader.js';

/** Where a row is: its manifest's index in the cursor's list, and its start in the file. */
export interface RowPlace {
  manifest: number;
  byteOffset: number;
  line: number;
}

/** The cursor of one read, moving as rows are added. */
export class IngestWindow {
  private live: CursorPosition;
  private full = false;

  /**
   * @param start the cursor when the read begins (undefined: every row was added already).
   * @param room rows that may be added (the window less the rows added and not finished).
   * @param manifestCount manifests in the cursor's list.
   * @param stopWhenFull a refill: the first row there is no room for ends the read (`stop`), not `register`.
   */
  constructor(
    start: CursorPosition | undefined,
    private room: number,
    private readonly manifestCount: number,
    readonly stopWhenFull: boolean,
  ) {
    this.live = start ?? { manifest: manifestCount, byteOffset: 0, line: 1 };
  }

  /** What the row at `place` gets. */
  modeOf(place: RowPlace): ChunkMode | 'stop' {
    const { live } = this;
    if (
      place.manifest < live.manifest ||
      (place.manifest === live.manifest && place.byteOffset < live.byteOffset)
    )
      return 'rescue';
    if (place.manifest !== live.manifest || this.full) return 'register';
    if (this.room > 0) {
      this.room -= 1;
      // Past this row (not a row's start: the cursor is saved only at a row where the room ran out, or at the end).
      this.live = { manifest: place.manifest, byteOffset: place.byteOffset + 1, line: place.line };
      return 'add';
    }
    this.full = true;
    this.live = { ...place };
    return this.stopWhenFull ? 'stop' : 'register';
  }

  /** The read reached the end of manifest `manifest`: when the cursor was in it, it moves to the next one. */
  manifestEnded(manifest: number): void {
    if (this.live.manifest === manifest && !this.full)
      this.live = { manifest: manifest + 1, byteOffset: 0, line: 1 };
  }

  /** Whether a read of manifest `manifest` can still add rows (a refill reads no further once it cannot). */
  canAddIn(manifest: number): boolean {
    return !this.full && manifest === this.live.manifest;
  }

  /** The cursor after the read: undefined once it is past the last manifest. */
  get position(): CursorPosition | undefined {
    return this.live.manifest >= this.manifestCount ? undefined : { ...this.live };
  }
}

/** A manifest to read: its name as the user gave it, its absolute path, its index in the batch's cursor. */
export interface ManifestToRead {
  name: string;
  path: string;
  index: number;
  /** Where to start (a refill): a row's offset and line. Default: the file's start. */
  resumeAt?: ResumePoint;
  /** Called with every chunk of the file's bytes (a content hash), when read from its start. */
  onData?: (chunk: Buffer) => void;
}

/**
 * How a read goes through the manifests when it is not a producer's whole pass without a window: the manifests and
 * the window (a refill, ./refill.ts), and what to do once the rows sent are in Redis.
 */
export interface ReadPlan {
  manifests: ManifestToRead[];
  window: IngestWindow;
  /** The window just filled (a producer's pass): its rows' jobs are in Redis. */
  windowFilled?: (counts: ChunkCounts) => Promise<void>;
  /** Every row sent is in Redis. */
  finish(counts: ChunkCounts, report: EnqueueReport): Promise<void>;
  /** Always called last, on an error too (a refill releases its lock itself). */
  release?(): Promise<void>;
}

/** The fewest and most rows of a default window. */
export const WINDOW_FLOOR_ROWS = 10_000;
export const WINDOW_CEILING_ROWS = 100_000;
/** The work a default window holds: 15 minutes at the hosts' rate limits. */
export const WINDOW_HORIZON_MINUTES = 15;

/**
 * The default window of a batch: {@link WINDOW_HORIZON_MINUTES} of requests at the rate limits of the hosts its rows
 * may go to (requests a minute; 0 is no limit), kept between {@link WINDOW_FLOOR_ROWS} and
 * {@link WINDOW_CEILING_ROWS} rows (about 1 KiB of Redis each while they wait: at most ~100 MiB).
 */
export function defaultWindow(requestsPerMinute: readonly number[]): number {
  if (requestsPerMinute.some((rate) => rate <= 0)) return WINDOW_CEILING_ROWS;
  const rows = requestsPerMinute.reduce((sum, rate) => sum + rate, 0) * WINDOW_HORIZON_MINUTES;
  return Math.min(WINDOW_CEILING_ROWS, Math.max(WINDOW_FLOOR_ROWS, Math.round(rows)));
}
