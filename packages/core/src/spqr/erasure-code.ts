import { gfDiv, gfMul } from './gf16.js';

/**
 * SPQR's erasure code: a message (an ML-KEM header, key part or ciphertext part) is sent as a
 * stream of 32-byte chunks, any `n` of which rebuild an `n`-chunk message, so lost or reordered
 * SignalMessages do not stall the braid.
 *
 * The message is read as big-endian 16-bit elements of GF(2^16), dealt round-robin into 16
 * lanes: element e goes to lane e mod 16 at position ⌊e / 16⌋. Each lane is the polynomial
 * of lowest degree through its points (position, element). Chunk i holds the 16 lanes' values
 * at position i: for i below the lane length that is the message itself (a systematic code);
 * beyond it, the polynomial evaluated there (Reed–Solomon by Lagrange interpolation).
 */
export const CHUNK_LENGTH = 32;
const LANES = 16;
/** Chunk indexes are 16 bits on the wire; the sender's counter wraps. */
const INDEX_MASK = 0xffff;

export interface Chunk {
  /** 0 … 65 535. */
  readonly index: number;
  /** 32 bytes. */
  readonly data: Uint8Array;
}

function elementCount(length: number): number {
  return length >> 1;
}

/** Points lane `lane` needs for a message of `elements` elements. */
function lanePoints(elements: number, lane: number): number {
  return Math.floor(elements / LANES) + (lane < elements % LANES ? 1 : 0);
}

/**
 * Lagrange weights at `x` for the points at `xs`: the value at x of a lane polynomial is
 * Σ_k weight[k]·y_k, the same weights for every lane with those points — remembered, since
 * the 16 lanes of a message usually share them.
 */
const weightMemo = new Map<string, number[]>();
const MAX_MEMO = 4_096;

function weightsAt(xs: readonly number[], x: number): number[] {
  const key = `${x}:${xs.join(',')}`;
  const memo = weightMemo.get(key);
  if (memo) return memo;
  const weights = computeWeights(xs, x);
  if (weightMemo.size >= MAX_MEMO) weightMemo.clear();
  weightMemo.set(key, weights);
  return weights;
}

function computeWeights(xs: readonly number[], x: number): number[] {
  const weights: number[] = [];
  for (let k = 0; k < xs.length; k++) {
    let numerator = 1;
    let denominator = 1;
    for (let j = 0; j < xs.length; j++) {
      if (j === k) continue;
      numerator = gfMul(numerator, x ^ xs[j]!);
      denominator = gfMul(denominator, xs[k]! ^ xs[j]!);
    }
    weights.push(gfDiv(numerator, denominator));
  }
  return weights;
}

/** Produces the chunks of one message, in order; immutable (`next` returns the advanced encoder). */
export class ChunkEncoder {
  private constructor(
    /** The message (even length). */
    readonly message: Uint8Array,
    /** Counter of the next chunk to send (32 bits; its low 16 bits are the chunk index). */
    readonly nextIndex: number,
  ) {}

  static of(message: Uint8Array, nextIndex = 0): ChunkEncoder {
    if (message.length % 2 !== 0) throw new RangeError('erasure code: message length must be even');
    return new ChunkEncoder(message, nextIndex >>> 0);
  }

  /** The next chunk and the encoder that continues after it. */
  next(): [Chunk, ChunkEncoder] {
    return [
      this.chunkAt(this.nextIndex & INDEX_MASK),
      new ChunkEncoder(this.message, (this.nextIndex + 1) >>> 0),
    ];
  }

  chunkAt(index: number): Chunk {
    const elements = elementCount(this.message.length);
    const data = new Uint8Array(CHUNK_LENGTH);
    const view = new DataView(this.message.buffer, this.message.byteOffset, this.message.byteLength);
    let weights: number[] | undefined;
    let weightsFor = -1;
    for (let lane = 0; lane < LANES; lane++) {
      const n = lanePoints(elements, lane);
      let value = 0;
      if (index < n) {
        value = view.getUint16(2 * (index * LANES + lane));
      } else if (n > 0) {
        if (weightsFor !== n) {
          weights = weightsAt(
            Array.from({ length: n }, (_, x) => x),
            index,
          );
          weightsFor = n;
        }
        for (let x = 0; x < n; x++) value ^= gfMul(weights![x]!, view.getUint16(2 * (x * LANES + lane)));
      }
      data[2 * lane] = value >> 8;
      data[2 * lane + 1] = value & 0xff;
    }
    return { index, data };
  }
}

/** A received point of one lane. */
export interface LanePoint {
  readonly x: number;
  readonly y: number;
}

/**
 * Collects chunks until a message of `length` bytes can be rebuilt; immutable (`withChunk`
 * returns a new decoder), so a decrypt can try a chunk and drop the result.
 *
 * Which points are kept follows libsignal's decoder, so both sides agree on the outcome even
 * for inconsistent input: a point is kept when its position is one the message needs or while
 * its lane still lacks points; a second point at a known position is ignored.
 */
export class ChunkDecoder {
  private constructor(
    readonly length: number,
    /** Per lane, ascending by x. */
    readonly lanes: readonly (readonly LanePoint[])[],
  ) {}

  static forLength(length: number): ChunkDecoder {
    if (length % 2 !== 0) throw new RangeError('erasure code: message length must be even');
    return new ChunkDecoder(
      length,
      Array.from({ length: LANES }, () => []),
    );
  }

  /** Rebuilds a decoder from stored lanes (already validated by the caller). */
  static restore(length: number, lanes: readonly (readonly LanePoint[])[]): ChunkDecoder {
    return new ChunkDecoder(length, lanes);
  }

  private needed(lane: number): number {
    return lanePoints(elementCount(this.length), lane);
  }

  withChunk(chunk: Chunk): ChunkDecoder {
    const lanes = this.lanes.map((points, lane) => {
      const needed = this.needed(lane);
      const x = chunk.index;
      if (!(x < needed || points.length < needed)) return points;
      let at = 0;
      while (at < points.length && points[at]!.x < x) at++;
      if (at < points.length && points[at]!.x === x) return points;
      const y = (chunk.data[2 * lane]! << 8) | chunk.data[2 * lane + 1]!;
      return [...points.slice(0, at), { x, y }, ...points.slice(at)];
    });
    return new ChunkDecoder(this.length, lanes);
  }

  /** The message, once every lane has enough points; undefined before. */
  decoded(): Uint8Array | undefined {
    const elements = elementCount(this.length);
    for (let lane = 0; lane < LANES; lane++)
      if (this.lanes[lane]!.length < this.needed(lane)) return undefined;
    const out = new Uint8Array(this.length);
    for (let lane = 0; lane < LANES; lane++) {
      const points = this.lanes[lane]!;
      const basis = points.slice(0, this.needed(lane));
      const xs = basis.map((p) => p.x);
      for (let x = 0; x * LANES + lane < elements; x++) {
        const known = points.find((p) => p.x === x);
        let value: number;
        if (known) {
          value = known.y;
        } else {
          const weights = weightsAt(xs, x);
          value = 0;
          for (let k = 0; k < basis.length; k++) value ^= gfMul(weights[k]!, basis[k]!.y);
        }
        const e = x * LANES + lane;
        out[2 * e] = value >> 8;
        out[2 * e + 1] = value & 0xff;
      }
    }
    return out;
  }
}
