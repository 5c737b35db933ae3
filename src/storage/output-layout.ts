/**
 * Where a batch's files go under the output directory, and how untrusted names (row keys, batch ids) become safe
 * file names. Layout: `<out>/<batch>/images/<row-key>[-<n>].<ext>`, `results.jsonl`, `rejects.jsonl`, `summary.json`.
 */
import path from 'node:path';
import type { OutputFormat } from '../shared/job-definitions.js';
import { rowKeyStem, safeFileStem } from '../shared/keys.js';

/** Paths of one batch's files. */
export interface BatchPaths {
  directory: string;
  images: string;
  results: string;
  rejects: string;
  summary: string;
}

/** The paths of batch `batchId` under `outputRoot` (made absolute). */
export function batchPaths(outputRoot: string, batchId: string): BatchPaths {
  const directory = path.join(path.resolve(outputRoot), safeFileStem(batchId));
  return {
    directory,
    images: path.join(directory, 'images'),
    results: path.join(directory, 'results.jsonl'),
    rejects: path.join(directory, 'rejects.jsonl'),
    summary: path.join(directory, 'summary.json'),
  };
}

/** File extension for an output format. */
export function extensionFor(format: OutputFormat): string {
  return format === 'jpeg' ? 'jpg' : format;
}

/**
 * Path of output image `index` (0-based) of a row, relative to the batch directory.
 * `count` is the row's number of images: a single image has no `-<n>` suffix.
 */
export function outputImagePath(rowKey: string, index: number, count: number, format: OutputFormat): string {
  const suffix = count > 1 ? `-${index + 1}` : '';
  return `images/${rowKeyStem(rowKey)}${suffix}.${extensionFor(format)}`;
}

/**
 * Resolve `relativePath` inside `directory`.
 * @throws Error when the result would lie outside `directory` (defence in depth behind {@link safeFileStem}).
 */
export function resolveInside(directory: string, relativePath: string): string {
  const root = path.resolve(directory);
  const target = path.resolve(root, relativePath);
  if (!target.startsWith(root + path.sep)) {
    throw new Error(`refusing to write outside the batch directory: ${relativePath}`);
  }
  return target;
}
