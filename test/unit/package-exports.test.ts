/**
 * The package's `exports` (docs/library.md): `import { ImageBatch } from 'image-batch'` resolves to the build of
 * src/library/index.ts, with its types, and that entry exports the library class.
 */
import { readFile, stat } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import * as library from '../../src/library/index.js';

describe('package exports', () => {
  it('point at the build of src/library/index.ts, with declarations', async () => {
    const manifest = JSON.parse(await readFile('package.json', 'utf8')) as {
      exports: Record<string, { types: string; default: string }>;
      types: string;
    };
    const entry = manifest.exports['.']!;
    expect(entry.default).toBe('./dist/library/index.js');
    expect(entry.types).toBe('./dist/library/index.d.ts');
    expect(manifest.types).toBe(entry.types);
    // dist/ mirrors src/ (tsconfig.build.json: rootDir src, outDir dist, declaration on).
    const build = JSON.parse(await readFile('tsconfig.build.json', 'utf8')) as {
      compilerOptions: { rootDir: string; outDir: string; declaration: boolean };
    };
    expect(build.compilerOptions).toMatchObject({ rootDir: 'src', outDir: 'dist', declaration: true });
    expect((await stat('src/library/index.ts')).isFile()).toBe(true);
    expect(typeof library.ImageBatch).toBe('function');
    expect(typeof library.loadConfig).toBe('function');
  });
});
