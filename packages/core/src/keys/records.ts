/**
 * Binary records for key material the store keeps as opaque bytes. Layout: format version,
 * record kind, then fixed-width fields (ids and timestamps big-endian). Fixed lengths make
 * every truncation or extension detectable; decoders return fresh copies.
 */
import { assertBytes, assertInteger } from '../crypto/guards.js';
import { ParleyError } from '../errors.js';
import {
  assertKeyBytes,
  CURVE25519_KEY_TYPE,
  deserializePublicKey,
  type KeyPair,
  PRIVATE_KEY_LENGTH,
  SERIALIZED_PUBLIC_KEY_LENGTH,
  SIGNATURE_LENGTH,
} from './curve.js';
import type { OneTimePreKey, SignedPreKey } from './prekeys.js';

export const KEY_RECORD_VERSION = 1;
const KIND_KEY_PAIR = 1;
const KIND_SIGNED_PREKEY = 2;
const KIND_ONE_TIME_PREKEY = 3;
/** Kind 4 is taken by Kyber prekey records (keys/kyber-prekeys.ts). */

const HEADER = 2;
const KEY_PAIR_BYTES = SERIALIZED_PUBLIC_KEY_LENGTH + PRIVATE_KEY_LENGTH;
const KEY_PAIR_RECORD_LENGTH = HEADER + KEY_PAIR_BYTES;
const SIGNED_PREKEY_RECORD_LENGTH = HEADER + 4 + 8 + KEY_PAIR_BYTES + SIGNATURE_LENGTH;
const ONE_TIME_PREKEY_RECORD_LENGTH = HEADER + 4 + KEY_PAIR_BYTES;

const KIND_NAMES: Record<number, string> = {
  [KIND_KEY_PAIR]: 'key pair',
  [KIND_SIGNED_PREKEY]: 'signed prekey',
  [KIND_ONE_TIME_PREKEY]: 'one-time prekey',
};

function invalidRecord(kind: number, reason: string): ParleyError {
  return new ParleyError('ERR_INVALID_RECORD', `invalid ${KIND_NAMES[kind]} record: ${reason}`, {
    record: KIND_NAMES[kind],
  });
}

function checkKeyPair(keyPair: KeyPair): void {
  if (typeof keyPair !== 'object' || keyPair === null) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"keyPair" expected an object', { field: 'keyPair' });
  }
  deserializePublicKey(keyPair.publicKey, 'keyPair.publicKey');
  assertKeyBytes(keyPair.privateKey, 'keyPair.privateKey', PRIVATE_KEY_LENGTH);
}

function begin(kind: number, length: number): { out: Uint8Array; view: DataView } {
  const out = new Uint8Array(length);
  out[0] = KEY_RECORD_VERSION;
  out[1] = kind;
  return { out, view: new DataView(out.buffer) };
}

function open(kind: number, record: Uint8Array, length: number): DataView {
  assertBytes(record, 'record');
  if (record.length < HEADER) throw invalidRecord(kind, `${record.length} bytes`);
  if (record[0] !== KEY_RECORD_VERSION) throw invalidRecord(kind, `unknown format version ${record[0]}`);
  if (record[1] !== kind) throw invalidRecord(kind, `record kind ${record[1]}`);
  if (record.length !== length) throw invalidRecord(kind, `expected ${length} bytes, got ${record.length}`);
  return new DataView(record.buffer, record.byteOffset, record.byteLength);
}

function readKeyPair(kind: number, record: Uint8Array, offset: number): KeyPair {
  const publicKey = record.slice(offset, offset + SERIALIZED_PUBLIC_KEY_LENGTH);
  if (publicKey[0] !== CURVE25519_KEY_TYPE) throw invalidRecord(kind, `public key type ${publicKey[0]}`);
  const privateKey = record.slice(offset + SERIALIZED_PUBLIC_KEY_LENGTH, offset + KEY_PAIR_BYTES);
  return { publicKey, privateKey };
}

function writeKeyPair(out: Uint8Array, offset: number, keyPair: KeyPair): void {
  out.set(keyPair.publicKey, offset);
  out.set(keyPair.privateKey, offset + SERIALIZED_PUBLIC_KEY_LENGTH);
}

export function encodeKeyPairRecord(keyPair: KeyPair): Uint8Array {
  checkKeyPair(keyPair);
  const { out } = begin(KIND_KEY_PAIR, KEY_PAIR_RECORD_LENGTH);
  writeKeyPair(out, HEADER, keyPair);
  return out;
}

export function decodeKeyPairRecord(record: Uint8Array): KeyPair {
  open(KIND_KEY_PAIR, record, KEY_PAIR_RECORD_LENGTH);
  return readKeyPair(KIND_KEY_PAIR, record, HEADER);
}

export function encodeSignedPreKeyRecord(signedPreKey: SignedPreKey): Uint8Array {
  assertInteger(signedPreKey.id, 'id', 0, 0xffffffff);
  assertInteger(signedPreKey.timestamp, 'timestamp', 0, Number.MAX_SAFE_INTEGER);
  checkKeyPair(signedPreKey.keyPair);
  assertBytes(signedPreKey.signature, 'signature', SIGNATURE_LENGTH);
  const { out, view } = begin(KIND_SIGNED_PREKEY, SIGNED_PREKEY_RECORD_LENGTH);
  view.setUint32(HEADER, signedPreKey.id);
  view.setBigUint64(HEADER + 4, BigInt(signedPreKey.timestamp));
  writeKeyPair(out, HEADER + 12, signedPreKey.keyPair);
  out.set(signedPreKey.signature, HEADER + 12 + KEY_PAIR_BYTES);
  return out;
}

export function decodeSignedPreKeyRecord(record: Uint8Array): SignedPreKey {
  const view = open(KIND_SIGNED_PREKEY, record, SIGNED_PREKEY_RECORD_LENGTH);
  const id = view.getUint32(HEADER);
  const timestamp = view.getBigUint64(HEADER + 4);
  if (timestamp > BigInt(Number.MAX_SAFE_INTEGER))
    throw invalidRecord(KIND_SIGNED_PREKEY, 'timestamp out of range');
  const keyPair = readKeyPair(KIND_SIGNED_PREKEY, record, HEADER + 12);
  const signature = record.slice(HEADER + 12 + KEY_PAIR_BYTES);
  return { id, keyPair, signature, timestamp: Number(timestamp) };
}

export function encodeOneTimePreKeyRecord(preKey: OneTimePreKey): Uint8Array {
  assertInteger(preKey.id, 'id', 0, 0xffffffff);
  checkKeyPair(preKey.keyPair);
  const { out, view } = begin(KIND_ONE_TIME_PREKEY, ONE_TIME_PREKEY_RECORD_LENGTH);
  view.setUint32(HEADER, preKey.id);
  writeKeyPair(out, HEADER + 4, preKey.keyPair);
  return out;
}

export function decodeOneTimePreKeyRecord(record: Uint8Array): OneTimePreKey {
  const view = open(KIND_ONE_TIME_PREKEY, record, ONE_TIME_PREKEY_RECORD_LENGTH);
  return { id: view.getUint32(HEADER), keyPair: readKeyPair(KIND_ONE_TIME_PREKEY, record, HEADER + 4) };
}
