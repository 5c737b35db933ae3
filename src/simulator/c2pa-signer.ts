/**
 * C2PA manifests on the simulator's images, as GPT Image outputs carry them (OpenAI signs its images; a real
 * gpt-image-2 PNG has a `caBX` chunk): a `c2pa.actions.v2` assertion whose `c2pa.created` action names the IPTC
 * `trainedAlgorithmicMedia` digital source type, signed ES256 with a certificate the test makes.
 *
 * Signing uses the Content Authenticity Initiative's SDK (c2pa-rs as WebAssembly). Its WebAssembly signer hands over
 * the claim bytes and takes back a whole COSE_Sign1 (`direct_cose_handling`), so the COSE structure is built here:
 * RFC 9052 §4.2 (Sig_structure "Signature1"), the x5chain header (label 33, RFC 9360) in the protected header as C2PA
 * 2.x asks (https://c2pa.org/specifications/specifications/2.1/specs/C2PA_Specification.html#_cose_sign1), padded to the
 * reserved size with an unprotected `pad` field (as c2pa-rs pads its own signatures).
 *
 * `tamperWithMetadata` stands for a pipeline that writes metadata into a signed file (a PNG tEXt chunk, a JPEG comment):
 * the pixels decode as before, the manifest's data hash no longer matches.
 */
import { createPrivateKey, sign as signBytes, X509Certificate, type KeyObject } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { BytesBlob, c2paSdk } from '../shared/c2pa-runtime.js';
import type { OutputFormat } from '../shared/job-definitions.js';

/** A signing identity: an EC P-256 key and its certificate chain (leaf first), both PEM. */
export interface C2paSigningIdentity {
  certificateChainPem: string;
  privateKeyPem: string;
  /** Claim generator name written in the manifest. Default `image-batch provider simulator`. */
  claimGenerator?: string;
}

/** The IPTC digital source type of images made by a trained model (https://cv.iptc.org/newscodes/digitalsourcetype/). */
export const TRAINED_ALGORITHMIC_MEDIA =
  'http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia';

const MEDIA_TYPES: Record<OutputFormat, string> = {
  png: 'image/png',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
};
const RESERVE_BYTES = 12_000;

type CborValue = null | number | string | Uint8Array | CborValue[] | Map<CborValue, CborValue> | CborTag;
interface CborTag {
  tag: number;
  value: CborValue;
}

function cborHead(major: number, length: number): Buffer {
  if (length < 24) return Buffer.from([(major << 5) | length]);
  if (length < 0x100) return Buffer.from([(major << 5) | 24, length]);
  if (length < 0x10000) return Buffer.from([(major << 5) | 25, length >> 8, length & 0xff]);
  const head = Buffer.alloc(5);
  head[0] = (major << 5) | 26;
  head.writeUInt32BE(length, 1);
  return head;
}

/** Deterministic CBOR (RFC 8949) of the few types COSE needs here. */
function cbor(value: CborValue): Buffer {
  if (value === null) return Buffer.from([0xf6]);
  if (typeof value === 'number') return value >= 0 ? cborHead(0, value) : cborHead(1, -1 - value);
  if (typeof value === 'string') {
    const text = Buffer.from(value, 'utf8');
    return Buffer.concat([cborHead(3, text.length), text]);
  }
  if (value instanceof Uint8Array) return Buffer.concat([cborHead(2, value.length), value]);
  if (Array.isArray(value)) return Buffer.concat([cborHead(4, value.length), ...value.map(cbor)]);
  if (value instanceof Map) {
    const entries = [...value].flatMap(([key, item]) => [cbor(key), cbor(item)]);
    return Buffer.concat([cborHead(5, value.size), ...entries]);
  }
  return Buffer.concat([cborHead(6, value.tag), cbor(value.value)]);
}

/** Signs images with one identity. */
export class C2paImageSigner {
  private readonly key: KeyObject;
  private readonly chain: Buffer[];

  constructor(private readonly identity: C2paSigningIdentity) {
    this.key = createPrivateKey(identity.privateKeyPem);
    this.chain = identity.certificateChainPem
      .split(/(?=-----BEGIN CERTIFICATE-----)/)
      .filter((part) => part.includes('BEGIN CERTIFICATE'))
      .map((pem) => new X509Certificate(pem).raw);
  }

