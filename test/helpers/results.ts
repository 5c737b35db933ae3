/** Reading a batch's results.jsonl in tests. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ResultLine } from '../../src/shared/job-definitions.js';

/** The results lines of batch `batch` under output root `out`. */
export async function resultLines(out: string, batch: string): Promise<ResultLine[]> {
  const text = await readFile(path.join(out, batch, 'results.jsonl'), 'utf8');
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as ResultLine);
}
