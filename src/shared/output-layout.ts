/**
 * Where a batch's files go under the output directory, and how untrusted names (row keys, batch ids) become safe
 * file names. Layout: `<out>/<batch>/images/<row-key>[-<n>].<ext>`, `results.jsonl`, `rejects.jsonl`, `summary.json`.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { OutputFormat } from './job-definitions.js';

const UNSAFE_CHARACTERS = /[^A-Za-z0-9._+-]/g;
const MAX_STEM_LENGTH = 100;

/**
 * A file-name-safe form of an untrusted name: only `A-Z a-z 0-9 . _ + -`, no leading dot or dash, at most 100
 * characters. When the name had to change, a short hash of the original is appended, so two different names never
 * map to the same stem. The result never contains a path separator, `..` at its start, or `:`.
 */
export function safeFileStem(name: string): string {
  let stem = name.replace(UNSAFE_CHARACTERS, '_').replace(/^[.-]+/, '_');
  if (stem.length > MAX_STEM_LENGTH) stem = stem.slice(0, MAX_STEM_LENGTH);
  if (stem === name && stem !== '') return stem;
  const digest = createHash('sha256').update(name).digest('hex').slice(0, 8);
  return `${stem}-${digest}`;
}

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
  return `images/${safeFileStem(rowKey)}${suffix}.${extensionFor(format)}`;
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
