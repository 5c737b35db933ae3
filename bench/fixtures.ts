/**
 * Benchmark inputs: a manifest of `rows` rows as CSV and as JSONL (prompts of about 120 characters, 1–3 image URLs,
 * mixed resolutions, all for OpenAI, whose edit endpoint takes up to 16 input images), and the job payloads our
 * producer enqueues for them, which the bare-BullMQ figure adds as they are.
 */
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { jobDataOf } from '../src/producer/row-check.js';
import { validateRow } from '../src/producer/manifest-row.js';

const RESOLUTIONS = ['1024x1024', '1536x1024', '1024x1536', '2048x2048', '3840x2160'];
const SUBJECTS = [
  'lighthouse',
  'market stall',
  'mountain hut',
  'tram stop',
  'orchard',
  'harbour crane',
  'bakery',
];
const STYLES = ['watercolour', 'ink wash', 'oil on canvas', 'flat vector', 'isometric 3D', 'film photograph'];

/** One manifest row's fields (as a JSONL object). */
export function benchmarkRow(index: number): Record<string, string> {
  const subject = SUBJECTS[index % SUBJECTS.length]!;
  const style = STYLES[index % STYLES.length]!;
  const prompt =
    `Repaint the ${subject} number ${index} as a ${style} at dusk, keep the composition, ` +
    `warm light from the left, soft shadows and calm sea`;
  const urls = Array.from(
    { length: 1 + (index % 3) },
    (_, k) => `https://images.example.com/library/${index % 9973}/${k}.jpg`,
  );
  return {
    id: `row-${index}`,
    provider: 'openai',
    prompt,
    image_urls: urls.join('|'),
    resolution: RESOLUTIONS[index % RESOLUTIONS.length]!,
  };
}

async function write(stream: WriteStream, text: string): Promise<void> {
  if (!stream.write(text)) await once(stream, 'drain');
}

async function close(stream: WriteStream): Promise<void> {
  await new Promise<void>((resolve, reject) =>
    stream.end((error?: Error | null) => (error ? reject(error) : resolve())),
  );
}

/** Paths of the files {@link writeFixtures} made. */
export interface Fixtures {
  csv: string;
  jsonl: string;
  /** One JSON job payload per line, as our producer enqueues it for batch `bench`. */
  payloads: string;
  rows: number;
  csvBytes: number;
  jsonlBytes: number;
}

/** Write the CSV, JSONL and payload files of `rows` rows into `directory`. */
export async function writeFixtures(directory: string, rows: number): Promise<Fixtures> {
  const csv = path.join(directory, `manifest-${rows}.csv`);
  const jsonl = path.join(directory, `manifest-${rows}.jsonl`);
  const payloads = path.join(directory, `payloads-${rows}.jsonl`);
  const csvStream = createWriteStream(csv);
  const jsonlStream = createWriteStream(jsonl);
  const payloadStream = createWriteStream(payloads);
  await write(csvStream, 'id,provider,prompt,image_urls,resolution\n');
  // Written 5,000 lines at a time: one write per file and batch, not per row.
  const BATCH = 5000;
  for (let start = 0; start < rows; start += BATCH) {
    const csvLines: string[] = [];
    const jsonLines: string[] = [];
    const payloadLines: string[] = [];
    for (let index = start; index < Math.min(rows, start + BATCH); index += 1) {
      const row = benchmarkRow(index);
      csvLines.push(`${row.id},${row.provider},"${row.prompt}",${row.image_urls},${row.resolution}\n`);
      jsonLines.push(`${JSON.stringify({ ...row, image_urls: row.image_urls!.split('|') })}\n`);
      const validation = validateRow({ ...row }, directory);
      if (!validation.ok)
        throw new Error(`fixture row ${index} is invalid: ${JSON.stringify(validation.errors)}`);
      const data = jobDataOf(validation.row, {
        batchId: 'bench',
        rowKey: row.id!,
        manifest: jsonl,
        line: index + 1,
        provider: 'openai',
      });
      payloadLines.push(`${JSON.stringify(data)}\n`);
    }
    await Promise.all([
      write(csvStream, csvLines.join('')),
      write(jsonlStream, jsonLines.join('')),
      write(payloadStream, payloadLines.join('')),
    ]);
  }
  await Promise.all([close(csvStream), close(jsonlStream), close(payloadStream)]);
  return {
    csv,
    jsonl,
    payloads,
    rows,
    csvBytes: (await stat(csv)).size,
    jsonlBytes: (await stat(jsonl)).size,
  };
}
