/**
 * The batches page as it grows (issue 28): newest first, a page at a time, filtered by state and name, the filter kept
 * by the links; failed rows in their own colour on the progress bar.
 */
import { describe, expect, it } from 'vitest';
import type { BatchStatus } from '../../src/batch/batch-store.js';
import {
  BATCHES_PER_PAGE,
  batchListPage,
  batchListQuery,
  batchListSearch,
} from '../../src/dashboard/batch-list.js';
import { overviewOf } from '../../src/dashboard/dashboard-context.js';
import { batchesPage, batchRow, type BatchOverview } from '../../src/dashboard/pages.js';
import { batchStatus } from '../helpers/batch-status.js';

function overview(id: string, createdAt: string, overrides: Partial<BatchStatus> = {}): BatchOverview {
  return overviewOf(batchStatus({ batchId: id, createdAt, rows: 30, pending: 30, ...overrides }));
}

/** `count` batches `nightly-000`…, one a day from 2026-01-01, every third finished. */
function manyBatches(count: number): BatchOverview[] {
  return Array.from({ length: count }, (_, index) =>
    overview(
      `nightly-${String(index).padStart(3, '0')}`,
      new Date(Date.UTC(2026, 0, 1 + index)).toISOString(),
      index % 3 === 0 ? { state: 'finished', completed: 30, pending: 0 } : {},
    ),
  );
}

describe('the batches list', () => {
  it('shows the newest batches first, a page at a time; a page past the last shows the last', () => {
    const batches = manyBatches(BATCHES_PER_PAGE + 5);
    const first = batchListPage(batches, batchListQuery({}));
    expect(first.batches.map((batch) => batch.id).slice(0, 2)).toEqual(['nightly-029', 'nightly-028']);
    expect(first.batches).toHaveLength(BATCHES_PER_PAGE);
    expect(first.pages).toBe(2);
    const last = batchListPage(batches, batchListQuery({ page: '9' }));
    expect(last.page).toBe(2);
    expect(last.batches.map((batch) => batch.id)).toEqual([
      'nightly-004',
      'nightly-003',
      'nightly-002',
      'nightly-001',
      'nightly-000',
    ]);
  });

  it('filters by state and by a part of the name (letter case ignored), and the links keep the filter', () => {
    const batches = [...manyBatches(30), overview('Hourly-Report', '2026-06-01T00:00:00.000Z')];
    const finished = batchListPage(batches, batchListQuery({ state: 'finished' }));
    expect(finished.matching).toBe(10);
    expect(finished.batches.every((batch) => batch.state === 'finished')).toBe(true);
    const named = batchListPage(batches, batchListQuery({ name: ' hourly ' }));
    expect(named.batches.map((batch) => batch.id)).toEqual(['Hourly-Report']);
    expect(named.states).toEqual(['finished', 'running']);
    const page = batchesPage(batchListPage(batches, batchListQuery({ state: 'running', name: 'nightly' })));
    expect(page).toContain('Page 1 of 1 (20 of 31 batches)');
    expect(page).toContain('<option value="running" selected>');
    expect(batchListSearch({ page: 1, state: 'running', name: 'a b&c' }, 2)).toBe(
      '?state=running&name=a+b%26c&page=2',
    );
  });

  it('takes any URL query without failing, and echoes the name filter escaped', () => {
    for (const query of [{ page: '-3' }, { page: 'x' }, { page: ['1', '2'] }, { state: { $ne: 1 } }])
      expect(batchListQuery(query as Record<string, unknown>)).toMatchObject({ page: 1 });
    const hostile = '"><script>alert(1)</script>';
    const page = batchesPage(batchListPage(manyBatches(3), batchListQuery({ name: hostile })));
    expect(page).not.toContain('<script>alert(1)');
    expect(page).toContain('No batch matches the filter.');
    expect(batchListQuery({ name: 'n'.repeat(5000) }).name).toHaveLength(100);
  });

  it('a batch whose rows mostly failed shows them in the failed colour, not a full green bar', () => {
    const row = batchRow(overview('b', '2026-01-01T00:00:00.000Z', { completed: 2, failed: 28, pending: 0 }));
    expect(row).toContain('class="completed-part" style="width:6.7%"');
    expect(row).toContain('class="failed-part" style="width:93.3%"');
    expect(row).toContain('title="2 completed, 28 failed"');
  });
});
