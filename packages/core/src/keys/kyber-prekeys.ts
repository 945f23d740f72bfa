/**
 * Kyber prekeys (PQXDH): a Kyber-1024 key pair whose 1569-byte serialized public key is signed
 * with XEdDSA by the identity key, exactly as libsignal's `KyberPreKeyRecord`. One-time Kyber
 * prekeys are consumed with the session that uses them; a last-resort Kyber prekey is long-lived
 * and may serve many sessions (never twice with the same base key — the store enforces that).
 *
 * Record layout (fixed length, big-endian, same conventions as `records.ts`):
 * format version ‖ kind (4) ‖ flags (bit 0: last resort) ‖ id u32 ‖ timestamp u64 ‖
 * public key (1569) ‖ secret key (3169) ‖ signature (64).
 */
import { assertBytes, assertInteger } from '../crypto/guards.js';
import type { CryptoProvider } from '../crypto/provider.js';
import { ParleyError } from '../errors.js';
import {
  assertKyberPublicKey,
  assertKyberSecretKey,
  generateKyberKeyPair,
  KYBER_KEY_TYPE,
  KYBER1024_PUBLIC_KEY_LENGTH,
  KYBER1024_SECRET_KEY_LENGTH,
  kyberPublicKeyFromSecretKey,
} from '../kyber/kyber1024.js';
import {
  assertKeyBytes,
  type KeyContext,
  type KeyPair,
  SIGNATURE_LENGTH,
  sign,
  verifySignature,
} from './curve.js';
import { MAX_LOCAL_PREKEY_ID, MAX_UINT32 } from './prekeys.js';
import { KEY_RECORD_VERSION } from './records.js';

export interface KyberPreKey {
  readonly id: number;
  /** 1569 bytes, `0x08 ‖ Kyber-1024 public key`. */
  readonly publicKey: Uint8Array;
  /** 3169 bytes, `0x08 ‖ Kyber-1024 secret key`. Secret. */
  readonly secretKey: Uint8Array;
  /** 64 bytes: XEdDSA by the identity key over the 1569-byte serialized public key. */
  readonly signature: Uint8Array;
  /** Epoch milliseconds, from the injected clock. */
  readonly timestamp: number;
  /** A long-lived last-resort key (reusable across sessions) rather than a one-time key. */
  readonly lastResort: boolean;
}

export interface GenerateKyberPreKeyOptions {
  /** Default false: a one-time Kyber prekey. */
  readonly lastResort?: boolean | undefined;
}

const KIND_KYBER_PREKEY = 4;
const FLAG_LAST_RESORT = 0x01;
const HEADER = 2;
const OFFSET_FLAGS = HEADER;
const OFFSET_ID = OFFSET_FLAGS + 1;
const OFFSET_TIMESTAMP = OFFSET_ID + 4;
const OFFSET_PUBLIC_KEY = OFFSET_TIMESTAMP + 8;
const OFFSET_SECRET_KEY = OFFSET_PUBLIC_KEY + KYBER1024_PUBLIC_KEY_LENGTH;
const OFFSET_SIGNATURE = OFFSET_SECRET_KEY + KYBER1024_SECRET_KEY_LENGTH;
export const KYBER_PREKEY_RECORD_LENGTH = OFFSET_SIGNATURE + SIGNATURE_LENGTH;

function invalidRecord(reason: string): ParleyError {
  return new ParleyError('ERR_INVALID_RECORD', `invalid Kyber prekey record: ${reason}`, {
    record: 'Kyber prekey',
  });
}

function readLastResortOption(options: unknown): boolean {
  if (options === undefined) return false;
  if (typeof options !== 'object' || options === null) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"options" expected an object', { field: 'options' });
  }
  const lastResort = (options as GenerateKyberPreKeyOptions).lastResort;
  if (lastResort === undefined) return false;
  if (typeof lastResort !== 'boolean') {
    throw new ParleyError(
      'ERR_INVALID_ARGUMENT',
      `"lastResort" expected a boolean, got ${typeof lastResort}`,
      {
        field: 'lastResort',
      },
    );
  }
  return lastResort;
}

/**
 * A fresh Kyber prekey signed by `identity`. Randomness: 64 bytes for the key pair, then 64 for
 * the signature. Ids we generate are 24-bit like other prekeys (`MAX_LOCAL_PREKEY_ID`).
 */
export function generateKyberPreKey(
  ctx: KeyContext,
  identity: KeyPair,
  id: number,
  timestamp: number,
  options?: GenerateKyberPreKeyOptions,
): KyberPreKey {
  assertInteger(id, 'id', 0, MAX_LOCAL_PREKEY_ID);
  assertInteger(timestamp, 'timestamp', 0, Number.MAX_SAFE_INTEGER);
  if (typeof identity !== 'object' || identity === null) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"identity" expected a key pair', { field: 'identity' });
  }
  assertKeyBytes(identity.privateKey, 'identity.privateKey', 32);
  const lastResort = readLastResortOption(options);
  const { publicKey, secretKey } = generateKyberKeyPair(ctx.random);
  const signature = sign(ctx, identity.privateKey, publicKey);
  return { id, publicKey, secretKey, signature, timestamp, lastResort };
}

