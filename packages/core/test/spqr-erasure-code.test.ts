import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createDeterministicRandom } from '../src/crypto/random.js';
import { CHUNK_LENGTH, type Chunk, ChunkDecoder, ChunkEncoder } from '../src/spqr/erasure-code.js';
import { gfDiv, gfMul, gfMulReference } from '../src/spqr/gf16.js';

const random = createDeterministicRandom('erasure code');
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('GF(2^16)', () => {
  it('table multiplication equals bitwise carry-less multiplication and division inverts it', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }), (a, b) => {
        expect(gfMul(a, b)).toBe(gfMulReference(a, b));
        if (b !== 0) expect(gfDiv(gfMul(a, b), b)).toBe(a);
      }),
      { numRuns: 2_000 },
    );
    expect(gfMul(0x8000, 2)).toBe(0x100b); // x^16 reduces to x^12 + x^3 + x + 1
  });
});

/** The message sizes SPQR v1 sends: header+MAC, ML-KEM key part, ct1, ct2+MAC. */
const SIZES = [96, 1152, 960, 160];

function chunks(encoder: ChunkEncoder, count: number): Chunk[] {
  const out: Chunk[] = [];
  let e = encoder;
  for (let i = 0; i < count; i++) {
    const [chunk, next] = e.next();
    out.push(chunk);
    e = next;
  }
  return out;
}

describe('erasure-coded chunks', () => {
  it.each(SIZES)('a %i-byte message: the first n chunks are the message itself', (size) => {
    const message = random(size);
    const n = size / CHUNK_LENGTH;
    const sent = chunks(ChunkEncoder.of(message), n);
    expect(hex(new Uint8Array(sent.flatMap((c) => [...c.data])))).toBe(hex(message));
    let decoder = ChunkDecoder.forLength(size);
    for (const [i, chunk] of sent.entries()) {
      expect(decoder.decoded()).toBeUndefined();
      decoder = decoder.withChunk(chunk);
      if (i < n - 1) expect(decoder.decoded()).toBeUndefined();
    }
    expect(hex(decoder.decoded()!)).toBe(hex(message));
  });

  it('any n of the first 3n chunks, in any order, rebuild the message', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...SIZES),
        fc.integer({ min: 0, max: 2 ** 31 }),
        fc.integer({ min: 0, max: 60 }),
        (size, seed, duplicates) => {
          const message = createDeterministicRandom(`m${seed}`)(size);
          const n = size / CHUNK_LENGTH;
          const all = chunks(ChunkEncoder.of(message), 3 * n);
          const pick = createDeterministicRandom(`p${seed}`);
          const order = all
            .map((_chunk, i) => [pick(4).reduce((a, b) => a * 256 + b, 0), i] as const)
            .sort((a, b) => a[0] - b[0]);
          const chosen = order.slice(0, n).map(([, i]) => all[i]!);
          let decoder = ChunkDecoder.forLength(size);
          for (const chunk of chosen) decoder = decoder.withChunk(chunk);
          // Repeats of chunks already seen change nothing.
          for (let d = 0; d < duplicates; d++) decoder = decoder.withChunk(chosen[d % chosen.length]!);
          expect(hex(decoder.decoded()!)).toBe(hex(message));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('a decoder is not changed by adding a chunk to it', () => {
    const message = random(160);
    const [chunk] = ChunkEncoder.of(message).next();
    const empty = ChunkDecoder.forLength(160);
    const one = empty.withChunk(chunk);
    expect(empty.lanes.every((lane) => lane.length === 0)).toBe(true);
    expect(one.lanes.every((lane) => lane.length === 1)).toBe(true);
  });

  it('chunk indexes wrap at 16 bits', () => {
    const encoder = ChunkEncoder.of(random(96), 0xffff);
    const [last, next] = encoder.next();
    expect(last.index).toBe(0xffff);
    expect(next.next()[0].index).toBe(0);
  });
});
