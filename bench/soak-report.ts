/** The soak's counts and its Markdown report (bench/soak.ts). */

/** One sample a minute of the soak. */
export interface SoakSample {
  /** Minutes since the soak started. */
  minute: number;
  completed: number;
  failed: number;
  /** RSS of the worker that is never killed, bytes (undefined while it could not be read). */
  lastingWorkerRssBytes: number | undefined;
  /** Largest RSS of any worker alive at the sample, bytes. */
  largestWorkerRssBytes: number;
  kills: number;
  redisRestarts: number;
  partitions: number;
}

/** What the batch ended with. */
export interface SoakCounts {
  rows: number;
  completed: number;
  failed: number;
  /** Failed rows whose paid call's answer was lost (a synchronous call cut by a kill -9): paid once, never re-sent. */
  uncertain: number;
  /** Failed rows by error code. */
  failedByCode: Record<string, number>;
  /** Rows without a results line. */
  lost: number;
  /** Rows with more than one results line. */
  twoLines: number;
  /** Rows the hosts accepted (and billed) more than once, summed over the extra acceptances. */
  paidTwice: number;
}

/**
 * Count a soak's outcome from its results file and the simulator's paid submissions by prompt (a request a host
 * accepted and never started is not billed: `unbilledByPrompt`).
 */
export function soakCounts(input: {
  rows: number;
  resultsText: string;
  submissionsByPrompt: ReadonlyMap<string, number>;
  unbilledByPrompt: ReadonlyMap<string, number>;
  promptOf: (index: number) => string;
}): SoakCounts {
  const lines = input.resultsText
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as { row_key: string; status: string; error?: { code?: string } });
  const linesByRow = new Map<string, number>();
  const failedByCode: Record<string, number> = {};
  for (const line of lines) {
    linesByRow.set(line.row_key, (linesByRow.get(line.row_key) ?? 0) + 1);
    if (line.status !== 'completed') {
      const code = line.error?.code ?? 'unknown';
      failedByCode[code] = (failedByCode[code] ?? 0) + 1;
    }
  }
  let paidTwice = 0;
  for (let index = 0; index < input.rows; index += 1) {
    const prompt = input.promptOf(index);
    const billed = (input.submissionsByPrompt.get(prompt) ?? 0) - (input.unbilledByPrompt.get(prompt) ?? 0);
    paidTwice += Math.max(0, billed - 1);
  }
  return {
    rows: input.rows,
    completed: lines.filter((line) => line.status === 'completed').length,
    failed: lines.filter((line) => line.status !== 'completed').length,
    uncertain: failedByCode.uncertain_outcome ?? 0,
    failedByCode,
    lost: input.rows - linesByRow.size,
    twoLines: [...linesByRow.values()].filter((count) => count > 1).length,
    paidTwice,
  };
}

const mebibytes = (bytes: number | undefined) =>
  bytes === undefined ? '–' : `${Math.round(bytes / 1024 / 1024)} MiB`;

/** The soak's section of BENCHMARKS.md: the outcome, then the workers' RSS over time (at most 16 samples). */
export function soakReport(input: {
  minutes: number;
  workers: number;
  rowsPerMinute: number;
  counts: SoakCounts;
  samples: SoakSample[];
  workerStarts: number;
  faults: { kills: number; redisRestarts: number; partitions: number };
  /** Minutes between Redis restarts and between partitions. */
  restartRedisEvery: number;
  partitionEvery: number;
  date: Date;
}): string {
  const { counts, faults } = input;
  const other = Object.entries(counts.failedByCode)
    .filter(([code]) => code !== 'uncertain_outcome')
    .map(([code, count]) => `${count} ${code}`);
  const step = Math.max(1, Math.ceil(input.samples.length / 16));
  const shown = input.samples.filter((_, index) => index % step === 0 || index === input.samples.length - 1);
  return [
    '## Soak',
    '',
    [
      `Written by \`npm run soak -- --minutes ${input.minutes}\` (bench/soak.ts) on`,
      `${input.date.toISOString().slice(0, 16).replace('T', ' ')} UTC: ${counts.rows} rows over the five simulated`,
      'hosts (OpenAI and Oxen answer synchronously, fal, Replicate and WaveSpeed through their queues),',
      `${input.workers} worker processes, faults for ${input.minutes} minutes, then the batch drains. A worker is killed`,
      '(kill -9) every 20–60 s and started again a second later; Redis is killed and started again on its append-only',
      `file every ${input.restartRedisEvery} minutes; a random worker is cut off from Redis for 10 s every`,
      `${input.partitionEvery} minutes (job locks last 5 s, so its rows move). Worker 0 is never killed: its RSS shows`,
      'whether a worker leaks.',
    ].join(' '),
    '',
    '| rows | completed | failed | of which uncertain_outcome | lost | rows with two lines | paid twice | kills | Redis restarts | partitions |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    `| ${[counts.rows, counts.completed, counts.failed, counts.uncertain, counts.lost, counts.twoLines, counts.paidTwice, faults.kills, faults.redisRestarts, faults.partitions].join(' | ')} |`,
    '',
    [
      '`uncertain_outcome`: a synchronous call (OpenAI, Oxen: neither offers an idempotency key) was cut by a kill -9',
      'after it was sent; the host billed it once, nobody can know whether it made the image, so it is never sent',
      `again (docs/reliability.md).${other.length > 0 ? ` Other failures: ${other.join(', ')}.` : ''}`,
      `Worker processes started in all: ${input.workerStarts}.`,
    ].join(' '),
    '',
    '| minute | completed | failed | RSS of worker 0 (never killed) | largest worker RSS | kills | Redis restarts | partitions |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...shown.map(
      (sample) =>
        `| ${[sample.minute, sample.completed, sample.failed, mebibytes(sample.lastingWorkerRssBytes), mebibytes(sample.largestWorkerRssBytes), sample.kills, sample.redisRestarts, sample.partitions].join(' | ')} |`,
    ),
  ].join('\n');
}
