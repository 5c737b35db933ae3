import { Writable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { formatBytes, startProgress } from '../../src/cli/progress.js';
import { formatUsd } from '../../src/cost/usd.js';

describe('CLI number formats', () => {
  it.each([
    [0, '$0.00'],
    [0.23, '$0.23'],
    [4.93, '$4.93'],
    [0.0053, '$0.0053'],
    [12, '$12.00'],
  ])('formats %s USD as %s', (usd, text) => {
    expect(formatUsd(usd)).toBe(text);
  });

  it.each([
    [512, '512 B'],
    [3 * 1024 + 100, '3.1 KiB'],
    [12 * 1024 * 1024, '12.0 MiB'],
    [1.5 * 1024 ** 3, '1.5 GiB'],
  ])('formats %s bytes as %s', (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });
});

describe('progress without a terminal', () => {
  it('prints plain lines, and the final figure once however often it is stopped', () => {
    vi.useFakeTimers();
    try {
      let text = '';
      const stdout = Object.assign(
        new Writable({ write: (chunk, _encoding, done) => ((text += String(chunk)), done()) }),
        {
          isTTY: false,
        },
      );
      const progress = startProgress({ stdout, stderr: stdout }, 'Processing', 30, 'rows');
      progress.update(10);
      vi.advanceTimersByTime(6_000);
      progress.update(30);
      progress.stop();
      progress.stop();
      expect(text.trim().split('\n')).toEqual(['Processing: 30/30 rows (100%)']);
    } finally {
      vi.useRealTimers();
    }
  });
});
