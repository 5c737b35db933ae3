/**
 * results.jsonl: one line per row, appended when the row's outcome is first recorded.
 */
import { appendFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { ResultLine } from '../shared/job-definitions.js';

/** Append one results line (a single write of a whole line, with O_APPEND). */
export async function appendResultLine(resultsPath: string, line: ResultLine): Promise<void> {
  await mkdir(path.dirname(resultsPath), { recursive: true });
  await appendFile(resultsPath, `${JSON.stringify(line)}\n`, { flag: 'a' });
}
