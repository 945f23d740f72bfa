/**
 * Media encryption in the WhatsApp family's format, Parley against itself and against the
 * format's definition (the independent checks against Baileys are in media-baileys.test.ts):
 * round trips in any chunking, every failed check a typed error with no plaintext released, the
 * second pass bound to the first, and size limits that refuse before reading.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { concatBytes, utf8 } from '../src/bytes.js';
import { createNodeCrypto } from '../src/crypto/node.js';
import { createPortableCrypto } from '../src/crypto/portable.js';
import { createDeterministicRandom } from '../src/crypto/random.js';
import { isParleyError, type ParleyError } from '../src/errors.js';
import {
  BINDING_SEGMENT_BYTES,
  createMediaPointer,
  decryptMedia,
  decryptMediaStream,
  deriveMediaKeys,
  encryptedLength,
  encryptMedia,
  encryptMediaStream,
  MEDIA_TYPES,
  type MediaDescriptor,
  type MediaProgress,
  type MediaType,
} from '../src/media/index.js';
import { decryptMediaNodeStream, encryptMediaNodeStream } from '../src/media/node-streams.js';

const crypto = createNodeCrypto();
const portable = createPortableCrypto();
/** Forces the two-pass path (verify, then decrypt) that files above 2 MiB take. */
const TWO_PASSES = { crypto, singlePassMaxBytes: 0 } as const;

