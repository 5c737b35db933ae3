import { describe, expect, it } from 'vitest';
import { formatBytes } from '../../src/cli/progress.js';
import { formatUsd } from '../../src/cli/report.js';

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
