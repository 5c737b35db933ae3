/**
 * Property test of the manifest readers (issue 18): for random manifests mixing valid and broken records, split into
 * chunks at random places, every valid row comes out with its fields and the line it starts on, and every broken
 * record is exactly one problem at its own line — nothing merged, nothing lost.
 *
 * Broken records are the ones a reader can recognise without guessing: a character after a closing quote, a wrong
 * number of fields, a record longer than the limit, invalid UTF-8, a JSONL line that is not one JSON object, and an
 * unclosed quote on the last line (earlier, a later quote could legally close it: that is valid CSV).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readManifestBytes, type ManifestEntry } from '../../src/producer/manifest-reader.js';

const MAX_RECORD_BYTES = 2000;

/** A part of the file: its bytes, and what reading it must give. */
interface Piece {
  bytes: Buffer;
  expect:
    | { kind: 'row'; fields: Record<string, unknown> }
    | { kind: 'problem'; code: string; badByte?: number }
    | 'blank';
}

const character = fc.oneof(
  fc.constantFrom('a', 'b', ' ', '"', ',', '\n', '\r\n', '\r', 'é', '😀', '\t'),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
);
const cell = fc.string({ unit: character, maxLength: 30 });
const plainCell = fc.string({ unit: fc.constantFrom('a', 'b', 'c', '1', ' ', '-'), maxLength: 12 });

function encodeCell(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

const csvPiece = (ending: string): fc.Arbitrary<Piece> =>
  fc.oneof(
    {
      weight: 6,
      arbitrary: fc.tuple(cell, cell, cell).map(([id, prompt, size]) => csvRow(ending, [id, prompt, size])),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(plainCell, plainCell).map(([id, rest]) => ({
        bytes: Buffer.from(`${id},"bad"x${rest},s${ending}`),
        expect: { kind: 'problem' as const, code: 'csv_stray_quote' },
      })),
    },
    {
      weight: 1,
      arbitrary: fc
        .array(cell, { minLength: 1, maxLength: 5 })
        .filter((cells) => cells.length !== 3)
        .map((cells) => ({
          bytes: Buffer.from(`${cells.map(encodeCell).join(',')}${ending}`),
          expect:
            cells.length === 1 && /^[ \t]*$/.test(cells[0]!)
              ? ('blank' as const)
              : { kind: 'problem' as const, code: 'csv_column_count' },
        })),
    },
    {
      weight: 1,
      arbitrary: fc.integer({ min: MAX_RECORD_BYTES, max: 3 * MAX_RECORD_BYTES }).map((length) => ({
        bytes: Buffer.from(`big,${'x'.repeat(length)},s${ending}`),
        expect: { kind: 'problem' as const, code: 'csv_record_too_large' },
      })),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(cell, cell, fc.constantFrom([0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xe2, 0x82]))
        .map(([id, prompt, bad]) => {
          const head = Buffer.from(`${encodeCell(id)},"${prompt.replaceAll('"', '""')}`);
          return {
            bytes: Buffer.concat([head, Buffer.from(bad), Buffer.from(`",s${ending}`)]),
            expect: { kind: 'problem' as const, code: 'invalid_utf8', badByte: head.length },
          };
        }),
    },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom('', ' ', '\t ')
        .map((text) => ({ bytes: Buffer.from(`${text}${ending}`), expect: 'blank' as const })),
    },
  );

function csvRow(ending: string, [id, prompt, size]: string[]): Piece {
  return {
    bytes: Buffer.from(`${[id, prompt, size].map((value) => encodeCell(value!)).join(',')}${ending}`),
    expect: { kind: 'row' as const, fields: { id, prompt, size } },
  };
}

