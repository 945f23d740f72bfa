import { ByteReader, ByteWriter } from '../binary.js';
import type { ChainKey } from '../ratchet/chain-key.js';
import { DISTRIBUTION_ID_LENGTH } from '../wire/sender-key-format.js';
import { MAX_SENDER_MESSAGE_KEYS } from './limits.js';

/**
 * One chain of another member device, as its distribution message gave it to us: what
 * verifies and decrypts its group messages. Mutable on purpose, like `SessionState`: an
 * operation decodes a fresh copy, changes it only after the signature and decryption
 * succeeded, and the encoded copy replaces the stored one only when the commit succeeds.
 */
export interface RemoteSenderKey {
  /** 16 bytes in the `signal` format; all zeros in `whatsapp` (no distribution id there). */
  readonly distributionId: Uint8Array;
  readonly chainId: number;
  /** 33 bytes, 0x05-prefixed. */
  readonly signingKey: Uint8Array;
  /**
   * The iteration of the distribution message that created this state. A message below it was
   * sent before we had the key: we never had its key (rather than "already received").
   */
  readonly firstIteration: number;
  /** The key and iteration of the next message we have not seen. */
  chainKey: ChainKey;
  /**
   * Seeds of skipped iterations, by iteration, in insertion order = eviction order (oldest
   * first), at most MAX_SENDER_MESSAGE_KEYS.
   */
  readonly skipped: Map<number, Uint8Array>;
}

/**
 * Encoded state (inside a remote sender-key record):
 *
 *   u32 chainId ‖ 16 distributionId ‖ 33 signingKey ‖ u32 firstIteration ‖ 32 chainKey
 *   ‖ u32 iteration ‖ u32 skippedCount ‖ (u32 iteration ‖ 32 seed)*
 *
 * Chain id, distribution id and signing key lead, so a record finds the state a message
 * belongs to without decoding the others.
 */
const FIXED_SIZE = 4 + DISTRIBUTION_ID_LENGTH + 33 + 4 + 32 + 4 + 4;
const SKIPPED_ENTRY_SIZE = 4 + 32;
const WHAT = 'remote sender key';

export function encodeRemoteSenderKey(state: RemoteSenderKey): Uint8Array {
  const w = new ByteWriter(FIXED_SIZE + state.skipped.size * SKIPPED_ENTRY_SIZE)
    .u32(state.chainId)
    .fixed(state.distributionId)
    .fixed(state.signingKey)
    .u32(state.firstIteration)
    .fixed(state.chainKey.key)
    .u32(state.chainKey.index)
    .u32(state.skipped.size);
  for (const [iteration, seed] of state.skipped) w.u32(iteration).fixed(seed);
  return w.finish();
}

export function decodeRemoteSenderKey(bytes: Uint8Array): RemoteSenderKey {
  const r = new ByteReader(bytes, WHAT);
  const chainId = r.u32();
  const distributionId = r.fixed(DISTRIBUTION_ID_LENGTH);
  const signingKey = r.fixed(33);
  if (signingKey[0] !== 0x05) r.fail('bad signing key');
  const firstIteration = r.u32();
  const key = r.fixed(32);
  const index = r.u32();
  const count = r.u32();
  if (count > MAX_SENDER_MESSAGE_KEYS) r.fail('too many skipped keys');
  const skipped = new Map<number, Uint8Array>();
  for (let i = 0; i < count; i++) skipped.set(r.u32(), r.fixed(32));
  if (skipped.size !== count) r.fail('repeated skipped key');
  r.end();
  return { chainId, distributionId, signingKey, firstIteration, chainKey: { key, index }, skipped };
}

/** Chain id, distribution id and signing key of an encoded state, read without decoding it. */
export function peekRemoteSenderKey(encoded: Uint8Array): {
  chainId: number;
  distributionId: Uint8Array;
  signingKey: Uint8Array;
} {
  const r = new ByteReader(encoded, WHAT);
  const chainId = r.u32();
  const head = 4 + DISTRIBUTION_ID_LENGTH;
  if (encoded.length < FIXED_SIZE) r.fail('truncated state');
  return {
    chainId,
    distributionId: encoded.subarray(4, head),
    signingKey: encoded.subarray(head, head + 33),
  };
}
