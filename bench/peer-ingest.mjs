// The hand-wired peer of `image-batch enqueue`: what a user would write instead of image-batch — csv-parse, a zod
// schema per row, and `addBulk` of 1,000 rows at a time into the same queue. No batch records (a re-run enqueues
// everything again), no reject file, no price check; a bad row throws.
// Usage: node peer-ingest.mjs <manifest.csv> <redis-url> <prefix>; prints {"rows":N,"ms":T}.
import { createReadStream } from 'node:fs';
import { Queue } from 'bullmq';
import { parse } from 'csv-parse';
import { Redis } from 'ioredis';
import { z } from 'zod';

const [manifest, redisUrl, prefix] = process.argv.slice(2);
const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
const queue = new Queue('{provider-openai}', { connection, prefix });
const row = z.object({
  id: z.string().min(1),
  provider: z.literal('openai'),
  prompt: z.string().min(1).max(32_000),
  image_urls: z
    .string()
    .transform((text) => (text === '' ? [] : text.split('|')))
    .pipe(z.array(z.string().url()).max(16)),
  resolution: z.string().regex(/^\d+x\d+$/),
});
const started = performance.now();
let rows = 0;
let chunk = [];
for await (const record of createReadStream(manifest).pipe(parse({ columns: true }))) {
  const data = row.parse(record);
  chunk.push({ name: data.image_urls.length > 0 ? 'edit' : 'generate', data, opts: { attempts: 3 } });
  rows += 1;
  if (chunk.length === 1000) {
    await queue.addBulk(chunk);
    chunk = [];
  }
}
if (chunk.length > 0) await queue.addBulk(chunk);
const ms = performance.now() - started;
await queue.close();
connection.disconnect();
process.stdout.write(`${JSON.stringify({ rows, ms })}\n`);
