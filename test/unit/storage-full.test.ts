/** The full-disk policy (issue 26): which errors mean "no room", and how much room a row may need. */
import { describe, expect, it } from 'vitest';
import { isStorageFull, storageFullCode } from '../../src/batch/storage-pause.js';
import { worstCaseBytes } from '../../src/storage/free-space.js';

const systemError = (code: string) => Object.assign(new Error(`${code}: write failed`), { code });

describe('a full disk', () => {
  it('is ENOSPC, EDQUOT or EFBIG, also wrapped as the cause of another error', () => {
    for (const code of ['ENOSPC', 'EDQUOT', 'EFBIG']) {
      expect(isStorageFull(systemError(code))).toBe(true);
      expect(storageFullCode(new Error('could not store the image', { cause: systemError(code) }))).toBe(
        code,
      );
    }
    for (const other of [
      systemError('EACCES'),
      systemError('ENOENT'),
      new Error('plain'),
      'ENOSPC',
      undefined,
    ])
      expect(isStorageFull(other)).toBe(false);
  });

  it('a row may need 4 bytes a pixel of each image, plus 1 MiB', () => {
    const MIB = 1024 * 1024;
    expect(worstCaseBytes({ resolution: '1024x1024', numImages: 1 })).toBe(4 * MIB + MIB);
    expect(worstCaseBytes({ resolution: '1024x1024', numImages: 4 })).toBe(16 * MIB + MIB);
    // Planned as a ratio and tier: the size the tier delivers.
    expect(
      worstCaseBytes({
        resolution: '1024x1024',
        numImages: 1,
        sizePlan: { aspectRatio: '16:9', tier: '4K', expectedSize: '3840x2160' },
      }),
    ).toBe(3840 * 2160 * 4 + MIB);
    // `auto`: the largest fixed size.
    expect(worstCaseBytes({ resolution: 'auto', numImages: 1 })).toBe(1536 * 1024 * 4 + MIB);
  });
});
