/**
 * A batch's output in a local (or network-mounted) directory, laid out by batchPaths (./output-layout.ts): images
 * written to a staging name and renamed into place, results lines appended to results.jsonl.
 */
import { createReadStream, type Dirent } from 'node:fs';
import {
  appendFile,
  copyFile,
  link,
  mkdir,
  readdir,
  readFile,
  realpath,
  rename,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { createInterface } from 'node:readline';
import { batchPaths, resolveInside } from './output-layout.js';
import {
  RESULTS_FILE,
  stagingSuffix,
  writeLinesNotPresent,
  type OutputStore,
  type PendingResultLine,
  type StoredObject,
} from './output-store.js';

/** A batch's output in a local (or network-mounted) directory. */
export class LocalOutputStore implements OutputStore {
  /** Directories known to exist: one mkdir per directory and process, not one per file. */
  private readonly madeDirectories = new Set<string>();

  constructor(readonly root: string) {}

  private async makeDirectory(directory: string): Promise<void> {
    if (this.madeDirectories.has(directory)) return;
    await mkdir(directory, { recursive: true });
    this.madeDirectories.add(directory);
  }

  batchLocation(batchId: string): string {
    return batchPaths(this.root, batchId).directory;
  }

  private fileOf(batchId: string, relativePath: string): string {
    return resolveInside(this.batchLocation(batchId), relativePath);
  }

  localPath(batchId: string, relativePath: string): string {
    return this.fileOf(batchId, relativePath);
  }

  async removeStaleStaging(batchId: string, relativePath: string, olderThanMs: number): Promise<number> {
    const target = this.fileOf(batchId, relativePath);
    const directory = path.dirname(target);
    const stem = `${path.basename(target)}.`;
    let names: string[];
    try {
      names = await readdir(directory);
    } catch {
      return 0;
    }
    let removed = 0;
    for (const name of names) {
      if (!name.startsWith(stem) || !name.endsWith('.part')) continue;
      const file = path.join(directory, name);
      const info = await stat(file).catch(() => undefined);
      if (info === undefined || Date.now() - info.mtimeMs < olderThanMs) continue;
      await rm(file, { force: true });
      removed += 1;
    }
    return removed;
  }

  async stagingPath(batchId: string, relativePath: string): Promise<string> {
    const target = this.fileOf(batchId, relativePath);
    await this.makeDirectory(path.dirname(target));
    return `${target}.${stagingSuffix()}`;
  }

  async putFile(batchId: string, relativePath: string, stagedFile: string): Promise<void> {
    await rename(stagedFile, this.fileOf(batchId, relativePath));
  }

  async appendFile(batchId: string, relativePath: string, stagedFile: string): Promise<void> {
    const target = this.fileOf(batchId, relativePath);
    await mkdir(path.dirname(target), { recursive: true });
    await appendFile(target, await readFile(stagedFile));
    await rm(stagedFile, { force: true });
  }

  async writeText(batchId: string, relativePath: string, text: string): Promise<void> {
    const staged = await this.stagingPath(batchId, relativePath);
    await writeFile(staged, text);
    await this.putFile(batchId, relativePath, staged);
  }

  async writeResultLine(batchId: string, line: PendingResultLine): Promise<void> {
    const file = this.fileOf(batchId, RESULTS_FILE);
    await this.makeDirectory(path.dirname(file));
    // One write of a whole line with O_APPEND: lines of concurrent writers never interleave.
    await appendFile(file, `${line.text}\n`, { flag: 'a' });
  }

  async writeMissingResultLines(batchId: string, lines: PendingResultLine[]): Promise<number> {
    const present = new Set<string>();
    for await (const text of this.resultLines(batchId)) {
      const key = (JSON.parse(text) as { row_key?: string }).row_key;
      if (key !== undefined) present.add(key);
    }
    return writeLinesNotPresent(this, batchId, lines, (rowKey) => present.has(rowKey));
  }

  async removeResultLines(
    batchId: string,
    rowKeys: Set<string>,
    drop: (text: string) => boolean,
  ): Promise<void> {
    const kept: string[] = [];
    for await (const text of this.resultLines(batchId)) {
      const key = (JSON.parse(text) as { row_key?: string }).row_key;
      if (!(key !== undefined && rowKeys.has(key) && drop(text))) kept.push(text);
    }
    await this.writeText(batchId, RESULTS_FILE, kept.length === 0 ? '' : `${kept.join('\n')}\n`);
  }

  async *resultLines(batchId: string): AsyncIterable<string> {
    const input = await this.read(batchId, RESULTS_FILE);
    if (input === undefined) return;
    for await (const text of createInterface({ input, crlfDelay: Infinity })) {
      if (text.trim() !== '') yield text;
    }
  }

  /**
   * A stream of a batch's file, or undefined when there is none — or when its real path (symbolic links followed)
   * lies outside the batch's own directory: a link planted in the output never serves `/etc/passwd`.
   */
  async read(batchId: string, relativePath: string): Promise<Readable | undefined> {
    const file = this.fileOf(batchId, relativePath);
    try {
      const [real, realRoot] = await Promise.all([realpath(file), realpath(this.batchLocation(batchId))]);
      if (!real.startsWith(realRoot + path.sep)) return undefined;
      if (!(await stat(real)).isFile()) return undefined;
      return createReadStream(real);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // No such file, or a name no file can have (a path part longer than the file system allows): none there.
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP' || code === 'ENAMETOOLONG')
        return undefined;
      throw error;
    }
  }

  async *list(batchId: string): AsyncIterable<StoredObject> {
    const directory = this.batchLocation(batchId);
    let entries: string[];
    try {
      entries = await readdir(directory, { recursive: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    for (const entry of entries.sort()) {
      const relative = entry.split(path.sep).join('/');
      if (relative.split('/').some((part) => part.startsWith('.')) || relative.endsWith('.part')) continue;
      const info = await stat(path.join(directory, entry));
      if (info.isFile()) yield { path: relative, bytes: info.size };
    }
  }

  cacheDirectory(batchId: string): string {
    return path.join(this.batchLocation(batchId), '.thumbnails');
  }

  async *batchFolders(): AsyncIterable<string> {
    let entries: Dirent[];
    try {
      entries = await readdir(path.resolve(this.root), { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    for (const entry of entries) if (entry.isDirectory() && !entry.name.startsWith('.')) yield entry.name;
  }

  async copyImage(
    sourceFolder: string,
    sourcePath: string,
    batchId: string,
    relativePath: string,
  ): Promise<boolean> {
    const sourceDirectory = batchPaths(this.root, sourceFolder).directory;
    let real: string;
    try {
      real = await realpath(resolveInside(sourceDirectory, sourcePath));
      if (!real.startsWith((await realpath(sourceDirectory)) + path.sep)) return false;
    } catch {
      return false;
    }
    const staged = await this.stagingPath(batchId, relativePath);
    try {
      await link(real, staged);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return false;
      await copyFile(real, staged); // another file system, or links not allowed
    }
    await this.putFile(batchId, relativePath, staged);
    return true;
  }
}