function bytesOf(length: number, seed = 1): Uint8Array {
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

/** Byte equality without vitest's element-wise diff, which takes seconds on large arrays. */
function expectBytes(actual: Uint8Array, expected: Uint8Array): void {
  expect(actual.length).toBe(expected.length);
  expect(Buffer.from(actual.buffer, actual.byteOffset, actual.length).equals(expected)).toBe(true);
}

function split(data: Uint8Array, size: number): Uint8Array[] {
  const parts: Uint8Array[] = [];
  for (let i = 0; i < data.length; i += size) parts.push(data.subarray(i, i + size));
  return parts;
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const reader = stream.getReader();
  for (;;) {
    const next = await reader.read();
    if (next.done) return concatBytes(...parts);
    parts.push(next.value);
  }
}

/** Reads until the stream fails; returns what was released before and the error. */
async function readUntilError(
  stream: ReadableStream<Uint8Array>,
): Promise<{ released: Uint8Array; error: ParleyError }> {
  const parts: Uint8Array[] = [];
  const reader = stream.getReader();
  try {
    for (;;) {
      const next = await reader.read();
      if (next.done) throw new Error('expected the stream to fail');
      parts.push(next.value);
    }
  } catch (error) {
    if (!isParleyError(error)) throw error;
    return { released: concatBytes(...parts), error };
  }
}

function syncError(run: () => unknown): ParleyError {
  try {
    run();
  } catch (error) {
    if (isParleyError(error)) return error;
    throw error;
  }
  throw new Error('expected a ParleyError');
}

function pointerOf(media: ReturnType<typeof encryptMedia>['media']): MediaDescriptor {
  return {
    type: media.type,
    mediaKey: media.mediaKey,
    fileSha256: media.fileSha256,
    fileEncSha256: media.fileEncSha256,
    fileLength: media.fileLength,
  };
}

const SIZES = [0, 1, 15, 16, 17, 31, 32, 33, 1000, 4095, 4096, 4097];
/** Around the binding segment: the blob (length + padding + MAC) straddles a segment end. */
const SEGMENT_SIZES = [BINDING_SEGMENT_BYTES - 27, BINDING_SEGMENT_BYTES - 26, BINDING_SEGMENT_BYTES - 10];

describe('media encryption round trips', () => {
  it.each(MEDIA_TYPES)('%s: one-shot and streamed, sizes around block boundaries', async (type) => {
    for (const size of SIZES) {
      const plaintext = bytesOf(size, size + 7);
      const { blob, media } = encryptMedia(plaintext, { type, crypto });
      expect(blob.length).toBe(encryptedLength(size));
      expect(media.fileLength).toBe(size);
      expect(media.encryptedLength).toBe(blob.length);
      expect(media.fileSha256).toEqual(crypto.sha256(plaintext));
      expect(media.fileEncSha256).toEqual(crypto.sha256(blob));
      expectBytes(decryptMedia(blob, pointerOf(media), { crypto }), plaintext);
      for (const options of [{ crypto }, TWO_PASSES]) {
        const streamed = await readAll(decryptMediaStream(() => split(blob, 7), pointerOf(media), options));
        expectBytes(streamed, plaintext);
      }
    }
  });

  it('streams across binding segments and agrees with the one-shot blob, in any chunking', async () => {
    for (const size of SEGMENT_SIZES) {
      const plaintext = bytesOf(size, size);
      const random = createDeterministicRandom(`segment ${size}`);
      const { blob: ciphertext, media } = encryptMediaStream(split(plaintext, 65_537), {
        type: 'document',
        crypto,
        random,
      });
      const blob = await readAll(ciphertext);
      const fields = await media;
      const again = encryptMedia(plaintext, {
        type: 'document',
        crypto,
        random: createDeterministicRandom(`segment ${size}`),
      });
      expectBytes(blob, again.blob);
      const back = await readAll(
        decryptMediaStream(() => split(blob, 100_003), pointerOf(fields), TWO_PASSES),
      );
      expectBytes(back, plaintext);
    }
  });

  it('random sizes and chunkings round-trip, with the portable provider on one side', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 3000 }),
        fc.integer({ min: 1, max: 400 }),
        fc.integer({ min: 1, max: 400 }),
        fc.constantFrom(...MEDIA_TYPES),
        async (size, encryptChunk, decryptChunk, type) => {
          const plaintext = bytesOf(size, size * 31 + encryptChunk);
          const { blob: stream, media } = encryptMediaStream(split(plaintext, encryptChunk), {
            type,
            crypto: portable,
          });
          const blob = await readAll(stream);
          const back = await readAll(
            decryptMediaStream(() => split(blob, decryptChunk), pointerOf(await media), {
              crypto,
              singlePassMaxBytes: size % 2 === 0 ? 0 : undefined,
            }),
          );
          expect(back).toEqual(plaintext);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('aliases share their parent type keys; other types do not', () => {
    const key = bytesOf(32, 99);
    const pairs: [MediaType, MediaType][] = [
      ['sticker', 'image'],
      ['ptt', 'audio'],
      ['gif', 'video'],
      ['ptv', 'video'],
    ];
    for (const [alias, parent] of pairs) {
      expect(deriveMediaKeys(crypto, key, alias)).toEqual(deriveMediaKeys(crypto, key, parent));
    }
    const distinct = new Set(
      (['image', 'video', 'audio', 'document'] as const).map((type) =>
        Buffer.from(deriveMediaKeys(crypto, key, type).cipherKey).toString('hex'),
      ),
    );
    expect(distinct.size).toBe(4);
    const { blob, media } = encryptMedia(bytesOf(100), { type: 'sticker', crypto });
    expect(decryptMedia(blob, { ...pointerOf(media), type: 'image' }, { crypto })).toEqual(bytesOf(100));
    expect(
      syncError(() => decryptMedia(blob, { ...pointerOf(media), type: 'video' }, { crypto })).details.check,
    ).toBe('mac');
  });

  it('expands the key as HKDF-SHA256 with the per-type info into IV, cipher key, MAC key and the rest', () => {
    const key = bytesOf(32, 5);
    const expanded = crypto.hkdfSha256(key, undefined, utf8('WhatsApp Document Keys'), 112);
    const keys = deriveMediaKeys(portable, key, 'document');
    expect(concatBytes(keys.iv, keys.cipherKey, keys.macKey, keys.refKey)).toEqual(expanded);
    const { blob, media } = encryptMedia(bytesOf(50), {
      type: 'document',
      crypto,
      random: () => key.slice(),
    });
    const ciphertext = blob.subarray(0, blob.length - 10);
    expect(ciphertext).toEqual(crypto.aes256CbcEncrypt(keys.cipherKey, keys.iv, bytesOf(50)));
    expect(blob.subarray(blob.length - 10)).toEqual(
      crypto.hmacSha256(keys.macKey, concatBytes(keys.iv, ciphertext)).subarray(0, 10),
    );
    expect(media.mediaKey).toEqual(key);
  });
});

describe('a blob that is not what its pointer says is refused, and no plaintext is released', () => {
  const plaintext = bytesOf(5000, 3);
  const { blob, media } = encryptMedia(plaintext, { type: 'image', crypto });
  const pointer = pointerOf(media);

  async function refusal(candidate: Uint8Array, descriptor: MediaDescriptor = pointer): Promise<string> {
    const oneShot = syncError(() => decryptMedia(candidate, descriptor, { crypto }));
    expect(oneShot.code).toBe('ERR_MEDIA_INTEGRITY');
    for (const options of [{ crypto }, TWO_PASSES]) {
      const { released, error } = await readUntilError(
        decryptMediaStream(() => split(candidate, 1024), descriptor, options),
      );
      expect(released.length).toBe(0);
      expect(error.code).toBe('ERR_MEDIA_INTEGRITY');
      expect(error.details.check).toBe(oneShot.details.check);
    }
    return String(oneShot.details.check);
  }

  function flipped(at: number): Uint8Array {
    const copy = blob.slice();
    copy[at]! ^= 0x01;
    return copy;
  }

  it('a flipped bit anywhere in the ciphertext or the MAC: mac', async () => {
    for (const at of [0, 15, 16, 2500, blob.length - 11, blob.length - 10, blob.length - 1]) {
      expect(await refusal(flipped(at))).toBe('mac');
    }
  });

  it('a wrong media key: mac', async () => {
    expect(await refusal(blob, { ...pointer, mediaKey: bytesOf(32, 77) })).toBe('mac');
  });

  it('truncation, a missing MAC, extra bytes, an empty blob: length', async () => {
    for (const candidate of [
      blob.subarray(0, blob.length - 1),
      blob.subarray(0, blob.length - 10),
      blob.subarray(0, 16),
      concatBytes(blob, new Uint8Array(1)),
      new Uint8Array(0),
    ]) {
      expect(await refusal(candidate)).toBe('length');
    }
  });

  it('a fileLength that does not match: length (another block count) or fileLength (same blocks)', async () => {
    expect(await refusal(blob, { ...pointer, fileLength: 5000 + 16 })).toBe('length');
    expect(await refusal(blob, { ...pointer, fileLength: 5001 })).toBe('fileLength');
    expect(await refusal(blob, { ...pointer, fileLength: 4999 })).toBe('fileLength');
  });

  it('hashes that do not match: fileEncSha256, fileSha256', async () => {
    const wrong = pointer.fileSha256.slice();
    wrong[0]! ^= 1;
    expect(await refusal(blob, { ...pointer, fileSha256: wrong })).toBe('fileSha256');
    expect(await refusal(blob, { ...pointer, fileEncSha256: wrong })).toBe('fileEncSha256');
  });

  it('a correctly MACed blob with bad padding (a malformed sender): padding', async () => {
    const mediaKey = bytesOf(32, 8);
    const keys = deriveMediaKeys(crypto, mediaKey, 'document');
    // 32 bytes whose last byte is 0: PKCS#7 cannot end in 0, and no padding layer is applied.
    const raw = crypto.createAes256CbcEncryptor(keys.cipherKey, keys.iv);
    const ciphertext = raw.update(new Uint8Array(32)).slice();
    const mac = crypto.hmacSha256(keys.macKey, concatBytes(keys.iv, ciphertext)).subarray(0, 10);
    const bad = concatBytes(ciphertext, mac);
    const descriptor: MediaDescriptor = {
      type: 'document',
      mediaKey,
      fileLength: 16,
      fileSha256: crypto.sha256(new Uint8Array(16)),
      fileEncSha256: crypto.sha256(bad),
    };
    expect(await refusal(bad, descriptor)).toBe('padding');
  });

  it('the error says which check failed and nothing about the bytes', async () => {
    const error = syncError(() => decryptMedia(flipped(3), pointer, { crypto }));
    expect(error.message).toBe(
      'media image: the blob MAC does not verify (tampered blob or wrong media key)',
    );
    expect(JSON.stringify(error)).not.toMatch(/[0-9a-f]{16}/);
  });

  it('a source that never ends is read only to one byte past the expected length', async () => {
    let pulled = 0;
    async function* endless(): AsyncGenerator<Uint8Array> {
      for (;;) {
        pulled += 1;
        yield new Uint8Array(1000);
      }
    }
    const { error } = await readUntilError(decryptMediaStream(() => endless(), pointer, { crypto }));
    expect(error.details.check).toBe('length');
    expect(pulled).toBe(Math.floor(blob.length / 1000) + 1);
  });
});

describe('the second pass is bound to the first', () => {
  const size = 3 * BINDING_SEGMENT_BYTES;
  const plaintext = bytesOf(size, 11);
  const { blob, media } = encryptMedia(plaintext, { type: 'video', crypto });

  function opener(second: Uint8Array): () => Uint8Array[] {
    let calls = 0;
    return () => {
      calls += 1;
      return split(calls === 1 ? blob : second, 50_000);
    };
  }

  it('a blob changed in its first segment after verification releases nothing', async () => {
    const changed = blob.slice();
    changed[100]! ^= 0x80;
    const { released, error } = await readUntilError(
      decryptMediaStream(opener(changed), pointerOf(media), TWO_PASSES),
    );
    expect(error.details.check).toBe('changed');
    expect(released.length).toBe(0);
  });

  it('a change in a later segment: only verified plaintext of earlier segments came out, none of the changed one', async () => {
    const changed = blob.slice();
    // A CBC edit: flipping ciphertext block i flips the same bit of plaintext block i + 1.
    changed[2 * BINDING_SEGMENT_BYTES + 64]! ^= 0x01;
    const { released, error } = await readUntilError(
      decryptMediaStream(opener(changed), pointerOf(media), TWO_PASSES),
    );
    expect(error.details.check).toBe('changed');
    expect(released.length).toBeLessThanOrEqual(2 * BINDING_SEGMENT_BYTES);
    expectBytes(released, plaintext.subarray(0, released.length));
  });

  it('a second pass that is shorter or longer: length', async () => {
    const { error: shorter } = await readUntilError(
      decryptMediaStream(opener(blob.subarray(0, blob.length - 1)), pointerOf(media), TWO_PASSES),
    );
    expect(shorter.details.check).toBe('length');
    const { error: longer } = await readUntilError(
      decryptMediaStream(opener(concatBytes(blob, Uint8Array.of(0))), pointerOf(media), TWO_PASSES),
    );
    expect(longer.details.check).toBe('length');
  });
});

describe('size limits refuse before buffering', () => {
  it('a declared length over maxBytes is refused before the source is touched', () => {
    let touched = false;
    const source = {
      [Symbol.asyncIterator]() {
        touched = true;
        throw new Error('must not be read');
      },
    } as AsyncIterable<Uint8Array>;
    const error = syncError(() =>
      encryptMediaStream(source, { type: 'image', maxBytes: 1000, declaredLength: 1001 }),
    );
    expect(error.code).toBe('ERR_MEDIA_TOO_LARGE');
    expect(touched).toBe(false);
  });

  it('a source over maxBytes fails at the chunk that crosses it, is cancelled, and media rejects', async () => {
    let pulled = 0;
    let cancelled = false;
    const source = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += 1;
        controller.enqueue(new Uint8Array(100));
      },
      cancel() {
        cancelled = true;
      },
    });
    const { blob, media } = encryptMediaStream(source, { type: 'document', maxBytes: 1050, crypto });
    const { error } = await readUntilError(blob);
    expect(error.code).toBe('ERR_MEDIA_TOO_LARGE');
    expect(pulled).toBeLessThanOrEqual(12);
    expect(cancelled).toBe(true);
    await expect(media).rejects.toMatchObject({ code: 'ERR_MEDIA_TOO_LARGE' });
  });

  it('exactly maxBytes passes; a declared length the source does not meet fails', async () => {
    const ok = encryptMediaStream([new Uint8Array(1000)], { type: 'audio', maxBytes: 1000, crypto });
    expect((await readAll(ok.blob)).length).toBe(encryptedLength(1000));
    const short = encryptMediaStream([new Uint8Array(10)], { type: 'audio', declaredLength: 11, crypto });
    expect((await readUntilError(short.blob)).error.code).toBe('ERR_INVALID_ARGUMENT');
    await expect(short.media).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
  });

  it('a pointer announcing more than maxBytes is refused before the blob is opened', () => {
    const { media } = encryptMedia(new Uint8Array(2000), { type: 'image', crypto });
    let opened = false;
    const error = syncError(() =>
      decryptMediaStream(
        () => {
          opened = true;
          return [];
        },
        pointerOf(media),
        { maxBytes: 1999 },
      ),
    );
    expect(error.code).toBe('ERR_MEDIA_TOO_LARGE');
    expect(opened).toBe(false);
  });

  it('cancelling the encrypted stream rejects media with ERR_CLOSED', async () => {
    const { blob, media } = encryptMediaStream([new Uint8Array(100), new Uint8Array(100)], { type: 'image' });
    const reader = blob.getReader();
    await reader.read();
    await reader.cancel();
    await expect(media).rejects.toMatchObject({ code: 'ERR_CLOSED' });
  });
});

