import { afterAll, describe, expect, it } from 'vitest';
import { readManifest, type ManifestEntry } from '../../src/producer/manifest-reader.js';
import { removeTemporaryDirectories, writeTemporaryFile } from '../helpers/files.js';

async function read(name: string, content: string | Buffer): Promise<ManifestEntry[]> {
  const entries: ManifestEntry[] = [];
  for await (const entry of readManifest(await writeTemporaryFile(name, content))) entries.push(entry);
  return entries;
}

const rows = (entries: ManifestEntry[]) => entries.filter((entry) => entry.kind === 'row');
const problems = (entries: ManifestEntry[]) => entries.filter((entry) => entry.kind === 'problem');

afterAll(removeTemporaryDirectories);

describe('CSV manifests', () => {
  it('reads rows with their line numbers and lower-cased, trimmed column names', async () => {
    const entries = await read(
      'a.csv',
      'ID, Prompt ,resolution\n1,a cat,1024x1024\n\n2,"a dog, running",1920x1080\n',
    );
    expect(rows(entries)).toEqual([
      { kind: 'row', line: 2, fields: { id: '1', prompt: 'a cat', resolution: '1024x1024' } },
      { kind: 'row', line: 4, fields: { id: '2', prompt: 'a dog, running', resolution: '1920x1080' } },
    ]);
    expect(problems(entries)).toEqual([]);
  });

  it('strips a byte order mark and reads CRLF line endings', async () => {
    const entries = await read(
      'bom.csv',
      '\uFEFFprompt,resolution\r\nfirst,1024x1024\r\nsecond,1024x768\r\n',
    );
    expect(rows(entries).map((entry) => entry.kind === 'row' && entry.fields)).toEqual([
      { prompt: 'first', resolution: '1024x1024' },
      { prompt: 'second', resolution: '1024x768' },
    ]);
  });

  it('reports a row with the wrong number of fields and keeps reading', async () => {
    const entries = await read('count.csv', 'id,prompt\n1,a,extra\n2,b\n3\n4,d\n');
    expect(rows(entries).map((entry) => entry.line)).toEqual([3, 5]);
    expect(problems(entries)).toEqual([
      expect.objectContaining({ line: 2, code: 'csv_column_count' }),
      expect.objectContaining({ line: 4, code: 'csv_column_count' }),
    ]);
  });

  it('reports an unclosed quote, saying the rest of the file was not read', async () => {
    const entries = await read('quote.csv', 'id,prompt\n1,fine\n2,"never closed\n3,lost\n');
    expect(rows(entries).map((entry) => entry.line)).toEqual([2]);
    const [problem] = problems(entries);
    expect(problem).toMatchObject({ code: 'csv_unclosed_quote' });
    expect(problem?.kind === 'problem' && problem.message).toMatch(/not read/);
  });

  it('reports a stray quote inside a field', async () => {
    const entries = await read('stray.csv', 'id,prompt\n1,a "quoted" word\n2,"x"y\n3,ok\n');
    expect(
      problems(entries).some((entry) => entry.kind === 'problem' && entry.code === 'csv_stray_quote'),
    ).toBe(true);
  });

  it('rejects a header that names a column twice', async () => {
    const entries = await read('dup.csv', 'prompt,prompt\na,b\n');
    expect(rows(entries)).toEqual([]);
    expect(problems(entries)).toEqual([expect.objectContaining({ line: 1, code: 'duplicate_column' })]);
  });

  it('yields nothing for an empty file', async () => {
    expect(await read('empty.csv', '')).toEqual([]);
  });
});

describe('JSONL manifests', () => {
  it('reads objects, skips blank lines, and reports bad lines with their numbers', async () => {
    const entries = await read(
      'a.jsonl',
      '{"prompt":"one"}\n\n{"prompt": "two"\n[1,2]\n"text"\n{"prompt":"three"}',
    );
    expect(rows(entries).map((entry) => entry.line)).toEqual([1, 6]);
    expect(problems(entries)).toEqual([
      expect.objectContaining({ line: 3, code: 'invalid_json', isRow: true }),
      expect.objectContaining({
        line: 4,
        code: 'invalid_json',
        message: expect.stringMatching(/JSON object/),
        isRow: true,
      }),
      expect.objectContaining({ line: 5, code: 'invalid_json', isRow: true }),
    ]);
  });

  it('reads CRLF lines and a byte order mark', async () => {
    const entries = await read('crlf.jsonl', '\uFEFF{"prompt":"a"}\r\n{"prompt":"b"}\r\n');
    expect(rows(entries).map((entry) => entry.kind === 'row' && entry.fields.prompt)).toEqual(['a', 'b']);
  });
});

describe('any manifest', () => {
  it('reports an unknown extension', async () => {
    expect(await read('rows.txt', 'prompt\na\n')).toEqual([
      expect.objectContaining({ kind: 'problem', line: 0, code: 'unsupported_manifest', isRow: false }),
    ]);
  });

  it('reports a file that does not exist', async () => {
    const entries: ManifestEntry[] = [];
    for await (const entry of readManifest('/nonexistent/manifest.csv')) entries.push(entry);
    expect(entries).toEqual([expect.objectContaining({ kind: 'problem', code: 'unreadable_manifest' })]);
  });
});
