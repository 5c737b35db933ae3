// Bare BullMQ ingest, the ceiling for `image-batch enqueue`: read the job payloads our producer would enqueue
// (one JSON per line) and add them with BullMQ's fastest method on this machine (baselines.md): addBulk in chunks of
// 1,000 with 4 chunks in flight, deterministic job ids and the same job options. No validation, no batch records.
// Usage: node bare-ingest.mjs <payloads.jsonl> <redis-url> <prefix>; prints {"rows":N,"ms":T}.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';

const [payloads, redisUrl, prefix] = process.argv.slice(2);
const CHUNK = 1000;
const IN_FLIGHT = 4;
const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
const queue = new Queue('{provider-openai}', { connection, prefix });
const options = {
  attempts: 3,
  backoff: { type: 'provider-full-jitter', delay: 2000 },
  removeOnComplete: { age: 7 * 24 * 3600 },
  removeOnFail: { age: 30 * 24 * 3600 },
};
const started = performance.now();
let rows = 0;
let chunk = [];
const inFlight = new Set();
const send = async (jobs) => {
  const sending = queue.addBulk(jobs);
  inFlight.add(sending);
  sending.finally(() => inFlight.delete(sending));
  if (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
};
for await (const line of createInterface({ input: createReadStream(payloads), crlfDelay: Infinity })) {
  if (line === '') continue;
  const data = JSON.parse(line);
  chunk.push({ name: data.operation, data, opts: { ...options, jobId: `${data.batchId}--${data.rowKey}` } });
  rows += 1;
  if (chunk.length === CHUNK) {
    await send(chunk);
    chunk = [];
  }
}
if (chunk.length > 0) await send(chunk);
await Promise.all(inFlight);
const ms = performance.now() - started;
await queue.close();
connection.disconnect();
process.stdout.write(`${JSON.stringify({ rows, ms })}\n`);
