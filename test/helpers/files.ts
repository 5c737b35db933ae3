/** Temporary directories for tests, removed afterwards. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const created: string[] = [];

/** A fresh temporary directory. */
export async function temporaryDirectory(): Promise<string> {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'image-batch-test-'));
  created.push(directory);
  return directory;
}

/** Write `content` to `name` inside a fresh temporary directory; returns the file path. */
export async function writeTemporaryFile(name: string, content: string | Buffer): Promise<string> {
  const filePath = path.join(await temporaryDirectory(), name);
  await writeFile(filePath, content);
  return filePath;
}

/** Remove every directory made by this module. */
export async function removeTemporaryDirectories(): Promise<void> {
  await Promise.all(created.splice(0).map((directory) => rm(directory, { recursive: true, force: true })));
}
