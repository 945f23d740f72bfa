import { CHUNK_LENGTH, type Chunk } from './erasure-code.js';
import { pqRatchetError } from './refusal.js';

/**
 * The pq_ratchet field of a SignalMessage (SPQR v1, `v1/chunked/states/serialize.rs`):
 *
 *   u8 version (1) ‖ varint epoch (≥ 1) ‖ varint index (u32) ‖ u8 type ‖ [varint chunk index ‖ 32 bytes]
 *
 * `index` is the message's position in its SPQR sending chain (0 when the sender has no chain
 * yet); the chunk carries 32 bytes of an erasure-coded ML-KEM header, key or ciphertext. Bytes
 * after the message are allowed (room for later versions) and ignored.
 */
export const SPQR_VERSION_1 = 1;

export type Payload =
  | { readonly type: 'none' }
  | { readonly type: 'header'; readonly chunk: Chunk }
  | { readonly type: 'encapsulation-key'; readonly chunk: Chunk }
  /** A key chunk that also acknowledges the whole first ciphertext part. */
  | { readonly type: 'encapsulation-key-ct1-ack'; readonly chunk: Chunk }
  | { readonly type: 'ct1-ack' }
  | { readonly type: 'ciphertext1'; readonly chunk: Chunk }
  | { readonly type: 'ciphertext2'; readonly chunk: Chunk };

export interface BraidMessage {
  readonly epoch: number;
  readonly payload: Payload;
}

const TYPE_CODES = {
  none: 0,
  header: 1,
  'encapsulation-key': 2,
  'encapsulation-key-ct1-ack': 3,
  'ct1-ack': 4,
  ciphertext1: 5,
  ciphertext2: 6,
} as const;
const TYPES = Object.keys(TYPE_CODES) as Payload['type'][];
const MAX_VARINT_BYTES = 10;

function writeVarint(out: number[], value: number): void {
  let v = BigInt(value);
  do {
    const byte = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v > 0n ? byte | 0x80 : byte);
  } while (v > 0n);
}

/** A varint of up to 10 bytes; values beyond 2^53 cannot be an epoch or index we accept. */
function readVarint(bytes: Uint8Array, at: { offset: number }): number {
  let value = 0n;
  for (let i = 0; i < MAX_VARINT_BYTES && at.offset + i < bytes.length; i++) {
    const byte = bytes[at.offset + i]!;
    value |= BigInt(byte & 0x7f) << BigInt(7 * i);
    if ((byte & 0x80) === 0) {
      at.offset += i + 1;
      value &= 0xffff_ffff_ffff_ffffn;
      if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw malformed('a number is out of range');
      return Number(value);
    }
  }
  throw malformed('a number is truncated');
}

function malformed(why: string): Error {
  return pqRatchetError('malformed', `malformed SPQR message: ${why}`);
}

export function encodeBraidMessage(message: BraidMessage, index: number): Uint8Array {
  const out: number[] = [SPQR_VERSION_1];
  writeVarint(out, message.epoch);
  writeVarint(out, index);
  out.push(TYPE_CODES[message.payload.type]);
  const payload = message.payload;
  if ('chunk' in payload) {
    writeVarint(out, payload.chunk.index);
    out.push(...payload.chunk.data);
  }
  return Uint8Array.from(out);
}

export function decodeBraidMessage(bytes: Uint8Array): { message: BraidMessage; index: number } {
  if (bytes.length === 0 || bytes[0] !== SPQR_VERSION_1) throw malformed('not version 1');
  const at = { offset: 1 };
  const epoch = readVarint(bytes, at);
  if (epoch === 0) throw malformed('epoch 0');
  const index = readVarint(bytes, at);
  if (index > 0xffff_ffff) throw malformed('index out of range');
  if (at.offset >= bytes.length) throw malformed('no message type');
  const type = TYPES[bytes[at.offset]!];
  if (type === undefined) throw malformed('unknown message type');
  at.offset++;
  let payload: Payload;
  if (type === 'none' || type === 'ct1-ack') {
    payload = { type };
  } else {
    const chunkIndex = readVarint(bytes, at);
    if (chunkIndex > 0xffff) throw malformed('chunk index out of range');
    if (at.offset + CHUNK_LENGTH > bytes.length) throw malformed('chunk truncated');
    const data = bytes.slice(at.offset, at.offset + CHUNK_LENGTH);
    payload = { type, chunk: { index: chunkIndex, data } };
  }
  return { message: { epoch, payload }, index };
}
