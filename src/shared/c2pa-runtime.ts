/**
 * The Content Authenticity Initiative's C2PA SDK (c2pa-rs) as WebAssembly — `@contentauth/c2pa-wasm`, installed from
 * the npm registry alone (no binary download at install) — loaded once per process. The reader (src/storage/provenance.ts)
 * and the simulator's signer (src/simulator/c2pa-signer.ts) both use it.
 *
 * The package is built for browsers and web workers: its Blob inputs are read with `FileReaderSync`, which Node has
 * not. Readers here use `WasmReader.fromBytes` (an in-memory cursor, no Blob); the signer passes a {@link BytesBlob},
 * which the minimal `FileReaderSync` below reads. Source: https://github.com/contentauth/c2pa-js,
 * packages/c2pa-wasm/src (the `__wbg_new_…` import calls `new FileReaderSync()`, then `readAsArrayBuffer(blob.slice(…))`).
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';

/** The SDK's classes once loaded. */
export type C2paSdk = typeof import('@contentauth/c2pa-wasm');

let loading: Promise<C2paSdk> | undefined;

/**
 * The C2PA SDK, loaded and its WebAssembly compiled on first use (about 9 MB, some 140 ms, once per process): commands
 * and workers that never meet a C2PA manifest never load it.
 */
export function c2paSdk(): Promise<C2paSdk> {
  loading ??= (async () => {
    const sdk = await import('@contentauth/c2pa-wasm');
    const wasmPath = createRequire(import.meta.url).resolve('@contentauth/c2pa-wasm/c2pa.wasm');
    sdk.initSync({ module: await readFile(wasmPath) });
    installFileReaderSync();
    return sdk;
  })();
  return loading;
}

/**
 * Bytes shaped as the Blob the SDK reads (its `size` and `slice`), synchronously readable through the minimal
 * `FileReaderSync` installed by {@link c2paSdk}.
 */
export class BytesBlob {
  readonly size: number;
  constructor(readonly bytes: Uint8Array) {
    this.size = bytes.length;
  }
  slice(start = 0, end = this.size): BytesBlob {
    return new BytesBlob(this.bytes.subarray(start, end));
  }
}

function installFileReaderSync(): void {
  const global = globalThis as { FileReaderSync?: unknown };
  if (global.FileReaderSync !== undefined) return;
  global.FileReaderSync = class {
    readAsArrayBuffer(blob: unknown): ArrayBuffer {
      if (!(blob instanceof BytesBlob)) throw new TypeError('only BytesBlob inputs are readable here');
      return blob.bytes.slice().buffer;
    }
  };
}
