import type { Rng } from '../rng.js';
import { encodeVarint, joinFields, type RawField, readVarint, splitFields } from './protobuf-fields.js';

/**
 * What a seed is, so mutations can respect its framing and most inputs get past the first
 * byte: Signal messages keep their version byte (and a SignalMessage its MAC slot), protobuf
 * bodies are mutated field by field, Parley records by their u32 lengths and u64 times.
 */
export type Shape =
  /** Bytes without known structure. */
  | 'raw'
  /** Parley's own record format (binary.ts): fixed-width integers, u32-length-prefixed bytes. */
  | 'record'
  /** version byte ‖ protobuf ‖ 8-byte MAC. */
  | 'signal-message'
  /** version byte ‖ protobuf whose field 4 is a SignalMessage. */
  | 'prekey-message';

export interface Mutated {
  readonly bytes: Uint8Array;
  /** Which mutations were applied, for the reproducer. */
  readonly steps: readonly string[];
}

const MAC_LENGTH = 8;
const PREKEY_INNER_MESSAGE_FIELD = 4;

/** Values that sit on boundaries our decoders check (sizes, uint32, safe integers, 64 bits). */
const INTERESTING_VARINTS: readonly bigint[] = [
  0n,
  1n,
  2n,
  0x7fn,
  0x80n,
  1_999n,
  2_000n,
  2_001n,
  24_999n,
  25_000n,
  25_001n,
  0x7fff_ffffn,
  0x8000_0000n,
  0xffff_ffffn,
  0x1_0000_0000n,
  (1n << 53n) - 1n,
  1n << 53n,
  (1n << 64n) - 1n,
];

const INTERESTING_U32: readonly number[] = [
  0, 1, 2, 32, 33, 0x7f, 0x80, 0xff, 0xffff, 0x7fff_ffff, 0xffff_ffff,
];
const INTERESTING_BYTES: readonly number[] = [0, 1, 0x05, 0x08, 0x33, 0x34, 0x44, 0x7f, 0x80, 0xfe, 0xff];

/**
 * One fuzz input from a seed: 1–3 stacked mutations, structure-aware about half the time.
 * `others` are seeds of the same family, for splices and cross-over of fields.
 */
export function mutate(
  rng: Rng,
  seed: Uint8Array,
  shape: Shape,
  others: readonly Uint8Array[] = [],
): Mutated {
  let bytes: Uint8Array = seed.slice();
  const steps: string[] = [];
  const count = rng.weighted([
    [1, 6],
    [2, 3],
    [3, 1],
  ] as const);
  for (let i = 0; i < count; i++) {
    const structured = shape !== 'raw' && rng.chance(0.55);
    const result = structured ? mutateStructured(rng, bytes, shape, others) : undefined;
    if (result) {
      bytes = result.bytes;
      steps.push(result.step);
    } else {
      // Keep the version byte of a message most of the time: a mutation there only tests one branch.
      const protect =
        shape === 'signal-message' || shape === 'prekey-message' ? (rng.chance(0.92) ? 1 : 0) : 0;
      const plain = mutateBytes(rng, bytes, protect, others);
      bytes = plain.bytes;
      steps.push(plain.step);
    }
  }
  return { bytes, steps };
}

// ── Byte-level mutations ────────────────────────────────────────────────────────────

export function mutateBytes(
  rng: Rng,
  input: Uint8Array,
  protect: number,
  others: readonly Uint8Array[],
): { bytes: Uint8Array; step: string } {
  const start = Math.min(protect, input.length);
  const span = input.length - start;
  const position = () => start + rng.int(Math.max(span, 1));
  const kind = rng.weighted([
    ['bitflip', 5],
    ['byte', 3],
    ['truncate', 2],
    ['extend', 1],
    ['delete', 2],
    ['insert', 2],
    ['splice', others.length > 0 ? 2 : 0],
    ['varint', 3],
    ['u32', 2],
  ] as const);
  const out = input.slice();
  switch (kind) {
    case 'bitflip': {
      if (span <= 0) break;
      const flips = rng.between(1, 4);
      let where = position();
      for (let i = 0; i < flips; i++) {
        out[where] = out[where]! ^ (1 << rng.int(8));
        if (rng.chance(0.5)) where = position();
      }
      return { bytes: out, step: `bitflip×${flips}@${where}` };
    }
    case 'byte': {
      if (span <= 0) break;
      const where = position();
      out[where] = rng.chance(0.6) ? rng.pick(INTERESTING_BYTES) : rng.int(256);
      return { bytes: out, step: `byte@${where}=${out[where]}` };
    }
    case 'truncate': {
      const keep = start + rng.int(span + 1);
      return { bytes: input.slice(0, keep), step: `truncate→${keep}` };
    }
    case 'extend': {
      const extra = rng.chance(0.5) ? rng.bytes(rng.between(1, 16)) : new Uint8Array(rng.between(1, 64));
      return { bytes: concat(input, extra), step: `extend+${extra.length}` };
    }
    case 'delete': {
      if (span <= 0) break;
      const from = position();
      const length = Math.min(rng.between(1, 16), input.length - from);
      return {
        bytes: concat(input.subarray(0, from), input.subarray(from + length)),
        step: `delete@${from}+${length}`,
      };
    }
    case 'insert': {
      const at = start + rng.int(span + 1);
      const chunk =
        rng.chance(0.5) && input.length > 0
          ? input.slice(rng.int(input.length), rng.int(input.length) + rng.between(1, 32))
          : rng.bytes(rng.between(1, 16));
      return {
        bytes: concat(input.subarray(0, at), chunk, input.subarray(at)),
        step: `insert@${at}+${chunk.length}`,
      };
    }
    case 'splice': {
      const other = rng.pick(others);
      const cutA = start + rng.int(span + 1);
      const cutB = rng.int(other.length + 1);
      return { bytes: concat(input.subarray(0, cutA), other.subarray(cutB)), step: `splice@${cutA}/${cutB}` };
    }
    case 'varint': {
      if (span <= 0) break;
      const at = position();
      const found = readVarint(input, at);
      const oldEnd = found ? found.next : at + 1;
      const value = encodeVarint(rng.pick(INTERESTING_VARINTS));
      return { bytes: concat(input.subarray(0, at), value, input.subarray(oldEnd)), step: `varint@${at}` };
    }
    case 'u32': {
      if (span < 4) break;
      const at = start + rng.int(span - 3);
      new DataView(out.buffer).setUint32(at, rng.pick(INTERESTING_U32));
      return { bytes: out, step: `u32@${at}` };
    }
  }
  // Nothing to mutate in place (empty input): grow it instead.
  return { bytes: concat(input, rng.bytes(rng.between(1, 8))), step: 'grow' };
}

