/**
 * Test manifests written to a temporary folder, with copies of the example input images beside them.
 */
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { temporaryDirectory } from './files.js';

/** A folder holding `images/<name>` copies of jobs/images, for manifests that reference images by relative path. */
export async function manifestFolder(): Promise<string> {
  const directory = await temporaryDirectory();
  await mkdir(path.join(directory, 'images'));
  for (const name of ['ladybird.jpg', 'dune.jpg', 'storm.jpg', 'garden.jpg', 'garden-sky-mask.png']) {
    await copyFile(path.resolve('jobs/images', name), path.join(directory, 'images', name));
  }
  return directory;
}

/** Write a manifest file in `directory`; returns its path. */
export async function writeManifest(directory: string, name: string, lines: string[]): Promise<string> {
  const filePath = path.join(directory, name);
  await writeFile(filePath, `${lines.join('\n')}\n`);
  return filePath;
}

/** One JSONL line. */
export function jsonLine(fields: Record<string, unknown>): string {
  return JSON.stringify(fields);
}

/** A JSONL manifest of `rows` low-quality rows of `provider`, ids and prompts `<tag>-<n>` / `<tag> <n>`. */
export async function providerManifest(tag: string, rows: number, provider: string): Promise<string> {
  return writeManifest(
    await manifestFolder(),
    `${tag}.jsonl`,
    Array.from({ length: rows }, (_, index) =>
      jsonLine({ id: `${tag}-${index}`, provider, prompt: `${tag} ${index}`, quality: 'low' }),
    ),
  );
}

/**
 * A JSONL manifest `<name>.jsonl` of `count` rows per provider (row keys `<provider>-<n>`, unique prompts
 * `<name> <provider> #<n>`), by default half synchronous (OpenAI), half queued (fal.ai).
 */
export async function rowsPerProviderManifest(
  name: string,
  count: number,
  providers: readonly string[] = ['openai', 'fal'],
): Promise<string> {
  const lines = providers.flatMap((provider) =>
    Array.from({ length: count }, (_, index) =>
      jsonLine({
        id: `${provider}-${index}`,
        provider,
        prompt: `${name} ${provider} #${index}`,
        resolution: '1024x1024',
      }),
    ),
  );
  return writeManifest(await manifestFolder(), `${name}.jsonl`, lines);
}
