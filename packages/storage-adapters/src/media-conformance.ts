/**
 * The blob (media) store conformance suite: the same groups of tests for every `BlobStore`
 * adapter, with an injected fake clock. Third-party adapters run it from their own test file:
 *
 * ```ts
 * import { runBlobStoreConformance } from '@parley/storage-adapters/media-conformance';
 * runBlobStoreConformance('my-blob-store', {
 *   open: (clock) => createMyBlobStore({ clock }),          // fresh and empty each time
 *   reopen: (clock) => openTheSameStorageAgain({ clock }),   // optional: persistence tests
 *   cleanup: async () => deleteTemporaryFiles(),             // optional, after each test
 * });
 * ```
 *
 * Requires vitest (an optional peer dependency). Runs in Node and in browsers.
 */
import { type Clock, isParleyError, type ParleyError } from '@parley/core';
import type { BlobStore, MediaByteSource } from '@parley/core/storage';
import { afterEach, describe, expect, it } from 'vitest';
import { createFakeClock, type FakeClock } from './conformance.js';

export interface BlobStoreConformanceFactory {
  /** A fresh, empty store using `clock` for expiry decisions. */
  open(clock: Clock): Promise<BlobStore>;
  /** Opens the storage behind the most recent `open` again (after the suite closed it). */
  reopen?(clock: Clock): Promise<BlobStore>;
  /** Runs after each test, after the suite closed its stores. */
  cleanup?(): Promise<void>;
}

export interface BlobStoreConformanceOptions {
  /** The largest round trip; 3 MiB unless an adapter documents a lower cap. */
  readonly largeBlobBytes?: number;
  /** Adapter's internal chunk size, if any: round trips and ranges straddle its boundaries. */
  readonly chunkBytes?: number;
}

const KiB = 1024;
const MiB = 1024 * KiB;
const NO_LIMIT = { maxBytes: 64 * MiB };

/** Deterministic bytes (xorshift32) so a failure is reproducible. */
function pseudoRandomBytes(length: number, seed: number): Uint8Array {
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

function pieces(data: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < data.length; i += size) out.push(data.subarray(i, i + size));
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

async function readStream(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const reader = stream.getReader();
  const parts: Uint8Array[] = [];
  let length = 0;
  for (;;) {
    const next = await reader.read();
    if (next.done) break;
    parts.push(next.value);
    length += next.value.length;
  }
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

async function expectError(promise: Promise<unknown>, code: ParleyError['code']): Promise<ParleyError> {
  const error = await rejection(promise);
  expect(isParleyError(error, code), `expected ${code}, got ${String(error)}`).toBe(true);
  return error as ParleyError;
}

/** A source that counts how far it was read and whether it was cancelled. */
function countingSource(
  chunk: Uint8Array,
  count: number,
): {
  source: ReadableStream<Uint8Array>;
  pulled: () => number;
  cancelled: () => boolean;
} {
  let pulled = 0;
  let cancelled = false;
  const source = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (pulled === count) {
          controller.close();
          return;
        }
        pulled += 1;
        controller.enqueue(chunk.slice());
      },
      cancel() {
        cancelled = true;
      },
    },
    { highWaterMark: 0 },
  );
  return { source, pulled: () => pulled, cancelled: () => cancelled };
}

