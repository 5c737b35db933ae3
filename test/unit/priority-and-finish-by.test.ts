/** Priority levels and their BullMQ priorities, finish-by times and their plan (issue 30). */
import { describe, expect, it } from 'vitest';
import {
  BULLMQ_PRIORITY_LIMIT,
  jobPriority,
  LEVEL_BAND,
  levelOfJobPriority,
  parsePriority,
} from '../../src/batch/priority.js';
import { finishByStatus, parseFinishBy, planFinish } from '../../src/batch/finish-by.js';
import { startDeadlineOf } from '../../src/worker/start-deadline.js';
import type { ImageProvider } from '../../src/providers/provider.js';
import type { ImageJobData } from '../../src/shared/job-definitions.js';

describe('priority levels', () => {
  it('reads names and levels, and refuses anything else', () => {
    expect([parsePriority('urgent'), parsePriority('Normal'), parsePriority('background')]).toEqual([
      1, 5, 9,
    ]);
    expect(parsePriority('3')).toBe(3);
    for (const bad of ['0', '10', '2.5', 'soon', ''])
      expect(() => parsePriority(bad)).toThrow(/urgent, normal, background or a whole number from 1/);
  });

  it('puts every job of a level before any of the next, whatever its tag, within BullMQ’s limit', () => {
    for (let level = 1; level < 9; level += 1)
      expect(jobPriority(level, 10 ** 9)).toBeLessThan(jobPriority(level + 1, 0));
    expect(jobPriority(9, 10 ** 9)).toBeLessThanOrEqual(BULLMQ_PRIORITY_LIMIT);
    expect(jobPriority(1, 0)).toBeGreaterThan(0); // 0 would be "no priority": served before all
    for (let level = 1; level <= 9; level += 1)
      for (const tag of [0, 1, LEVEL_BAND - 1, LEVEL_BAND * 3])
        expect(levelOfJobPriority(jobPriority(level, tag))).toBe(level);
    expect(jobPriority(5, 2.7)).toBe(jobPriority(5, 2));
  });
});

describe('finish-by times', () => {
  const now = Date.parse('2026-12-03T20:00:00Z');

  it('reads durations and ISO times, and refuses past or unreadable ones', () => {
    expect(parseFinishBy('90m', now)).toBe(now + 90 * 60_000);
    expect(parseFinishBy('1h30m', now)).toBe(now + 90 * 60_000);
    expect(parseFinishBy('3d', now)).toBe(now + 3 * 86_400_000);
    expect(parseFinishBy('2026-12-04T06:00:00Z', now)).toBe(Date.parse('2026-12-04T06:00:00Z'));
    expect(() => parseFinishBy('2026-12-03T19:00:00Z', now)).toThrow(/not in the future/);
    for (const bad of ['soon', '5 apples', '12', 'h'])
      expect(() => parseFinishBy(bad, now)).toThrow(/neither a duration/);
  });

  it('plans from each host’s rows and rate, with rows ahead and rows that may go anywhere', () => {
    const at = now + 60 * 60_000;
    // 600 rows at 60/min: 10 minutes; 300 more that may go to either host (60 + 30 /min): 900 / 90 = 10 min.
    const plan = planFinish(
      [
        { host: 'openai', rows: 600, ahead: 0, requestsPerMinute: 60 },
        { host: 'fal', rows: 0, ahead: 0, requestsPerMinute: 30 },
      ],
      300,
      0,
      at,
      now,
    );
    expect(plan).toEqual({ expectedAt: now + 10 * 60_000, meets: true, unlimited: [] });
    // 3,600 rows of higher priority ahead on OpenAI: 60 minutes more, 70 in all; missed.
    const behind = planFinish(
      [{ host: 'openai', rows: 600, ahead: 3600, requestsPerMinute: 60 }],
      0,
      0,
      at,
      now,
    );
    expect(behind.expectedAt).toBe(now + 70 * 60_000);
    expect(behind.meets).toBe(false);
    // Rows through the Batch API take up to its 24-hour window.
    expect(planFinish([], 0, 10, at, now).expectedAt).toBe(now + 24 * 3600_000);
    // No rate limit: no plan, named.
    expect(planFinish([{ host: 'oxen', rows: 5, ahead: 0, requestsPerMinute: 0 }], 0, 0, at, now)).toEqual({
      expectedAt: undefined,
      meets: true,
      unlimited: ['oxen'],
    });
  });

  it('is late when the recent rate, else the plan, ends after the time, or the time passed with rows left', () => {
    const at = now + 10 * 60_000;
    // 100 rows left at 5 a minute over the last 5 minutes (25 rows): 20 minutes → late.
    expect(finishByStatus(at, undefined, 100, 25, now).late).toBe(true);
    // At 50 a minute: 2 minutes → on time, whatever the plan said.
    expect(finishByStatus(at, now + 60 * 60_000, 100, 250, now).late).toBe(false);
    // Nothing finished lately: the plan decides.
    expect(finishByStatus(at, now + 60 * 60_000, 100, 0, now).late).toBe(true);
    expect(finishByStatus(at, now + 60_000, 100, 0, now).late).toBe(false);
    expect(finishByStatus(at, undefined, 1, 0, at + 1).late).toBe(true);
    expect(finishByStatus(at, now + 60 * 60_000, 0, 0, now).late).toBe(false);
  });

  it('sends rows on a host with a start deadline with the time left, never less than 10 s', () => {
    const queued = { cancelIfQueued: () => Promise.resolve('cancelled') } as unknown as ImageProvider;
    const data = { provider: 'fal', batchId: 'b', rowKey: 'r' } as unknown as ImageJobData;
    expect(startDeadlineOf(data, queued, 120_000, now + 60_000, now)).toBe(60_000);
    expect(startDeadlineOf(data, queued, 120_000, now + 5_000, now)).toBeUndefined();
    expect(startDeadlineOf(data, queued, 120_000, undefined, now)).toBeUndefined();
    // A host without a queue to cancel from (a synchronous one) gets none.
    expect(startDeadlineOf(data, {} as ImageProvider, 120_000, now + 60_000, now)).toBeUndefined();
  });
});
