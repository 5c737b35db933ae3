import { describe, expect, it } from 'vitest';
import { defaultWindow, IngestWindow } from '../../src/producer/ingest-window.js';

/** Rows at offsets 10, 20, 30… of a manifest, line = offset / 10 + 1. */
const row = (manifest: number, index: number) => ({
  manifest,
  byteOffset: 10 * (index + 1),
  line: index + 2,
});

describe('ingest window', () => {
  it("a producer's pass adds rows from the cursor while there is room, then only registers, and saves the cursor at the first row left", () => {
    const window = new IngestWindow({ manifest: 0, byteOffset: 0, line: 1 }, 2, 2, false);
    expect([0, 1, 2, 3].map((index) => window.modeOf(row(0, index)))).toEqual([
      'add',
      'add',
      'register',
      'register',
    ]);
    window.manifestEnded(0);
    expect(window.modeOf(row(1, 0))).toBe('register');
    expect(window.position).toEqual({ manifest: 0, byteOffset: 30, line: 4 });
  });

  it('rows behind the cursor are rescued, and the cursor moves on to the next manifest at the end of one', () => {
    const window = new IngestWindow({ manifest: 0, byteOffset: 30, line: 4 }, 5, 2, false);
    expect(window.modeOf(row(0, 0))).toBe('rescue');
    expect(window.modeOf(row(0, 1))).toBe('rescue');
    expect(window.modeOf(row(0, 2))).toBe('add');
    window.manifestEnded(0);
    expect(window.position).toEqual({ manifest: 1, byteOffset: 0, line: 1 });
    expect(window.modeOf(row(1, 0))).toBe('add');
    window.manifestEnded(1);
    expect(window.position).toBeUndefined();
  });

  it('a manifest read out of the cursor order only registers its rows: none is passed over', () => {
    const window = new IngestWindow({ manifest: 0, byteOffset: 0, line: 1 }, 10, 2, false);
    expect(window.modeOf(row(1, 0))).toBe('register');
    window.manifestEnded(1);
    expect(window.modeOf(row(0, 0))).toBe('add');
    window.manifestEnded(0);
    expect(window.position).toEqual({ manifest: 1, byteOffset: 0, line: 1 });
  });

  it('a refill stops at the first row there is no room for', () => {
    const window = new IngestWindow({ manifest: 0, byteOffset: 20, line: 3 }, 1, 1, true);
    expect(window.modeOf(row(0, 1))).toBe('add');
    expect(window.modeOf(row(0, 2))).toBe('stop');
    expect(window.canAddIn(0)).toBe(false);
    expect(window.position).toEqual({ manifest: 0, byteOffset: 30, line: 4 });
  });

  it('the default window is 15 minutes of requests at the rate limits, between the floor and the ceiling', () => {
    expect(defaultWindow([1000, 2000])).toBe(45_000);
    expect(defaultWindow([60])).toBe(10_000);
    expect(defaultWindow([60_000])).toBe(100_000);
    expect(defaultWindow([100, 0])).toBe(100_000);
  });
});