const jsonPiece: fc.Arbitrary<Piece> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.tuple(cell, fc.oneof(cell, fc.integer())).map(([prompt, size]) => ({
      bytes: Buffer.from(`${JSON.stringify({ prompt, size })}\n`),
      expect: { kind: 'row' as const, fields: { prompt, size } },
    })),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom('{"prompt":', '[1,2]', '"text"', 'null', '{"a":1}}').map((text) => ({
      bytes: Buffer.from(`${text}\n`),
      expect: { kind: 'problem' as const, code: 'invalid_json' },
    })),
  },
  {
    weight: 1,
    arbitrary: fc.integer({ min: MAX_RECORD_BYTES, max: 3 * MAX_RECORD_BYTES }).map((length) => ({
      bytes: Buffer.from(`{"prompt":"${'x'.repeat(length)}"}\n`),
      expect: { kind: 'problem' as const, code: 'line_too_large' },
    })),
  },
  {
    weight: 1,
    arbitrary: cell.map((prompt) => {
      const head = Buffer.from(`{"prompt":${JSON.stringify(prompt).slice(0, -1)}`);
      return {
        bytes: Buffer.concat([head, Buffer.from([0xc0, 0x80]), Buffer.from('"}\n')]),
        expect: { kind: 'problem' as const, code: 'invalid_utf8', badByte: head.length },
      };
    }),
  },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom('\n', ' \n', '\r\n')
      .map((text) => ({ bytes: Buffer.from(text), expect: 'blank' as const })),
  },
);

/** What reading the pieces must give, each at the line it starts on. */
function expected(prefix: Buffer, pieces: Piece[]): unknown[] {
  const entries: unknown[] = [];
  let line = 1 + lineBreaks(prefix.toString('latin1'));
  let offset = prefix.length;
  for (const piece of pieces) {
    const want = piece.expect;
    if (want !== 'blank') {
      if (want.kind === 'row') entries.push({ kind: 'row', line, byteOffset: offset, fields: want.fields });
      else
        entries.push(
          expect.objectContaining({
            kind: 'problem',
            line,
            code: want.code,
            isRow: true,
            ...(want.badByte === undefined
              ? {}
              : { message: expect.stringContaining(`byte ${offset + want.badByte} `) }),
          }),
        );
    }
    line += lineBreaks(piece.bytes.toString('latin1'));
    offset += piece.bytes.length;
  }
  return entries;
}

const lineBreaks = (text: string): number => text.match(/\r\n|\r|\n/g)?.length ?? 0;

function* inChunks(bytes: Buffer, cuts: number[]): Generator<Buffer> {
  const positions = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
  let from = 0;
  for (const position of [...positions, bytes.length]) {
    if (position > from) yield bytes.subarray(from, position);
    from = position;
  }
}

async function readAll(chunks: Iterable<Buffer>, format: 'csv' | 'jsonl'): Promise<ManifestEntry[]> {
  const entries: ManifestEntry[] = [];
  for await (const entry of readManifestBytes(toAsync(chunks), format, { maxRecordBytes: MAX_RECORD_BYTES }))
    entries.push(entry);
  return entries;
}

const cuts = fc.array(fc.nat(), { maxLength: 12 });

describe('manifest reader fuzz (issue 18)', () => {
  it('CSV: every valid row is read at its line, every broken record is one problem at its own line', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        fc
          .constantFrom('\n', '\r\n')
          .chain((ending) => fc.tuple(fc.constant(ending), fc.array(csvPiece(ending), { maxLength: 25 }))),
        fc.option(plainCell, { nil: undefined }),
        cuts,
        async (byteOrderMark, [ending, pieces], unclosedLast, cutPoints) => {
          const header = Buffer.from(`${byteOrderMark ? '\uFEFF' : ''}ID, Prompt ,size${ending}`);
          const all = [...pieces];
          if (unclosedLast !== undefined)
            all.push({
              bytes: Buffer.from(`last,"${unclosedLast},s`),
              expect: { kind: 'problem' as const, code: 'csv_unclosed_quote' },
            });
          const file = Buffer.concat([header, ...all.map((piece) => piece.bytes)]);
          expect(await readAll(inChunks(file, cutPoints), 'csv')).toEqual(expected(header, all));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('JSONL: every object line is a row, every other line one problem at its line', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(jsonPiece, { maxLength: 25 }), cuts, async (pieces, cutPoints) => {
        const file = Buffer.concat(pieces.map((piece) => piece.bytes));
        expect(await readAll(inChunks(file, cutPoints), 'jsonl')).toEqual(expected(Buffer.alloc(0), pieces));
      }),
      { numRuns: 300 },
    );
  });
});

async function* toAsync(chunks: Iterable<Buffer>): AsyncGenerator<Buffer> {
  for (const chunk of chunks) yield await Promise.resolve(chunk);
}
