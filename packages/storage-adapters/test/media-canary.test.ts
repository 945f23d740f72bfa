/**
 * Canaries: a file made of a recognisable plaintext is encrypted into the filesystem blob store,
 * and the canary must not appear — raw, as hex or as base64 — in any file under the store
 * (blobs, the temporary of a write in progress, the layout file), nor in any error a failing
 * media operation raises (message, details, JSON, stack, inspect output).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import {
  createMediaPointer,
  decryptMedia,
  decryptMediaStream,
  type EncryptedMedia,
  encryptMedia,
  encryptMediaStream,
  isParleyError,
} from '@parley/core';
import { decodeContentEnvelope, encodeContentEnvelope } from '@parley/core/content';
import { decryptMediaNodeStream } from '@parley/core/node';
import { blobOpener } from '@parley/core/storage';
import { afterAll, describe, expect, it } from 'vitest';
import { createFsBlobStore } from '../src/media-fs.js';

const CANARY = 'CANARY-parley-media-7f3a9c';
const encoder = new TextEncoder();
const plaintext = encoder.encode(CANARY.repeat(40_000)); // ~1 MB, several segments and chunks
const root = mkdtempSync(join(tmpdir(), 'parley-media-canary-'));

afterAll(() => rmSync(root, { recursive: true, force: true }));

/** The canary's encodings a leak could take: raw bytes, hex, and base64 at all three alignments. */
const needles: readonly Buffer[] = (() => {
  const raw = Buffer.from(CANARY);
  const hex = Buffer.from(raw.toString('hex'));
  const base64 = [0, 1, 2].map((shift) =>
    Buffer.from(
      Buffer.from(`${'x'.repeat(shift)}${CANARY}${CANARY}`)
        .toString('base64')
        .slice(8, 32),
    ),
  );
  return [raw, hex, Buffer.from(raw.toString('hex').toUpperCase()), ...base64];
})();

function leaks(haystack: Uint8Array | string): boolean {
  const bytes = typeof haystack === 'string' ? Buffer.from(haystack) : Buffer.from(haystack);
  return needles.some((needle) => bytes.includes(needle));
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
}

/** Every text an error can end up in: message, details, JSON, stack, inspect (with causes). */
function errorTexts(error: unknown): string {
  const e = error as { message?: string; stack?: string; details?: unknown };
  return [
    e.message,
    e.stack,
    JSON.stringify(error),
    JSON.stringify(e.details),
    inspect(error, { depth: 5 }),
  ].join('\n');
}

async function caught(run: () => unknown): Promise<unknown> {
  try {
    const result = run();
    if (result instanceof ReadableStream) {
      const reader = result.getReader();
      for (;;) if ((await reader.read()).done) break;
    } else if (result && typeof (result as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function') {
      for await (const _ of result as AsyncIterable<unknown>);
    } else {
      await result;
    }
  } catch (error) {
    return error;
  }
  throw new Error('expected a failure');
}

describe('no plaintext canary at rest or in errors', () => {
  let media: EncryptedMedia;
  const tempSnapshots: Buffer[] = [];

  it('the blob store files and the temporary of a write in progress hold no canary', async () => {
    const store = await createFsBlobStore({ root });
    async function* source(): AsyncGenerator<Uint8Array> {
      for (let offset = 0; offset < plaintext.length; offset += 100_000) {
        yield plaintext.subarray(offset, offset + 100_000);
        // Mid-write: whatever the temporary holds by now.
        for (const file of filesUnder(join(root, 'tmp'))) tempSnapshots.push(readFileSync(file));
      }
    }
    const encrypted = encryptMediaStream(source(), { type: 'document' });
    await store.put('canary-blob', encrypted.blob, { maxBytes: 2_000_000 });
    media = await encrypted.media;
    expect(tempSnapshots.length).toBeGreaterThan(3);
    expect(tempSnapshots.some((snapshot) => snapshot.length > 100_000)).toBe(true);
    for (const snapshot of tempSnapshots) expect(leaks(snapshot)).toBe(false);
    const files = filesUnder(root);
    expect(files.length).toBe(2);
    for (const file of files) expect(leaks(readFileSync(file)), file).toBe(false);
    // The test itself can see a canary: the plaintext decrypted from the store has it.
    const pointer = createMediaPointer({ ...media, mimetype: 'text/plain', directPath: '/canary-blob' });
    const back = new Uint8Array(
      await new Response(decryptMediaStream(blobOpener(store, 'canary-blob'), pointer)).arrayBuffer(),
    );
    expect(leaks(back)).toBe(true);
    await store.close();
  });

  it('no error of a failing media operation carries the canary', async () => {
    const store = await createFsBlobStore({ root });
    const { blob, media: fields } = encryptMedia(plaintext, { type: 'image' });
    const pointer = createMediaPointer({
      ...fields,
      mimetype: 'image/png',
      url: 'https://m.example/x',
      caption: CANARY,
    });
    const tampered = blob.slice();
    tampered[100]! ^= 1;
    const errors: unknown[] = [
      await caught(() => decryptMedia(tampered, pointer)),
      await caught(() => decryptMedia(blob.subarray(0, blob.length - 3), pointer)),
      await caught(() => decryptMedia(blob, { ...pointer, fileSha256: new Uint8Array(32) })),
      await caught(() => decryptMedia(blob, { ...pointer, fileLength: plaintext.length - 1 })),
      await caught(() => decryptMediaStream(() => [tampered], pointer)),
      await caught(() => decryptMediaNodeStream(() => [tampered], pointer)),
      // A source whose bytes change between the two passes (forced: this file fits one pass).
      await caught(() => {
        let calls = 0;
        return decryptMediaStream(() => (++calls === 1 ? [blob] : [tampered]), pointer, {
          singlePassMaxBytes: 0,
        });
      }),
      await caught(() => encryptMediaStream([plaintext], { type: 'image', maxBytes: 1000 }).blob),
      await caught(() => encryptMedia(plaintext, { type: 'image', maxBytes: 10 })),
      await caught(() => store.put('x', [plaintext], { maxBytes: 10 })),
      await caught(() => store.put('canary-blob', [plaintext], { maxBytes: 2_000_000 })),
      await caught(() => createMediaPointer({ ...pointer, mimetype: CANARY.repeat(20) })),
      await caught(() => encodeContentEnvelope({ text: `${CANARY}\uD800` })),
      await caught(() =>
        encodeContentEnvelope({
          media: createMediaPointer({
            ...fields,
            type: 'sticker',
            mimetype: 'image/webp',
            url: 'u',
            caption: CANARY,
          }),
        }),
      ),
    ];
    // An envelope whose text is the canary, broken right after it.
    const envelope = encodeContentEnvelope({ text: CANARY, media: pointer });
    errors.push(await caught(() => decodeContentEnvelope(envelope.subarray(0, envelope.length - 5))));
    errors.push(await caught(() => decodeContentEnvelope(Uint8Array.of(...envelope, 0x0a, 0x05, 0xff))));
    expect(errors).toHaveLength(16);
    for (const [i, error] of errors.entries()) {
      expect(isParleyError(error), `error ${i}: ${String(error)}`).toBe(true);
      expect(leaks(errorTexts(error)), `error ${i} leaks the canary`).toBe(false);
      expect(errorTexts(error)).not.toContain(Buffer.from(fields.mediaKey).toString('hex'));
    }
    await store.close();
  });
});
