/**
 * The README's one example, run as written: its CSV manifest (with the example image it names beside it), then its
 * `estimate` and `run` commands, against the simulator.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCliInProcess } from '../helpers/cli.js';
import { manifestFolder } from '../helpers/manifests.js';
import { resultLines } from '../helpers/results.js';
import { simulatorSuite } from '../helpers/simulator-suite.js';

const suite = simulatorSuite();

describe("the README's example", () => {
  it('estimates and runs as written', async () => {
    const readme = await readFile('README.md', 'utf8');
    const csv = /```csv\n([\s\S]*?)```/.exec(readme)![1]!;
    const commands = /```sh\n(npx image-batch estimate[\s\S]*?)```/
      .exec(readme)![1]!
      .split('\n')
      .map((line) => line.replace(/#.*$/, '').trim())
      .filter((line) => line.startsWith('npx image-batch') && !line.includes(' dashboard'));
    expect(commands).toHaveLength(2);
    const folder = await manifestFolder();
    await writeFile(path.join(folder, 'rows.csv'), csv);
    const out = path.join(folder, 'output');
    for (const command of commands) {
      const args = command
        .replace(/^npx image-batch /, '')
        .split(/\s+/)
        .map((word) => (word === 'rows.csv' ? path.join(folder, 'rows.csv') : word));
      const result = await runCliInProcess(
        [...args, ...(args[0] === 'run' ? ['--out', out] : [])],
        suite.environment(),
      );
      expect(result.exitCode, `${command}\n${result.stdout}${result.stderr}`).toBe(0);
    }
    const [batch] = (await readdir(out)).filter((name) => !name.startsWith('.'));
    const lines = await resultLines(out, batch!);
    expect(lines.map((line) => `${line.row_key} ${line.status}`).sort()).toEqual([
      'dune-camels completed',
      'lighthouse completed',
    ]);
    expect(['fal', 'oxen']).toContain(lines.find((line) => line.row_key === 'dune-camels')!.provider);
  });
});
