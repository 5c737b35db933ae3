// The hand-wired peer of `image-batch worker`: what a user would write instead of image-batch — a BullMQ Worker that
// calls OpenAI's generations endpoint (here the simulator) with fetch, writes each returned image to a file and
// appends a line to results.jsonl. No budget, no idempotency (a retried or stalled job pays again), no rate limit of
// its own, no image check, no crash recovery of results lines.
// Usage: node peer-worker.mjs <redis-url> <prefix> <concurrency> <jobs> <openai-base-url> <out-dir>; exits when <jobs>
// jobs completed.
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';

const [redisUrl, prefix, concurrencyText, jobsText, baseUrl, out] = process.argv.slice(2);
const jobs = Number(jobsText);
await mkdir(out, { recursive: true });
const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
let completed = 0;
let resolveDone;
const done = new Promise((resolve) => (resolveDone = resolve));
const worker = new Worker(
  '{provider-openai}',
  async (job) => {
    const response = await fetch(`${baseUrl}/images/generations`, {
      method: 'POST',
      headers: { authorization: 'Bearer bench-key', 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'gpt-image-2',
        prompt: job.data.prompt,
        n: job.data.numImages,
        size: job.data.resolution,
        output_format: job.data.outputFormat,
      }),
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}: ${await response.text()}`);
    const body = await response.json();
    const files = [];
    for (const [index, image] of body.data.entries()) {
      const file = path.join(out, `${job.id}-${index}.${job.data.outputFormat}`);
      await writeFile(file, Buffer.from(image.b64_json, 'base64'));
      files.push(file);
    }
    await appendFile(path.join(out, 'results.jsonl'), `${JSON.stringify({ id: job.id, files })}\n`);
  },
  { connection, prefix, concurrency: Number(concurrencyText) },
);
worker.on('completed', () => {
  completed += 1;
  if (completed === jobs) resolveDone();
});
worker.on('failed', (job, error) => process.stderr.write(`${job?.id}: ${error.message}\n`));
await done;
await worker.close();
connection.disconnect();