// ── Structure-aware mutations ───────────────────────────────────────────────────────

function mutateStructured(
  rng: Rng,
  input: Uint8Array,
  shape: Shape,
  others: readonly Uint8Array[],
): { bytes: Uint8Array; step: string } | undefined {
  switch (shape) {
    case 'record':
      return mutateRecord(rng, input);
    case 'signal-message': {
      if (input.length < 1 + MAC_LENGTH) return undefined;
      const body = input.subarray(1, input.length - MAC_LENGTH);
      const otherBodies = others
        .filter((o) => o.length >= 1 + MAC_LENGTH)
        .map((o) => o.subarray(1, o.length - MAC_LENGTH));
      const result = mutateProtobuf(rng, body, otherBodies, undefined);
      if (!result) return undefined;
      return {
        bytes: concat(input.subarray(0, 1), result.bytes, input.subarray(input.length - MAC_LENGTH)),
        step: `signal:${result.step}`,
      };
    }
    case 'prekey-message': {
      if (input.length < 1) return undefined;
      const result = mutateProtobuf(
        rng,
        input.subarray(1),
        others.filter((o) => o.length > 1).map((o) => o.subarray(1)),
        { field: PREKEY_INNER_MESSAGE_FIELD, shape: 'signal-message' },
      );
      if (!result) return undefined;
      return { bytes: concat(input.subarray(0, 1), result.bytes), step: `prekey:${result.step}` };
    }
    default:
      return undefined;
  }
}

function mutateProtobuf(
  rng: Rng,
  body: Uint8Array,
  others: readonly Uint8Array[],
  nested: { field: number; shape: Shape } | undefined,
): { bytes: Uint8Array; step: string } | undefined {
  const fields = splitFields(body);
  if (!fields || fields.length === 0) return undefined;
  const index = rng.int(fields.length);
  const field = fields[index]!;
  const kind = rng.weighted([
    ['drop', 2],
    ['repeat', 2],
    ['swap', 1],
    ['renumber', 1],
    ['wiretype', 1],
    ['value', 6],
    ['unknown', 1],
    ['overlong', 1],
    ['cross', others.length > 0 ? 2 : 0],
  ] as const);
  const next = fields.slice();
  switch (kind) {
    case 'drop':
      next.splice(index, 1);
      break;
    case 'repeat':
      next.splice(rng.int(next.length + 1), 0, { ...field });
      break;
    case 'swap': {
      const other = rng.int(next.length);
      [next[index], next[other]] = [next[other]!, next[index]!];
      break;
    }
    case 'renumber':
      next[index] = {
        ...field,
        fieldNumber: rng.pick([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 2047, 0x1fff_ffff]),
      };
      break;
    case 'wiretype':
      next[index] = { ...field, wireType: rng.pick([0, 1, 2, 3, 4, 5, 6, 7]) };
      if (next[index]!.wireType === 0) next[index]!.varint = 1n;
      else next[index]!.payload ??= rng.bytes(rng.pick([4, 8, 16]));
      break;
    case 'value':
      next[index] = mutateFieldValue(rng, field, nested);
      break;
    case 'unknown':
      next.splice(rng.int(next.length + 1), 0, {
        fieldNumber: rng.between(7, 40),
        wireType: rng.pick([0, 2]),
        varint: rng.pick(INTERESTING_VARINTS),
        payload: rng.bytes(rng.between(0, 40)),
      });
      break;
    case 'overlong': {
      // A non-minimal encoding of the same value: decoders must either accept it or refuse cleanly.
      const bytes = joinFields(next.slice(0, index));
      const rest = joinFields(next.slice(index + 1));
      const tag = encodeVarint((BigInt(field.fieldNumber) << 3n) | BigInt(field.wireType));
      const padded = concat(tag.subarray(0, -1), Uint8Array.of(tag[tag.length - 1]! | 0x80, 0x00));
      const value = joinFields([field]).subarray(tag.length);
      return { bytes: concat(bytes, padded, value, rest), step: `overlong(${field.fieldNumber})` };
    }
    case 'cross': {
      const donor = splitFields(rng.pick(others));
      const same = donor?.filter((candidate) => candidate.fieldNumber === field.fieldNumber);
      if (!same || same.length === 0) return undefined;
      next[index] = { ...rng.pick(same) };
      break;
    }
  }
  return { bytes: joinFields(next), step: `${kind}(${field.fieldNumber})` };
}

