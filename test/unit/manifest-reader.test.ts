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
      { kind: 'row', line: 2, byteOffset: 23, fields: { id: '1', prompt: 'a cat', resolution: '1024x1024' } },
      {
        kind: 'row',
        line: 4,
        byteOffset: 42,
        fields: { id: '2', prompt: 'a dog, running', resolution: '1920x1080' },
      },
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

  it('reports an unclosed quote at its own line and reads every later row', async () => {
    const entries = await read('quote.csv', 'id,prompt\n1,fine\n2,"never closed\n3,kept\n4,kept too\n');
    expect(rows(entries).map((entry) => entry.line)).toEqual([2, 4, 5]);
    expect(problems(entries)).toEqual([
      expect.objectContaining({ line: 3, code: 'csv_unclosed_quote', isRow: true }),
    ]);
  });

  it('makes a stray quote one reject at its line in a 20,000-row file (issue 18.1)', async () => {
    const lines = ['id,prompt'];
    for (let index = 1; index <= 20_000; index += 1)
      lines.push(index === 4 ? 'l4,"bad"x' : `${index},p${index}`);
    const entries = await read('stray-big.csv', `${lines.join('\n')}\n`);
    expect(rows(entries)).toHaveLength(19_999);
    expect(problems(entries)).toEqual([expect.objectContaining({ line: 5, code: 'csv_stray_quote' })]);
    expect(rows(entries).at(-1)).toMatchObject({ line: 20_001, fields: { id: '20000' } });
  });

  it('rejects a 2 MB row at line 2 and reads the 5 rows after it (issue 18.1)', async () => {
    const valid = [1, 2, 3, 4, 5].map((index) => `${index},p${index}`).join('\n');
    const entries = await read('huge.csv', `id,prompt\nbig,${'x'.repeat(2_000_000)}\n${valid}\n`);
    expect(rows(entries).map((entry) => entry.line)).toEqual([3, 4, 5, 6, 7]);
    expect(problems(entries)).toEqual([expect.objectContaining({ line: 2, code: 'csv_record_too_large' })]);
  });

  it('counts a CRLF inside a quoted field as one line (issue 18.3)', async () => {
    const entries = await read(
      'crlf-quoted.csv',
      'id,prompt\r\n1,"two\r\nlines"\r\n2,b\r\n3,"x"y\r\n4,d\r\n',
    );
    expect(rows(entries).map((entry) => [entry.line, entry.kind === 'row' && entry.fields.prompt])).toEqual([
      [2, 'two\r\nlines'],
      [4, 'b'],
      [6, 'd'],
    ]);
    expect(problems(entries)).toEqual([expect.objectContaining({ line: 5, code: 'csv_stray_quote' })]);
  });

  it('rejects invalid UTF-8 naming the byte offset, and keeps what the user wrote (issue 18.4)', async () => {
    const head = Buffer.from('id,prompt\n1,  spaced prompt \n2,caf');
    const content = Buffer.concat([head, Buffer.from([0xe9]), Buffer.from('\n3,ok\n')]);
    const entries = await read('latin1.csv', content);
    expect(rows(entries).map((entry) => entry.kind === 'row' && entry.fields.prompt)).toEqual([
      '  spaced prompt ',
      'ok',
    ]);
    expect(problems(entries)).toEqual([
      expect.objectContaining({
        line: 3,
        code: 'invalid_utf8',
        message: expect.stringContaining(`byte ${head.length}`),
      }),
    ]);
  });

  it('keeps a quote inside an unquoted field as written', async () => {
    const entries = await read('inner.csv', 'id,prompt\n1,a "quoted" word\n');
    expect(rows(entries)).toEqual([
      { kind: 'row', line: 2, byteOffset: 10, fields: { id: '1', prompt: 'a "quoted" word' } },
    ]);
  });

  it('says how many lines were not read when the header cannot be', async () => {
    const content = Buffer.concat([
      Buffer.from('id,pr'),
      Buffer.from([0xff]),
      Buffer.from('ompt\n1,a\n2,b\n'),
    ]);
    expect(await read('bad-header.csv', content)).toEqual([
      expect.objectContaining({
        line: 1,
        code: 'unreadable_header',
        isRow: false,
        message: expect.stringMatching(/lines 2-3 were not read/),
      }),
    ]);
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

describe('manifests saved by a spreadsheet', () => {
  it('names the separator of a semicolon or tab file instead of rejecting every row', async () => {
    for (const [name, separator, shown] of [
      ['semicolon.csv', ';', '";"'],
      ['tabs.csv', '\t', 'tabs'],
    ] as const) {
      const content = `id${separator}prompt\n1${separator}a\n2${separator}b\n`;
      expect(await read(name, content)).toEqual([
        expect.objectContaining({
          line: 1,
          code: 'csv_delimiter',
          isRow: false,
          message: expect.stringContaining(`seems to use ${shown}; lines 2-3 were not read`),
        }),
      ]);
    }
  });

  it('says a UTF-16 file must be saved as UTF-8', async () => {
    const content = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('id,prompt\n1,a\n', 'utf16le')]);
    for (const name of ['utf16.csv', 'utf16.jsonl'])
      expect(await read(name, content)).toEqual([
        expect.objectContaining({
          code: 'unsupported_encoding',
          isRow: false,
          message: expect.stringMatching(/UTF-16.*UTF-8/),
        }),
      ]);
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

  it('rejects a line of invalid UTF-8 with its byte offset and reads on', async () => {
    const content = Buffer.concat([
      Buffer.from('{"prompt":"a"}\n{"prompt":"'),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('"}\n{"prompt":" b "}\n'),
    ]);
    const entries = await read('utf8.jsonl', content);
    expect(rows(entries).map((entry) => entry.kind === 'row' && entry.fields.prompt)).toEqual(['a', ' b ']);
    expect(problems(entries)).toEqual([
      expect.objectContaining({
        line: 2,
        code: 'invalid_utf8',
        message: expect.stringContaining('byte 26 '),
      }),
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

describe('resuming at a row (a manifest cursor)', () => {
  /** Every row read from the start, and the rows read when resuming at each of them, which must be the same tail. */
  async function expectResumable(name: string, content: string | Buffer): Promise<void> {
    const file = await writeTemporaryFile(name, content);
    const all: ManifestEntry[] = [];
    for await (const entry of readManifest(file)) all.push(entry);
    const allRows = rows(all);
    expect(allRows.length).toBeGreaterThan(2);
    for (const [index, row] of allRows.entries()) {
      if (row.kind !== 'row') continue;
      const resumed: ManifestEntry[] = [];
      for await (const entry of readManifest(file, {
        resumeAt: { byteOffset: row.byteOffset, line: row.line },
      }))
        resumed.push(entry);
      expect(rows(resumed)).toEqual(allRows.slice(index));
    }
  }

  it('CSV: the header is read from the start, quoted line breaks, CRLF and a byte order mark keep lines and offsets', async () => {
    await expectResumable(
      'resume.csv',
      '\uFEFFid,prompt\r\n1,"two\r\nlines"\r\n2,plain\r\n\r\n3,"a ""quoted"" word"\r\n4,é accents\r\n',
    );
  });

  it('JSONL: blank lines and multi-byte characters keep lines and offsets', async () => {
    await expectResumable(
      'resume.jsonl',
      '{"prompt":"ü one"}\n\n{"prompt":"two"}\r\n{"prompt":"三"}\n{"prompt":"four"}',
    );
  });
});
