// Bare BullMQ worker, the ceiling for image-batch's worker path: a no-op processor on the same queue and jobs.
// Usage: node bare-worker.mjs <redis-url> <prefix> <concurrency> <jobs>; exits when <jobs> jobs completed.
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';

const [redisUrl, prefix, concurrencyText, jobsText] = process.argv.slice(2);
const jobs = Number(jobsText);
const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
let completed = 0;
let resolveDone;
const done = new Promise((resolve) => (resolveDone = resolve));
const worker = new Worker('{provider-openai}', async () => undefined, {
  connection,
  prefix,
  concurrency: Number(concurrencyText),
});
worker.on('completed', () => {
  completed += 1;
  if (completed === jobs) resolveDone();
});
await done;
await worker.close();
connection.disconnect();