  /** `image` with a signed C2PA manifest embedded. @throws Error from the SDK for a format it cannot sign. */
  async sign(image: Buffer, format: OutputFormat): Promise<Buffer> {
    const sdk = await c2paSdk();
    const definition = {
      claim_generator_info: [
        { name: this.identity.claimGenerator ?? 'image-batch provider simulator', version: '1' },
      ],
      title: `image.${format}`,
      format: MEDIA_TYPES[format],
      assertions: [
        {
          label: 'c2pa.actions.v2',
          data: {
            actions: [
              {
                action: 'c2pa.created',
                digitalSourceType: TRAINED_ALGORITHMIC_MEDIA,
                softwareAgent: { name: 'gpt-image-2' },
              },
            ],
          },
        },
      ],
    };
    const builder = sdk.WasmBuilder.fromJson(JSON.stringify(definition));
    try {
      const signer = {
        alg: 'es256',
        reserveSize: RESERVE_BYTES,
        sign: (claim: Uint8Array) => this.coseSign1(claim),
      };
      const signed = await builder.sign(
        signer,
        null,
        MEDIA_TYPES[format],
        new BytesBlob(image) as unknown as Blob,
      );
      return Buffer.from(signed);
    } finally {
      builder.free();
    }
  }

  /** A COSE_Sign1 (tag 18) over `claim`, detached payload, exactly {@link RESERVE_BYTES} long. */
  private coseSign1(claim: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
    const protectedHeader = cbor(
      new Map<CborValue, CborValue>([
        [1, -7],
        [33, this.chain],
      ]),
    );
    const toBeSigned = cbor(['Signature1', protectedHeader, new Uint8Array(0), claim]);
    const signature = signBytes('sha256', toBeSigned, { key: this.key, dsaEncoding: 'ieee-p1363' });
    const build = (padding: number) =>
      cbor({
        tag: 18,
        value: [protectedHeader, new Map([['pad', new Uint8Array(padding)]]), null, signature],
      });
    let padding = Math.max(0, RESERVE_BYTES - build(0).length);
    while (build(padding).length > RESERVE_BYTES && padding > 0) padding -= 1;
    const bytes = build(padding);
    return Promise.resolve(new Uint8Array(bytes));
  }
}

/** Images of prompts containing this marker get a metadata write after signing: their C2PA manifest no longer matches. */
export const C2PA_TAMPER_MARKER = /\[simulate:c2pa-tampered\]/i;
/** Images of prompts containing this marker are left unsigned although the simulator signs (a host that does not). */
export const C2PA_UNSIGNED_MARKER = /\[simulate:c2pa-unsigned\]/i;

/**
 * `image` as the simulated host delivers it: signed by `signer` (none: unsigned), unless `prompt` asks for an unsigned
 * image, and tampered with after signing when it asks for that.
 */
export async function signedAsTold(
  signer: C2paImageSigner | undefined,
  image: Buffer,
  format: OutputFormat,
  prompt: string,
): Promise<Buffer> {
  if (signer === undefined || C2PA_UNSIGNED_MARKER.test(prompt)) return image;
  const signed = await signer.sign(image, format);
  return C2PA_TAMPER_MARKER.test(prompt) ? tamperWithMetadata(signed, format) : signed;
}

/**
 * `image` after a metadata write (a PNG tEXt chunk before IEND; a JPEG comment after SOI): it decodes as before, and a
 * C2PA manifest it carries no longer matches its bytes. Other formats come back unchanged.
 */
export function tamperWithMetadata(image: Buffer, format: OutputFormat): Buffer {
  const note = Buffer.from('Comment\0edited after signing', 'latin1');
  if (format === 'png') {
    const end = image.lastIndexOf(Buffer.from('IEND', 'latin1')) - 4;
    const chunk = Buffer.alloc(12 + note.length);
    chunk.writeUInt32BE(note.length, 0);
    chunk.write('tEXt', 4, 'latin1');
    note.copy(chunk, 8);
    chunk.writeUInt32BE(crc32(chunk.subarray(4, 8 + note.length)), 8 + note.length);
    return Buffer.concat([image.subarray(0, end), chunk, image.subarray(end)]);
  }
  if (format === 'jpeg') {
    const segment = Buffer.alloc(4 + note.length);
    segment.writeUInt16BE(0xfffe, 0);
    segment.writeUInt16BE(note.length + 2, 2);
    note.copy(segment, 4);
    return Buffer.concat([image.subarray(0, 2), segment, image.subarray(2)]);
  }
  return image;
}
