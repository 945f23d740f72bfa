import { ByteReader, ByteWriter } from '../binary.js';
import type { RandomSource } from '../crypto/provider.js';
import { ParleyError } from '../errors.js';
import type { KeyContext } from '../keys/curve.js';
import type { ChainKey } from '../ratchet/chain-key.js';
import { DISTRIBUTION_ID_LENGTH, type SenderKeyFormat } from '../wire/sender-key-format.js';
import { generateDistributionId } from './distribution-id.js';
import {
  generateSenderSigningKey,
  type SenderSigningKey,
  senderSigningKeyFromSeed,
} from './sender-signing-key.js';
import { decodeWireFormat, encodeWireFormat } from './wire-format-byte.js';

/**
 * Our own sending chain in one group: what we encrypt with and what every member device's
 * distribution message is made from. One per group; a rotation replaces it (receivers keep
 * the old chain for late messages; we never need it again). Immutable: an encrypt produces the
 * next value, which replaces the stored one only when the commit succeeds.
 */
export interface LocalSenderKey {
  readonly format: SenderKeyFormat;
  /** 16 bytes in the `signal` format (kept across rotations); undefined in `whatsapp`. */
  readonly distributionId: Uint8Array | undefined;
  /** Random 31-bit id, as libsignal and Baileys pick it (libsignal-protocol-java's int). */
  readonly chainId: number;
  readonly signingKey: SenderSigningKey;
  /** The key and iteration of the next message. */
  readonly chainKey: ChainKey;
  /** When this chain was created (injected clock): lets a caller rotate old chains. */
  readonly createdAt: number;
}

/**
 * Record format 1 (Parley's own, in the `sessions` namespace):
 *
 *   u8 recordFormat(1) ‖ u8 wireFormat ‖ 16 distributionId (zeros in whatsapp) ‖ u32 chainId
 *   ‖ 32 signingSeed ‖ 32 chainKey ‖ u32 iteration ‖ u64 createdAt
 *
 * The signing key's public half is derived from the seed when the record is read.
 */
export const LOCAL_SENDER_KEY_RECORD_FORMAT = 1;
const RECORD_SIZE = 2 + DISTRIBUTION_ID_LENGTH + 4 + 32 + 32 + 4 + 8;
const WHAT = 'local sender key';

/** A random chain id below 2^31 that differs from `previous`. */
export function generateChainId(random: RandomSource, previous?: number): number {
  for (;;) {
    const bytes = random(4);
    const id = ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 1;
    if (id !== previous) return id;
  }
}

/**
 * A fresh chain at iteration 0: new chain id, chain key and signing key pair. The distribution
 * id is kept when given (a rotation), so receivers add the new chain beside the old ones in the
 * record they already have (libsignal keeps up to five per distribution id).
 */
export function generateLocalSenderKey(
  ctx: KeyContext,
  options: {
    readonly format: SenderKeyFormat;
    readonly now: number;
    readonly previous?: LocalSenderKey | undefined;
  },
): LocalSenderKey {
  const { format, previous } = options;
  const distributionId =
    format === 'signal' ? (previous?.distributionId ?? generateDistributionId(ctx.random)) : undefined;
  const chainKey = ctx.random(32);
  if (!(chainKey instanceof Uint8Array) || chainKey.length !== 32) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"random" returned the wrong number of bytes', {
      field: 'random',
    });
  }
  return {
    format,
    distributionId,
    chainId: generateChainId(ctx.random, previous?.chainId),
    signingKey: generateSenderSigningKey(ctx),
    chainKey: { key: chainKey, index: 0 },
    createdAt: options.now,
  };
}

export function encodeLocalSenderKey(key: LocalSenderKey): Uint8Array {
  return new ByteWriter(RECORD_SIZE)
    .u8(LOCAL_SENDER_KEY_RECORD_FORMAT)
    .u8(encodeWireFormat(key.format))
    .fixed(key.distributionId ?? new Uint8Array(DISTRIBUTION_ID_LENGTH))
    .u32(key.chainId)
    .fixed(key.signingKey.seed)
    .fixed(key.chainKey.key)
    .u32(key.chainKey.index)
    .u64(key.createdAt)
    .finish();
}

export function decodeLocalSenderKey(ctx: Pick<KeyContext, 'crypto'>, bytes: Uint8Array): LocalSenderKey {
  const r = new ByteReader(bytes, WHAT);
  const recordFormat = r.u8();
  if (recordFormat !== LOCAL_SENDER_KEY_RECORD_FORMAT) {
    throw new ParleyError(
      'ERR_INVALID_RECORD',
      `local sender key record format ${recordFormat} is not supported by this version of Parley (expected ${LOCAL_SENDER_KEY_RECORD_FORMAT})`,
      { record: WHAT, format: recordFormat },
    );
  }
  const format = decodeWireFormat(r, r.u8());
  const distributionId = r.fixed(DISTRIBUTION_ID_LENGTH);
  const chainId = r.u32();
  const seed = r.fixed(32);
  const key = r.fixed(32);
  const index = r.u32();
  const createdAt = r.u64();
  r.end();
  return {
    format,
    distributionId: format === 'signal' ? distributionId : undefined,
    chainId,
    signingKey: senderSigningKeyFromSeed(ctx, seed),
    chainKey: { key, index },
    createdAt,
  };
}
