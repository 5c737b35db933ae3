/**
 * What the worker pool (./worker-pool.ts) needs around its BullMQ workers: the metrics endpoint, a graceful close
 * within the drain timeout, and the one results line of a job that failed without its processor recording it.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Job, Worker } from 'bullmq';
import type { BatchStore } from '../batch/batch-store.js';
import { failedLine, lineBase } from '../batch/results-line.js';
import { recordRowOutcome } from '../batch/row-outcome.js';
import type { ImageJobData } from '../shared/job-definitions.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';

/** Serve the process's Prometheus metrics at `/metrics` on `port` (0: any free port). */
export function serveMetrics(metrics: Metrics, port: number): { url: Promise<string>; close(): void } {
  const server = createServer((request, response) => {
    if (request.url !== '/metrics') return void response.writeHead(404).end();
    metrics.expose().then(
      ({ contentType, body }) => response.writeHead(200, { 'content-type': contentType }).end(body),
      () => response.writeHead(500).end(),
    );
  });
  const url = new Promise<string>((resolve) =>
    server.listen(port, '0.0.0.0', () => {
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`);
    }),
  );
  return {
    url,
    close() {
      server.closeAllConnections();
      server.close();
    },
  };
}

/** Wait for running calls up to the drain timeout; past it, hand the jobs back (stalled-job recovery). */
export async function closeWorkers(workers: Worker[], drainTimeoutMs: number, log: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const drained = await Promise.race([
    Promise.all(workers.map((worker) => worker.close())).then(() => true),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), drainTimeoutMs);
    }),
  ]);
  clearTimeout(timer);
  if (!drained) {
    log.warn({ drainTimeoutMs }, 'jobs still running after the drain timeout; handing them back');
    await Promise.all(workers.map((worker) => worker.close(true)));
  }
}

/**
 * A job that failed for good without the processor recording it (e.g. stalled too often after worker crashes) still
 * gets its one results line, so the batch can finish and the row is accounted for.
 */
export async function recordUnhandledFailure(
  job: Job<ImageJobData>,
  error: Error,
  store: BatchStore,
  log: Logger,
): Promise<void> {
  try {
    const attempts = job.opts.attempts ?? 1;
    const final = error.name === 'UnrecoverableError' || job.attemptsMade >= attempts;
    if (!final) return;
    const { data } = job;
    if ((await store.outcome(data.batchId, data.rowKey)) !== undefined) return;
    const outputRoot = await store.outputDirectory(data.batchId);
    if (outputRoot === undefined) return;
    const base = lineBase(data, data.model ?? '', job.attemptsMade, undefined);
    const line = failedLine(base, { code: 'job_failed', message: error.message, requestId: null });
    await recordRowOutcome(store, data, line, outputRoot);
  } catch (recordError) {
    log.error({ err: recordError, jobId: job.id }, 'could not record a failed job');
  }
}

/** Call `work` every `everyMs`, one call at a time, until stopped (which waits for a call under way). */
export function repeatWhileOpen(
  work: (() => Promise<unknown>) | undefined,
  everyMs: number,
): { stop(): Promise<void> } {
  if (work === undefined) return { stop: () => Promise.resolve() };
  let stopped = false;
  let running: Promise<unknown> | undefined;
  const timer = setInterval(() => {
    if (stopped || running !== undefined) return;
    running = work()
      .catch(() => undefined)
      .finally(() => (running = undefined));
  }, everyMs);
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