function mutateFieldValue(
  rng: Rng,
  field: RawField,
  nested: { field: number; shape: Shape } | undefined,
): RawField {
  if (field.wireType === 0) {
    const current = field.varint ?? 0n;
    const value = rng.weighted([
      [rng.pick(INTERESTING_VARINTS), 4],
      [current + BigInt(rng.between(1, 3)), 2],
      [current > 0n ? current - 1n : 0n, 1],
      [current + BigInt(rng.between(2, 30_000)), 2],
    ] as const);
    return { ...field, varint: value };
  }
  const payload = field.payload ?? new Uint8Array(0);
  if (nested && field.fieldNumber === nested.field && field.wireType === 2 && rng.chance(0.7)) {
    const inner = mutateStructured(rng, payload, nested.shape, []) ?? mutateBytes(rng, payload, 1, []);
    return { ...field, payload: inner.bytes };
  }
  const choice = rng.weighted([
    ['bytes', 5],
    ['empty', 1],
    ['grow', 1],
    ['type-byte', 1],
  ] as const);
  switch (choice) {
    case 'empty':
      return { ...field, payload: new Uint8Array(0) };
    case 'grow':
      return { ...field, payload: concat(payload, rng.bytes(rng.between(1, 8))) };
    case 'type-byte': {
      const out = payload.length > 0 ? payload.slice() : new Uint8Array(1);
      out[0] = rng.pick(INTERESTING_BYTES);
      return { ...field, payload: out };
    }
    default:
      return { ...field, payload: mutateBytes(rng, payload, 0, []).bytes };
  }
}

/**
 * Parley records: the interesting places are u32 length prefixes (a length that no longer
 * matches what follows), counts, and u64 timestamps (2^53 and above must be refused).
 */
function mutateRecord(rng: Rng, input: Uint8Array): { bytes: Uint8Array; step: string } | undefined {
  const lengths = findLengthPrefixes(input);
  const kind = rng.weighted([
    ['length', lengths.length > 0 ? 4 : 0],
    ['u64', input.length >= 8 ? 2 : 0],
    ['format', 1],
    ['cut-field', lengths.length > 0 ? 2 : 0],
  ] as const);
  const out = input.slice();
  const view = new DataView(out.buffer);
  switch (kind) {
    case 'length': {
      const at = rng.pick(lengths);
      const current = view.getUint32(at);
      const value = rng.pick([
        0,
        current + 1,
        Math.max(current - 1, 0),
        0xffff_ffff,
        0x7fff_ffff,
        input.length,
      ]);
      view.setUint32(at, value >>> 0);
      return { bytes: out, step: `length@${at}=${value}` };
    }
    case 'u64': {
      const at = rng.int(input.length - 7);
      const value = rng.pick([0, 0x1f_ffff, 0x20_0000, 0xffff_ffff]);
      view.setUint32(at, value);
      return { bytes: out, step: `u64hi@${at}=${value}` };
    }
    case 'format': {
      if (out.length === 0) return undefined;
      out[0] = rng.pick([0, 2, 3, 0xff]);
      return { bytes: out, step: `format=${out[0]}` };
    }
    case 'cut-field': {
      // Drop one length-prefixed field entirely: the fields after it shift into its place.
      const at = rng.pick(lengths);
      const length = view.getUint32(at);
      return { bytes: concat(input.subarray(0, at), input.subarray(at + 4 + length)), step: `cut@${at}` };
    }
  }
  return undefined;
}

/** Offsets of 4-byte big-endian values that could be the length of the bytes that follow them. */
function findLengthPrefixes(input: Uint8Array): number[] {
  const out: number[] = [];
  const view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  for (let at = 0; at + 4 <= input.length && out.length < 64; at++) {
    const value = view.getUint32(at);
    if (value > 0 && value <= input.length - at - 4 && (value <= 64 || value === input.length - at - 4))
      out.push(at);
  }
  return out;
}

export function concat(...parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
