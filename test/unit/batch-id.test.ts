/** Batch ids a user gives (src/producer/batch-id.ts): what is accepted, and the ids the dashboard's own paths take. */
import { describe, expect, it } from 'vitest';
import { checkBatchId, checkNewBatchId, RESERVED_BATCH_IDS } from '../../src/producer/batch-id.js';

describe('batch ids', () => {
  it('accepts letters, digits and _ - . + up to 80 characters, not starting with a dot', () => {
    for (const id of ['catalogue-2026', 'a', 'x.y+z_1', 'r'.repeat(80)]) expect(checkBatchId(id)).toBe(id);
    for (const id of ['', '.hidden', 'a/b', 'a b', 'r'.repeat(81), '../up'])
      expect(() => checkBatchId(id), id).toThrow(/invalid batch id/);
  });

  it('refuses a new batch named like the dashboard’s own paths, and only those', () => {
    expect([...RESERVED_BATCH_IDS].sort()).toEqual(['new', 'rows']);
    for (const id of RESERVED_BATCH_IDS) {
      expect(() => checkNewBatchId(id)).toThrow(`batch id "${id}" is reserved`);
      // An existing batch of that name can still be read (status, report).
      expect(checkBatchId(id)).toBe(id);
    }
    for (const id of ['news', 'rows-1', 'New', 'renew']) expect(checkNewBatchId(id)).toBe(id);
    expect(() => checkNewBatchId('.new')).toThrow(/invalid batch id/);
  });
});