describe('streams, progress and arguments', () => {
  it('Node streams: encrypt a Readable, decrypt from re-opened Readables', async () => {
    const plaintext = bytesOf(300_000, 21);
    const { blob, media } = encryptMediaNodeStream(Readable.from(split(plaintext, 10_000)), {
      type: 'ptv',
      crypto,
    });
    const parts: Buffer[] = [];
    await pipeline(blob, async (source: AsyncIterable<Buffer>) => {
      for await (const chunk of source) parts.push(chunk);
    });
    const stored = concatBytes(...parts);
    const fields = await media;
    const out: Buffer[] = [];
    for await (const chunk of decryptMediaNodeStream(
      () => Readable.from(split(stored, 4096)),
      pointerOf(fields),
      TWO_PASSES,
    )) {
      out.push(chunk as Buffer);
    }
    expectBytes(concatBytes(...out), plaintext);
    const tampered = stored.slice();
    tampered[5]! ^= 1;
    const failing = decryptMediaNodeStream(() => Readable.from([tampered]), pointerOf(fields));
    await expect(
      (async () => {
        for await (const _ of failing) throw new Error('plaintext was released');
      })(),
    ).rejects.toMatchObject({ code: 'ERR_MEDIA_INTEGRITY' });
  });

  it('reads a small file once and a large one twice; both release nothing before the checks', async () => {
    for (const [size, options, opens] of [
      [100_000, { crypto }, 1],
      [100_000, TWO_PASSES, 2],
      [2 * 1024 * 1024 + 1, { crypto }, 2],
    ] as const) {
      const { blob, media } = encryptMedia(bytesOf(size, 5), { type: 'document', crypto });
      let opened = 0;
      const back = await readAll(
        decryptMediaStream(
          () => {
            opened += 1;
            return split(blob, 65_536);
          },
          pointerOf(media),
          options,
        ),
      );
      expectBytes(back, bytesOf(size, 5));
      expect(opened, `${size} bytes`).toBe(opens);
    }
  });

  it('reports progress for each phase', async () => {
    const plaintext = bytesOf(10_000);
    const events: MediaProgress[] = [];
    const { blob, media } = encryptMediaStream(split(plaintext, 4000), {
      type: 'image',
      crypto,
      declaredLength: 10_000,
      onProgress: (event) => events.push(event),
    });
    const stored = await readAll(blob);
    await readAll(
      decryptMediaStream(() => [stored], pointerOf(await media), {
        ...TWO_PASSES,
        onProgress: (event) => events.push(event),
      }),
    );
    expect(events).toEqual([
      { phase: 'encrypt', bytes: 4000, total: 10_000 },
      { phase: 'encrypt', bytes: 8000, total: 10_000 },
      { phase: 'encrypt', bytes: 10_000, total: 10_000 },
      { phase: 'verify', bytes: stored.length, total: stored.length },
      { phase: 'decrypt', bytes: stored.length, total: stored.length },
    ]);
  });

  it('refuses bad arguments with ERR_INVALID_ARGUMENT', async () => {
    const { blob, media } = encryptMedia(bytesOf(10), { type: 'image', crypto });
    const pointer = pointerOf(media);
    for (const run of [
      () => encryptMedia('text' as unknown as Uint8Array, { type: 'image' }),
      () => encryptMedia(new Uint8Array(1), { type: 'photo' as MediaType }),
      () => encryptMedia(new Uint8Array(1), { type: 'image', maxBytes: -1 }),
      () => decryptMedia(blob, { ...pointer, mediaKey: new Uint8Array(31) }),
      () => decryptMedia(blob, { ...pointer, fileLength: 1.5 }),
      () => decryptMedia(blob, { ...pointer, fileSha256: new Uint8Array(0) }),
      () => decryptMediaStream('nope' as unknown as () => Uint8Array[], pointer),
      () => decryptMediaNodeStream(undefined as unknown as () => Uint8Array[], pointer),
    ]) {
      expect(syncError(run).code).toBe('ERR_INVALID_ARGUMENT');
    }
    const notBytes = await readUntilError(
      decryptMediaStream(() => ['string' as unknown as Uint8Array], pointer),
    );
    expect(notBytes.error.code).toBe('ERR_INVALID_ARGUMENT');
  });

  it('Node Buffers given as keys or chunks are copied, never aliased or wiped (Buffer.slice is a view)', async () => {
    const { blob, media } = encryptMedia(bytesOf(3000, 4), { type: 'image', crypto });
    const key = Buffer.from(media.mediaKey);
    const tampered = Buffer.from(blob);
    tampered[0]! ^= 1;
    const descriptor = { ...pointerOf(media), mediaKey: key };
    expect(syncError(() => decryptMedia(tampered, descriptor, { crypto })).details.check).toBe('mac');
    expect(key.equals(media.mediaKey)).toBe(true);
    expectBytes(decryptMedia(Buffer.from(blob), descriptor, { crypto }), bytesOf(3000, 4));
    expect(key.equals(media.mediaKey)).toBe(true);
    for (const provider of [crypto, portable]) {
      const keys = deriveMediaKeys(provider, key, 'image');
      const encryptor = provider.createAes256CbcEncryptor(Buffer.from(keys.cipherKey), Buffer.from(keys.iv));
      const decryptor = provider.createAes256CbcDecryptor(Buffer.from(keys.cipherKey), Buffer.from(keys.iv));
      const parts: Uint8Array[] = [];
      const plain: Uint8Array[] = [];
      for (const size of [5, 40, 3, 100]) {
        const chunk = Buffer.from(bytesOf(size, size));
        parts.push(encryptor.update(chunk).slice());
        chunk.fill(0xee);
      }
      parts.push(encryptor.final());
      const ciphertext = concatBytes(...parts);
      for (const piece of [ciphertext.subarray(0, 33), ciphertext.subarray(33)]) {
        const chunk = Buffer.from(piece);
        plain.push(decryptor.update(chunk).slice());
        chunk.fill(0xee);
      }
      plain.push(decryptor.final());
      expectBytes(concatBytes(...plain), concatBytes(...[5, 40, 3, 100].map((n) => bytesOf(n, n))));
    }
  });

  it('a media pointer checks its fields, copies its bytes and never prints its key', async () => {
    const { media } = encryptMedia(bytesOf(10), { type: 'document', crypto });
    const key = media.mediaKey.slice();
    const pointer = createMediaPointer({
      ...media,
      mimetype: 'application/pdf',
      directPath: '/m/1',
      fileName: 'a.pdf',
    });
    expect(pointer.mediaKey).toEqual(key);
    expect(pointer.mediaKey).not.toBe(media.mediaKey);
    const { inspect } = await import('node:util');
    const hex = Buffer.from(key).toString('hex');
    for (const text of [
      JSON.stringify(pointer),
      inspect(pointer, { depth: 5 }),
      JSON.stringify(media),
      inspect(media),
    ]) {
      expect(text).not.toContain(hex);
      expect(text).not.toMatch(/mediaKey|Uint8Array|\d+, \d+, \d+/);
    }
    expect(syncError(() => createMediaPointer({ ...media, mimetype: 'x/y' })).details.field).toBe(
      'directPath',
    );
    expect(syncError(() => createMediaPointer({ ...media, mimetype: '', url: 'u' })).details.field).toBe(
      'mimetype',
    );
    expect(
      syncError(() => createMediaPointer({ ...media, mimetype: 'x/y', url: 'u', width: -1 })).details.field,
    ).toBe('width');
  });
});