/**
 * Whether `signature` is the identity key's XEdDSA signature over the serialized Kyber public
 * key. A malformed identity key or Kyber public key throws `ERR_INVALID_KEY`; a signature of the
 * wrong length or content is simply `false`.
 */
export function verifyKyberPreKeySignature(
  crypto: CryptoProvider,
  identityKey: Uint8Array,
  publicKey: Uint8Array,
  signature: Uint8Array,
): boolean {
  assertKyberPublicKey(publicKey, 'kyberPreKey');
  return verifySignature(crypto, identityKey, publicKey, signature);
}

function checkPairMatches(publicKey: Uint8Array, secretKey: Uint8Array): boolean {
  const embedded = kyberPublicKeyFromSecretKey(secretKey);
  let diff = 0;
  for (let i = 0; i < embedded.length; i++) diff |= embedded[i]! ^ publicKey[i]!;
  return diff === 0;
}

export function encodeKyberPreKeyRecord(preKey: KyberPreKey): Uint8Array {
  if (typeof preKey !== 'object' || preKey === null) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"preKey" expected an object', { field: 'preKey' });
  }
  assertInteger(preKey.id, 'id', 0, MAX_UINT32);
  assertInteger(preKey.timestamp, 'timestamp', 0, Number.MAX_SAFE_INTEGER);
  if (typeof preKey.lastResort !== 'boolean') {
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"lastResort" expected a boolean', { field: 'lastResort' });
  }
  assertKyberPublicKey(preKey.publicKey, 'publicKey');
  assertKyberSecretKey(preKey.secretKey, 'secretKey');
  assertBytes(preKey.signature, 'signature', SIGNATURE_LENGTH);
  if (!checkPairMatches(preKey.publicKey, preKey.secretKey)) {
    throw new ParleyError('ERR_INVALID_KEY', '"publicKey" does not match "secretKey"', {
      field: 'publicKey',
    });
  }
  const out = new Uint8Array(KYBER_PREKEY_RECORD_LENGTH);
  const view = new DataView(out.buffer);
  out[0] = KEY_RECORD_VERSION;
  out[1] = KIND_KYBER_PREKEY;
  out[OFFSET_FLAGS] = preKey.lastResort ? FLAG_LAST_RESORT : 0;
  view.setUint32(OFFSET_ID, preKey.id);
  view.setBigUint64(OFFSET_TIMESTAMP, BigInt(preKey.timestamp));
  out.set(preKey.publicKey, OFFSET_PUBLIC_KEY);
  out.set(preKey.secretKey, OFFSET_SECRET_KEY);
  out.set(preKey.signature, OFFSET_SIGNATURE);
  return out;
}

/** Fresh copies; anything malformed (including a public key that does not match the secret key) is `ERR_INVALID_RECORD`. */
export function decodeKyberPreKeyRecord(record: Uint8Array): KyberPreKey {
  assertBytes(record, 'record');
  if (record.length < HEADER) throw invalidRecord(`${record.length} bytes`);
  if (record[0] !== KEY_RECORD_VERSION) throw invalidRecord(`unknown format version ${record[0]}`);
  if (record[1] !== KIND_KYBER_PREKEY) throw invalidRecord(`record kind ${record[1]}`);
  if (record.length !== KYBER_PREKEY_RECORD_LENGTH) {
    throw invalidRecord(`expected ${KYBER_PREKEY_RECORD_LENGTH} bytes, got ${record.length}`);
  }
  const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
  const flags = record[OFFSET_FLAGS]!;
  if ((flags & ~FLAG_LAST_RESORT) !== 0) throw invalidRecord(`unknown flags ${flags}`);
  const id = view.getUint32(OFFSET_ID);
  const timestamp = view.getBigUint64(OFFSET_TIMESTAMP);
  if (timestamp > BigInt(Number.MAX_SAFE_INTEGER)) throw invalidRecord('timestamp out of range');
  const publicKey = record.slice(OFFSET_PUBLIC_KEY, OFFSET_SECRET_KEY);
  const secretKey = record.slice(OFFSET_SECRET_KEY, OFFSET_SIGNATURE);
  if (publicKey[0] !== KYBER_KEY_TYPE) throw invalidRecord(`public key type ${publicKey[0]}`);
  if (secretKey[0] !== KYBER_KEY_TYPE) throw invalidRecord(`secret key type ${secretKey[0]}`);
  let matches = false;
  try {
    matches = checkPairMatches(publicKey, secretKey);
  } catch {
    matches = false;
  }
  if (!matches) {
    secretKey.fill(0);
    throw invalidRecord('public key does not match secret key');
  }
  const signature = record.slice(OFFSET_SIGNATURE);
  return {
    id,
    publicKey,
    secretKey,
    signature,
    timestamp: Number(timestamp),
    lastResort: (flags & FLAG_LAST_RESORT) !== 0,
  };
}