export function runBlobStoreConformance(
  name: string,
  factory: BlobStoreConformanceFactory,
  options: BlobStoreConformanceOptions = {},
): void {
  const large = options.largeBlobBytes ?? 3 * MiB;
  const chunk = options.chunkBytes ?? 256 * KiB;

  describe(`${name}: blob store conformance`, () => {
    const opened: BlobStore[] = [];
    let clock: FakeClock = createFakeClock();

    async function open(): Promise<BlobStore> {
      clock = createFakeClock();
      const store = await factory.open(clock);
      opened.push(store);
      return store;
    }

    async function reopen(): Promise<BlobStore> {
      if (factory.reopen === undefined) throw new Error('factory has no reopen');
      const store = await factory.reopen(clock);
      opened.push(store);
      return store;
    }

    async function read(store: BlobStore, id: string, range?: { start: number; end?: number }) {
      const blob = await store.get(id, range);
      return blob === undefined ? undefined : readStream(blob.stream);
    }

    afterEach(async () => {
      for (const store of opened.splice(0)) await store.close();
      await factory.cleanup?.();
    });

    describe('blobs round trip exactly', () => {
      it('at sizes around the chunk size, in any input chunking', async () => {
        const store = await open();
        expect(typeof store.kind).toBe('string');
        const sizes = [0, 1, 255, chunk - 1, chunk, chunk + 1, 2 * chunk + 7];
        const splits = [1, 7, 4096, 65_536, Number.MAX_SAFE_INTEGER];
        let n = 0;
        for (const size of sizes) {
          for (const split of splits) {
            if (split === 1 && size > 4096) continue;
            n += 1;
            const data = pseudoRandomBytes(size, n);
            const info = await store.put(`blob/${n}`, pieces(data, split), NO_LIMIT);
            expect(info).toEqual({ id: `blob/${n}`, length: size, expiresAt: undefined });
            const back = await read(store, `blob/${n}`);
            expect(back?.length, `${size} bytes in pieces of ${split}`).toBe(size);
            expect(sameBytes(back!, data)).toBe(true);
          }
        }
      });

      it(`keeps all 256 byte values and a ${large}-byte blob`, async () => {
        const store = await open();
        const all = Uint8Array.from({ length: 512 }, (_, i) => i % 256);
        await store.put('all-bytes', [all], NO_LIMIT);
        expect(sameBytes((await read(store, 'all-bytes'))!, all)).toBe(true);
        const big = pseudoRandomBytes(large, 0x5eed);
        await store.put('large', pieces(big, 100_000), NO_LIMIT);
        expect((await store.head('large'))?.length).toBe(large);
        expect(sameBytes((await read(store, 'large'))!, big)).toBe(true);
      });

      it('accepts a ReadableStream, an async iterable and an iterable; stores copies', async () => {
        const store = await open();
        const data = pseudoRandomBytes(1000, 3);
        const given = data.slice();
        await store.put('stream', new Blob([given]).stream() as ReadableStream<Uint8Array>, NO_LIMIT);
        async function* generate(): AsyncGenerator<Uint8Array> {
          yield given.subarray(0, 10);
          yield given.subarray(10);
        }
        await store.put('async', generate(), NO_LIMIT);
        await store.put('sync', [given], NO_LIMIT);
        given.fill(0);
        for (const id of ['stream', 'async', 'sync'])
          expect(sameBytes((await read(store, id))!, data), id).toBe(true);
        const first = await read(store, 'sync');
        first!.fill(0);
        expect(sameBytes((await read(store, 'sync'))!, data)).toBe(true);
      });
    });

    describe('reading', () => {
      it('opens a fresh stream on every get, also while another one is being read', async () => {
        const store = await open();
        const data = pseudoRandomBytes(chunk * 2 + 100, 4);
        await store.put('twice', pieces(data, 5000), NO_LIMIT);
        const a = await store.get('twice');
        const b = await store.get('twice');
        expect(a?.info).toEqual({ id: 'twice', length: data.length, expiresAt: undefined });
        const readerA = a!.stream.getReader();
        const firstA = await readerA.read();
        expect(firstA.done).toBe(false);
        expect(sameBytes((await readStream(b!.stream))!, data)).toBe(true);
        await readerA.cancel();
        expect(sameBytes((await read(store, 'twice'))!, data)).toBe(true);
      });

      it('reads ranges, including empty ones and ranges across chunk boundaries', async () => {
        const store = await open();
        const data = pseudoRandomBytes(chunk * 3 + 17, 5);
        await store.put('ranged', pieces(data, 77_777), NO_LIMIT);
        const L = data.length;
        const ranges: [number, number | undefined][] = [
          [0, undefined],
          [0, 0],
          [L, undefined],
          [L, L],
          [1, 2],
          [chunk - 1, chunk + 1],
          [chunk, 2 * chunk],
          [chunk + 5, undefined],
          [0, L - 1],
          [L - 1, L],
          [123, 3 * chunk + 1],
        ];
        for (const [start, end] of ranges) {
          const got = await read(store, 'ranged', { start, end });
          const expected = data.subarray(start, end ?? L);
          expect(got?.length, `${start}..${end}`).toBe(expected.length);
          expect(sameBytes(got!, expected), `${start}..${end}`).toBe(true);
        }
        const opened = await store.get('ranged', { start: 10, end: 20 });
        expect(opened?.info.length).toBe(L);
        for (const range of [
          { start: -1 },
          { start: 5, end: 4 },
          { start: 0, end: L + 1 },
          { start: L + 1 },
          { start: 1.5 },
        ]) {
          await expectError(store.get('ranged', range), 'ERR_INVALID_ARGUMENT');
        }
      });

      it('head, get and list on a missing blob', async () => {
        const store = await open();
        expect(await store.head('missing')).toBeUndefined();
        expect(await store.get('missing')).toBeUndefined();
        expect(await store.list()).toEqual([]);
      });

      it('lists live blobs in ascending id order, with prefix and limit', async () => {
        const store = await open();
        const ids = ['b/2', 'a/1', 'a/10', 'a/2', 'a0', 'a', 'c'];
        for (const [i, id] of ids.entries()) await store.put(id, [new Uint8Array(i)], NO_LIMIT);
        const all = await store.list();
        expect(all.map((b) => b.id)).toEqual(['a', 'a/1', 'a/10', 'a/2', 'a0', 'b/2', 'c']);
        expect(all.find((b) => b.id === 'a0')?.length).toBe(4);
        expect((await store.list({ prefix: 'a/' })).map((b) => b.id)).toEqual(['a/1', 'a/10', 'a/2']);
        expect((await store.list({ prefix: 'a/', limit: 2 })).map((b) => b.id)).toEqual(['a/1', 'a/10']);
        expect(await store.list({ limit: 0 })).toEqual([]);
        expect(await store.list({ prefix: 'zz' })).toEqual([]);
      });
    });

    describe('writing', () => {
      it('writes once: a second put of a live id is ERR_STORE_CONFLICT and changes nothing', async () => {
        const store = await open();
        await store.put('once', [Uint8Array.of(1, 2, 3)], NO_LIMIT);
        await expectError(store.put('once', [Uint8Array.of(9)], NO_LIMIT), 'ERR_STORE_CONFLICT');
        expect(await read(store, 'once')).toEqual(Uint8Array.of(1, 2, 3));
        expect(await store.delete('once')).toBe(true);
        await store.put('once', [Uint8Array.of(4)], NO_LIMIT);
        expect(await read(store, 'once')).toEqual(Uint8Array.of(4));
      });

      it('of concurrent puts of one id exactly one wins, whole', async () => {
        const store = await open();
        const results = await Promise.allSettled(
          [1, 2, 3, 4].map((n) =>
            store.put('race', pieces(new Uint8Array(chunk + n).fill(n), 50_000), NO_LIMIT),
          ),
        );
        const won = results.filter((r) => r.status === 'fulfilled');
        expect(won).toHaveLength(1);
        for (const r of results) {
          if (r.status === 'rejected') expect(isParleyError(r.reason, 'ERR_STORE_CONFLICT')).toBe(true);
        }
        const back = (await read(store, 'race'))!;
        const n = back.length - chunk;
        expect(back.every((byte) => byte === n)).toBe(true);
      });

      it('refuses a declared length over maxBytes before touching the source', async () => {
        const store = await open();
        const { source, pulled, cancelled } = countingSource(new Uint8Array(10), 5);
        await expectError(
          store.put('big', source, { maxBytes: 49, declaredLength: 50 }),
          'ERR_MEDIA_TOO_LARGE',
        );
        expect(pulled()).toBe(0);
        expect(cancelled()).toBe(false);
        expect(await store.head('big')).toBeUndefined();
      });

      it('stops a source that passes maxBytes at the crossing chunk, cancels it and stores nothing', async () => {
        const store = await open();
        const { source, pulled, cancelled } = countingSource(new Uint8Array(1000).fill(7), 1_000_000);
        await expectError(store.put('big', source, { maxBytes: 10_500 }), 'ERR_MEDIA_TOO_LARGE');
        expect(pulled()).toBeLessThanOrEqual(12);
        expect(cancelled()).toBe(true);
        expect(await store.head('big')).toBeUndefined();
        expect(await store.get('big')).toBeUndefined();
        expect(await store.list()).toEqual([]);
        await store.put('big', [new Uint8Array(10_500)], { maxBytes: 10_500 });
        expect((await store.head('big'))?.length).toBe(10_500);
      });

      it('a declared length the source does not meet, or a failing source, stores nothing', async () => {
        const store = await open();
        await expectError(
          store.put('short', [new Uint8Array(10)], { maxBytes: 100, declaredLength: 11 }),
          'ERR_INVALID_ARGUMENT',
        );
        async function* failing(): AsyncGenerator<Uint8Array> {
          yield new Uint8Array(chunk + 1);
          throw new Error('network dropped');
        }
        await expect(store.put('failing', failing(), NO_LIMIT)).rejects.toThrow('network dropped');
        async function* notBytes(): AsyncGenerator<Uint8Array> {
          yield new Uint8Array(3);
          yield 'text' as unknown as Uint8Array;
        }
        await expectError(store.put('strings', notBytes(), NO_LIMIT), 'ERR_INVALID_ARGUMENT');
        for (const id of ['short', 'failing', 'strings']) expect(await store.head(id)).toBeUndefined();
        expect(await store.list()).toEqual([]);
        expect(await store.sweepExpired(clock.now())).toBe(0);
        await store.put('failing', [Uint8Array.of(1)], NO_LIMIT);
        expect(await read(store, 'failing')).toEqual(Uint8Array.of(1));
      });

      it('deletes: true when a blob was there (expired or not), false otherwise', async () => {
        const store = await open();
        await store.put('d1', [Uint8Array.of(1)], NO_LIMIT);
        await store.put('d2', [Uint8Array.of(2)], { ...NO_LIMIT, expiresAt: clock.now() + 10 });
        clock.advance(10);
        expect(await store.delete('d1')).toBe(true);
        expect(await store.delete('d2')).toBe(true);
        expect(await store.delete('d1')).toBe(false);
        expect(await store.get('d1')).toBeUndefined();
        expect(await store.sweepExpired(clock.now())).toBe(0);
      });
    });

    describe('expiry', () => {
      it('never returns a blob at or after expiresAt, and sweeping deletes it physically', async () => {
        const store = await open();
        const t = clock.now();
        await store.put('soon', [Uint8Array.of(1)], { ...NO_LIMIT, expiresAt: t + 1000 });
        await store.put('later', [Uint8Array.of(2)], { ...NO_LIMIT, expiresAt: t + 5000 });
        await store.put('never', [Uint8Array.of(3)], NO_LIMIT);
        expect((await store.head('soon'))?.expiresAt).toBe(t + 1000);
        clock.set(t + 999);
        expect(await read(store, 'soon')).toEqual(Uint8Array.of(1));
        clock.set(t + 1000);
        expect(await store.head('soon')).toBeUndefined();
        expect(await store.get('soon')).toBeUndefined();
        expect((await store.list()).map((b) => b.id)).toEqual(['later', 'never']);
        expect(await store.sweepExpired(clock.now())).toBe(1);
        expect(await store.sweepExpired(clock.now())).toBe(0);
        clock.set(t + 10_000);
        expect(await store.sweepExpired(clock.now())).toBe(1);
        expect((await store.list()).map((b) => b.id)).toEqual(['never']);
      });

      it('keeps a blob hidden when the clock steps back; sweep(now) also removes what it hides', async () => {
        const store = await open();
        const t = clock.now();
        await store.put('x', [Uint8Array.of(1)], { ...NO_LIMIT, expiresAt: t + 100 });
        clock.set(t + 200);
        expect(await store.head('x')).toBeUndefined();
        clock.set(t);
        expect(await store.head('x')).toBeUndefined();
        expect(await store.sweepExpired(t)).toBe(1);
      });

      it('a blob put already expired is never visible; an expired id can be written again', async () => {
        const store = await open();
        const t = clock.now();
        await store.put('past', [Uint8Array.of(1)], { ...NO_LIMIT, expiresAt: t - 1 });
        expect(await store.head('past')).toBeUndefined();
        await store.put('past', [Uint8Array.of(2)], NO_LIMIT);
        expect(await read(store, 'past')).toEqual(Uint8Array.of(2));
        expect(await store.sweepExpired(clock.now())).toBe(0);
      });
    });

    describe('persistence and lifecycle', () => {
      it.skipIf(factory.reopen === undefined)('blobs and their expiry survive a reopen', async () => {
        const store = await open();
        const data = pseudoRandomBytes(chunk + 3, 8);
        await store.put('kept', pieces(data, 10_000), { ...NO_LIMIT, expiresAt: clock.now() + 1000 });
        await store.close();
        const again = await reopen();
        expect((await again.head('kept'))?.expiresAt).toBe(clock.now() + 1000);
        expect(sameBytes((await read(again, 'kept'))!, data)).toBe(true);
        clock.advance(1000);
        expect(await again.sweepExpired(clock.now())).toBe(1);
      });

      it('refuses every call after close with ERR_STORE_CLOSED; close is idempotent', async () => {
        const store = await open();
        await store.put('a', [Uint8Array.of(1)], NO_LIMIT);
        await store.close();
        await store.close();
        await expectError(store.put('b', [Uint8Array.of(1)], NO_LIMIT), 'ERR_STORE_CLOSED');
        await expectError(store.get('a'), 'ERR_STORE_CLOSED');
        await expectError(store.head('a'), 'ERR_STORE_CLOSED');
        await expectError(store.delete('a'), 'ERR_STORE_CLOSED');
        await expectError(store.list(), 'ERR_STORE_CLOSED');
        await expectError(store.sweepExpired(0), 'ERR_STORE_CLOSED');
      });

      it('refuses malformed arguments with ERR_INVALID_ARGUMENT', async () => {
        const store = await open();
        for (const id of ['', 'a b', 'é', 'x'.repeat(201), 7, null, 'a\u0000b']) {
          await expectError(store.head(id as string), 'ERR_INVALID_ARGUMENT');
          await expectError(store.put(id as string, [], NO_LIMIT), 'ERR_INVALID_ARGUMENT');
        }
        for (const putOptions of [
          undefined,
          {},
          { maxBytes: -1 },
          { maxBytes: 1.5 },
          { maxBytes: 10, expiresAt: Number.NaN },
          { maxBytes: 10, declaredLength: -1 },
        ]) {
          await expectError(store.put('ok', [], putOptions as { maxBytes: number }), 'ERR_INVALID_ARGUMENT');
        }
        await expectError(
          store.put('ok', 42 as unknown as MediaByteSource, NO_LIMIT),
          'ERR_INVALID_ARGUMENT',
        );
        await expectError(store.list({ limit: -1 }), 'ERR_INVALID_ARGUMENT');
        await expectError(store.sweepExpired(Number.NaN), 'ERR_INVALID_ARGUMENT');
        expect(await store.list()).toEqual([]);
      });
    });
  });
}
