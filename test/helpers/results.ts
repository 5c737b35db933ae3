/** Reading a batch's JSON-lines files (results.jsonl, rejects.jsonl) in tests. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ResultLine } from '../../src/shared/job-definitions.js';

/** Every line of a JSON-lines file, parsed. */
export async function readJsonLines<T>(filePath: string): Promise<T[]> {
  const text = await readFile(filePath, 'utf8');
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as T);
}

/** The results lines of batch `batch` under output root `out`. */
export async function resultLines(out: string, batch: string): Promise<ResultLine[]> {
  return readJsonLines<ResultLine>(path.join(out, batch, 'results.jsonl'));
}
