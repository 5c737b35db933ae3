import { describe, expect, it } from 'vitest';
import { overviewOf } from '../../src/dashboard/dashboard-context.js';
import { batchCards, batchRow } from '../../src/dashboard/pages.js';
import { batchStatus } from '../helpers/batch-status.js';

const status = batchStatus;

describe('batch overview', () => {
  it('a running batch: rate since it was created, ETA at that rate', () => {
    const overview = overviewOf(
      status({ completed: 30, failed: 10, pending: 60 }),
      Date.parse('2026-11-30T10:10:00.000Z'),
    );
    expect(overview.rowsPerMinute).toBe(4);
    expect(overview.etaSeconds).toBe(15 * 60);
    expect(overview.finishedAt).toBeNull();
    expect(batchRow(overview)).toContain('<td class="eta">15 min</td>');
  });

  it('a finished batch: the rate while it ran and when it finished, not "ETA 0 s" and a rate that keeps falling', () => {
    const finished = status({
      completed: 90,
      failed: 10,
      pending: 0,
      state: 'finished',
      lastOutcomeAt: '2026-11-30T10:20:00.000Z',
    });
    const dayLater = overviewOf(finished, Date.parse('2026-12-01T10:00:00.000Z'));
    expect(dayLater.rowsPerMinute).toBe(5);
    expect(dayLater.etaSeconds).toBeNull();
    expect(dayLater.finishedAt).toBe('2026-11-30T10:20:00.000Z');
    expect(batchRow(dayLater)).toContain('<td class="eta">finished 2026-11-30 10:20 UTC</td>');
    expect(batchCards(dayLater)).toContain('Finished<b>2026-11-30 10:20 UTC</b>');
    expect(batchCards(dayLater)).not.toContain('ETA');
  });
});
