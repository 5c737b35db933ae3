/** The autoscaling policy (src/batch/autoscaling.ts): how many workers a host's queued work could use now. */
import { describe, expect, it } from 'vitest';
import { wantedWorkersOf } from '../../src/batch/autoscaling.js';

const idle = { ready: 0, active: 0, delayed: 0, parked: 0, concurrency: 64, workers: 0, slots: 0 };

describe('wanted workers of a host', () => {
  it('is 0 when nothing waits or runs', () => {
    expect(wantedWorkersOf(idle)).toBe(0);
  });

  it('fills the host concurrency with workers of the slots the running ones offer', () => {
    // 64 slots across all workers, each worker offering 8: 100 ready rows want 8 workers.
    expect(wantedWorkersOf({ ...idle, ready: 100, workers: 2, slots: 16 })).toBe(8);
    // 20 ready and 4 running fill 24 slots: 3 workers.
    expect(wantedWorkersOf({ ...idle, ready: 20, active: 4, workers: 1, slots: 8 })).toBe(3);
  });

  it('counts a worker of default concurrency as taking every slot, when none runs yet', () => {
    expect(wantedWorkersOf({ ...idle, ready: 500 })).toBe(1);
  });

  it('wants only the one worker that waits when a limit holds the host back', () => {
    for (const heldBy of ['paused', 'retry-after', 'rate limit'] as const)
      expect(wantedWorkersOf({ ...idle, ready: 500, active: 2, workers: 1, slots: 2, heldBy })).toBe(1);
  });

  it('keeps one worker for delayed jobs and parked requests alone', () => {
    expect(wantedWorkersOf({ ...idle, delayed: 3, workers: 4, slots: 32 })).toBe(1);
    expect(wantedWorkersOf({ ...idle, parked: 5000, workers: 4, slots: 32 })).toBe(1);
  });
});
