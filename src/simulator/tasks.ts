/**
 * The work and the async tasks of the simulated providers: what a call is asked to make, the images it made, and a
 * task's life (queued → running → succeeded/failed, or cancelled before it started).
 */
import type { ProviderName } from '../shared/config.js';
import type { OutputFormat } from '../shared/job-definitions.js';
import type { Resolution } from '../shared/resolution.js';

/** A generated output, stored for download. */
export interface SimulatedImage {
  url: string;
  width: number;
  height: number;
  contentType: string;
  bytes: Buffer;
}

/** What a simulated model call is asked to make. */
export interface ImageWork {
  operation: 'generate' | 'edit';
  prompt: string;
  /** Encoded input images (edit). */
  inputs: Buffer[];
  mask?: Buffer | undefined;
  size: Resolution;
  format: OutputFormat;
  count: number;
}

/** An async task of a simulated provider. */
export interface SimulatedTask {
  id: string;
  provider: ProviderName;
  /** The prompt it was sent with (unbilled requests are counted by prompt). */
  prompt: string;
  createdAt: number;
  /** When it counts as started and finished (ms since epoch). */
  startsAt: number;
  finishesAt: number;
  model: string;
  input: unknown;
  images?: SimulatedImage[];
  /** Set when the task ends failed. */
  failure?: { kind: 'refused' | 'failed'; message: string };
  /** Set (ms since epoch) when a cancel removed it from the queue before it started: it never runs, nothing is billed. */
  cancelledAt?: number;
  /**
   * The host's start deadline (ms since the epoch), when it was sent with one: not started by then, it is aborted —
   * never run, never billed (fal `X-Fal-Request-Timeout`, Replicate `Cancel-After`).
   */
  startDeadlineAt?: number;
  /** Set when it was aborted at its start deadline. */
  abortedAt?: number;
  /** Resolves once images are made (or the failure is known). */
  ready: Promise<void>;
}

export type TaskState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'aborted';
