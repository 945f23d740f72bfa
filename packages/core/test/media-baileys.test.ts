/**
 * Media interop with a real peer, baileys@7.0.0-rc14 (its own media functions, unmodified):
 * blobs Parley encrypts download and decrypt through Baileys' `downloadContentFromMessage`
 * (served over HTTP on 127.0.0.1, since that is how it fetches), and blobs Baileys'
 * `encryptedStream` makes decrypt with Parley — every media type and alias, the empty file and
 * sizes around the AES block and Baileys' chunking.
 *
 * Baileys' download checks neither the MAC nor the hashes (measured below: it decrypts a blob
 * with a flipped MAC byte), so each Parley blob is also checked against Baileys' own key
 * expansion (`getMediaKeys`): the MAC over IV ‖ ciphertext and fileEncSha256 recomputed here.
 */
import { createHash, createHmac } from 'node:crypto';
import { readFile, unlink } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import {
  type MediaType as BaileysMediaType,
  downloadContentFromMessage,
  encryptedStream,
  getMediaKeys,
} from 'baileys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { concatBytes } from '../src/bytes.js';
import { createNodeCrypto } from '../src/crypto/node.js';
import { createPortableCrypto } from '../src/crypto/portable.js';
import { isParleyError } from '../src/errors.js';
import {
  decryptMedia,
  decryptMediaStream,
  encryptMedia,
  MEDIA_TYPES,
  type MediaType,
} from '../src/media/index.js';

const crypto = createNodeCrypto();
/** Sizes around the AES block, Baileys' stream chunks (64 KiB reads) and the empty file. */
const SIZES = [0, 1, 15, 16, 17, 31, 32, 33, 65_535, 65_536, 65_537, 200_003];

function bytesOf(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
}

async function drain(stream: Readable): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const chunk of stream) parts.push(chunk as Uint8Array);
  return concatBytes(...parts);
}

// ── A blob host on 127.0.0.1 ─────────────────────────────────────────────────────────

const blobs = new Map<string, Uint8Array>();
let server: Server;
let origin = '';

beforeAll(async () => {
  server = createServer((request, response) => {
    const blob = blobs.get(request.url ?? '');
    if (blob === undefined) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': blob.length });
    response.end(Buffer.from(blob));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

let served = 0;
function host(blob: Uint8Array): string {
  served += 1;
  const path = `/m/${served}.enc`;
  blobs.set(path, blob);
  return `${origin}${path}`;
}

async function baileysDownload(blob: Uint8Array, mediaKey: Uint8Array, type: MediaType): Promise<Uint8Array> {
  const stream = await downloadContentFromMessage({ mediaKey, url: host(blob) }, type as BaileysMediaType);
  return drain(stream);
}

// ── Tests ────────────────────────────────────────────────────────────────────────────

describe('Parley → Baileys: Baileys downloads and decrypts what Parley encrypts', () => {
  it.each(MEDIA_TYPES)('%s at every size', async (type) => {
    for (const size of SIZES) {
      const plaintext = bytesOf(size, size + type.length);
      const { blob, media } = encryptMedia(plaintext, { type, crypto });
      const decrypted = await baileysDownload(blob, media.mediaKey, type);
      expect(same(decrypted, plaintext), `${type} ${size} bytes`).toBe(true);

      // What Baileys' download does not check, recomputed from Baileys' own key expansion.
      const keys = await getMediaKeys(media.mediaKey, type as BaileysMediaType);
      const ciphertext = blob.subarray(0, blob.length - 10);
      const mac = createHmac('sha256', keys.macKey!)
        .update(keys.iv)
        .update(ciphertext)
        .digest()
        .subarray(0, 10);
      expect(same(mac, blob.subarray(blob.length - 10))).toBe(true);
      expect(same(createHash('sha256').update(blob).digest(), media.fileEncSha256)).toBe(true);
      expect(same(createHash('sha256').update(decrypted).digest(), media.fileSha256)).toBe(true);
    }
  });

  it('the portable provider produces blobs Baileys reads too', async () => {
    const plaintext = bytesOf(70_001, 3);
    const { blob, media } = encryptMedia(plaintext, { type: 'ptt', crypto: createPortableCrypto() });
    expect(same(await baileysDownload(blob, media.mediaKey, 'ptt'), plaintext)).toBe(true);
  });
});

describe('Baileys → Parley: Parley decrypts what Baileys encrypts', () => {
  async function baileysEncrypt(plaintext: Uint8Array, type: MediaType) {
    const result = await encryptedStream(Buffer.from(plaintext), type as BaileysMediaType);
    try {
      return { ...result, blob: new Uint8Array(await readFile(result.encFilePath)) };
    } finally {
      await unlink(result.encFilePath);
    }
  }

  it.each(MEDIA_TYPES)('%s at every size, one-shot and streamed', async (type) => {
    for (const size of SIZES) {
      const plaintext = bytesOf(size, size * 7 + 1);
      const made = await baileysEncrypt(plaintext, type);
      expect(made.fileLength).toBe(size);
      const pointer = {
        type,
        mediaKey: made.mediaKey,
        fileSha256: made.fileSha256,
        fileEncSha256: made.fileEncSha256,
        fileLength: made.fileLength,
      };
      expect(same(decryptMedia(made.blob, pointer, { crypto }), plaintext), `${type} ${size} bytes`).toBe(
        true,
      );
      const parts: Uint8Array[] = [];
      const reader = decryptMediaStream(() => [made.blob.subarray(0, 5), made.blob.subarray(5)], pointer, {
        crypto: createPortableCrypto(),
      }).getReader();
      for (let next = await reader.read(); !next.done; next = await reader.read()) parts.push(next.value);
      expect(same(concatBytes(...parts), plaintext)).toBe(true);
    }
  });

  it('a Baileys blob with one flipped MAC byte: Parley refuses it (Baileys itself still decrypts it)', async () => {
    const plaintext = bytesOf(1000, 42);
    const made = await baileysEncrypt(plaintext, 'image');
    const pointer = {
      type: 'image' as const,
      mediaKey: made.mediaKey,
      fileSha256: made.fileSha256,
      fileEncSha256: made.fileEncSha256,
      fileLength: made.fileLength,
    };
    expect(same(made.blob.subarray(made.blob.length - 10), made.mac)).toBe(true);
    for (let at = made.blob.length - 10; at < made.blob.length; at++) {
      const tampered = made.blob.slice();
      tampered[at]! ^= 0x01;
      let error: unknown;
      try {
        decryptMedia(tampered, pointer, { crypto });
      } catch (caught) {
        error = caught;
      }
      expect(isParleyError(error, 'ERR_MEDIA_INTEGRITY')).toBe(true);
      expect((error as { details: { check: string } }).details.check).toBe('mac');
    }
    const tampered = made.blob.slice();
    tampered[tampered.length - 1]! ^= 0x01;
    // Measured peer behaviour: Baileys' download never looks at the MAC.
    expect(same(await baileysDownload(tampered, made.mediaKey, 'image'), plaintext)).toBe(true);
  });
});
