/**
 * Which rows a batch holds, kept small because it outlives the rows' jobs (issue 27: Redis holds what is in flight,
 * not history). One hash per batch (`row-index`): its field is a row key's {@link rowKeyIdentity} (what two rows must
 * not share: job id and file names up to case), its value where the row came from as `<manifest number>:<line>`,
 * followed by `|<row key>` only when the row key is not its own identity (upper case letters, characters a file name
 * cannot hold). The manifests' numbers live in the batch's meta hash (`manifest:<n>` → path, `manifest-number:<path>`
 * → n). With the outcomes hash (batch-store.ts), that is all a finished row leaves in Redis: re-running the manifest
 * into the batch finds it there and sends nothing.
 */
import type { RedisConnection } from '../shared/redis.js';
import { batchKeys, rowKeyIdentity } from '../shared/keys.js';
import { LuaCommands } from '../shared/lua-commands.js';

/**
 * How an incoming row relates to the batch: not there yet; already enqueued from the same place, and `finished` or
 * not; or a row key clash with another place.
 */
export type RowClassification =
  | { kind: 'new' }
  | { kind: 'present'; finished: boolean }
  /** The row key is the batch's already, from `existingSource` (`manifest:line`). */
  | { kind: 'conflict'; existingSource: string }
  /** Another row key has the same {@link rowKeyIdentity} (job id, file names): this row cannot be told apart. */
  | { kind: 'stem-collision'; otherRowKey: string };

/** A row as the index takes it: its key and `manifest:line`. */
export interface IndexedRow {
  rowKey: string;
  source: string;
}

const SCRIPTS = new LuaCommands(new URL('./lua/', import.meta.url), {
  classifyRows: { file: 'classify-rows.lua', numberOfKeys: 2 },
  registerRows: { file: 'register-rows.lua', numberOfKeys: 2 },
});

/** Split `manifest:line` at its last colon (a Windows path or an S3 URL holds colons too). */
export function splitSource(source: string): { manifest: string; line: string } {
  const colon = source.lastIndexOf(':');
  return { manifest: source.slice(0, colon), line: source.slice(colon + 1) };
}

/** The row indexes of every batch under one key prefix. */
export class RowIndex {
  /** `<batch>\n<manifest>` → the manifest's number in that batch (numbers never change once given). */
  private readonly numbers = new Map<string, number>();

  constructor(
    private readonly redis: RedisConnection,
    private readonly prefix: string,
  ) {}

  /** Classify rows before enqueuing them (reads only, besides numbering a manifest new to the batch). */
  async classify(batchId: string, rows: IndexedRow[]): Promise<RowClassification[]> {
    if (rows.length === 0) return [];
    const keys = batchKeys(this.prefix, batchId);
    const references = await this.references(batchId, rows);
    const reply = (await SCRIPTS.run(
      this.redis,
      'classifyRows',
      keys.rowIndex,
      keys.outcomes,
      ...rows.flatMap((row, index) => [row.rowKey, references[index]!, rowKeyIdentity(row.rowKey)]),
    )) as string[];
    const classifications: RowClassification[] = [];
    for (const value of reply) {
      if (value === '') classifications.push({ kind: 'new' });
      else if (value.startsWith('!'))
        classifications.push({ kind: 'stem-collision', otherRowKey: value.slice(1) });
      else if (value === '=' || value === '~')
        classifications.push({ kind: 'present', finished: value === '=' });
      else classifications.push({ kind: 'conflict', existingSource: await this.sourceOf(batchId, value) });
    }
    return classifications;
  }

  /** Register rows as the batch's (after their jobs were added). @returns how many were new. */
  async register(batchId: string, rows: IndexedRow[]): Promise<number> {
    if (rows.length === 0) return 0;
    const keys = batchKeys(this.prefix, batchId);
    const references = await this.references(batchId, rows);
    return (await SCRIPTS.run(
      this.redis,
      'registerRows',
      keys.rowIndex,
      keys.meta,
      ...rows.flatMap((row, index) => {
        const identity = rowKeyIdentity(row.rowKey);
        return [
          identity,
          identity === row.rowKey ? references[index]! : `${references[index]!}|${row.rowKey}`,
        ];
      }),
    )) as number;
  }

  /** `<manifest number>:<line>` of each row. */
  private async references(batchId: string, rows: IndexedRow[]): Promise<string[]> {
    const references: string[] = [];
    for (const row of rows) {
      const { manifest, line } = splitSource(row.source);
      references.push(`${await this.numberOf(batchId, manifest)}:${line}`);
    }
    return references;
  }

  /** The manifest's number in the batch, given once (two producers racing agree: the first HSETNX wins). */
  private async numberOf(batchId: string, manifest: string): Promise<number> {
    const cacheKey = `${batchId}\n${manifest}`;
    const known = this.numbers.get(cacheKey);
    if (known !== undefined) return known;
    const meta = batchKeys(this.prefix, batchId).meta;
    let number = Number(await this.redis.hget(meta, `manifest-number:${manifest}`));
    if (!Number.isInteger(number) || number < 1) {
      const candidate = await this.redis.hincrby(meta, 'manifests_numbered', 1);
      if ((await this.redis.hsetnx(meta, `manifest-number:${manifest}`, String(candidate))) === 1) {
        await this.redis.hset(meta, `manifest:${candidate}`, manifest);
        number = candidate;
      } else number = Number(await this.redis.hget(meta, `manifest-number:${manifest}`));
    }
    this.numbers.set(cacheKey, number);
    return number;
  }

  /** `manifest:line` of a stored reference. */
  private async sourceOf(batchId: string, reference: string): Promise<string> {
    const { manifest: number, line } = splitSource(reference);
    const manifest = await this.redis.hget(batchKeys(this.prefix, batchId).meta, `manifest:${number}`);
    return `${manifest ?? `manifest #${number}`}:${line}`;
  }
}
