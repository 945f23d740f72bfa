/**
 * Group encryption and decryption with sender keys, as pure functions of (state, input), in
 * the shape of libsignal's `group_cipher.rs`:
 * - a message key is HMAC-derived from the chain key, as in the Double Ratchet's symmetric
 *   chains, and turned into an AES-256-CBC key and IV with HKDF "WhisperGroup";
 * - the sender signs version ‖ protobuf with the chain's signing key (verified as XEdDSA; see
 *   sender-signing-key.ts for how we sign); there is no MAC;
 * - the receiver checks the signature first, then finds the message key on the side (skipped
 *   keys, or the chain walked forward), then decrypts, and only then changes its state. A
 *   message that fails at any step leaves the state exactly as it was.
 */
import type { CryptoProvider } from '../crypto/provider.js';
import { ParleyError } from '../errors.js';
import { type KeyContext, verifySignature } from '../keys/curve.js';
import { type ChainKey, messageKeySeed, nextChainKey } from '../ratchet/chain-key.js';
import {
  appendSenderKeySignature,
  type DecodedSenderKeyMessage,
  encodeSenderKeyMessageBody,
} from '../wire/sender-key-message.js';
import { MAX_SENDER_KEY_FORWARD_JUMPS, MAX_SENDER_KEY_ITERATION, MAX_SENDER_MESSAGE_KEYS } from './limits.js';
import type { LocalSenderKey } from './local-sender-key.js';
import type { RemoteSenderKey } from './remote-sender-key.js';
import { deriveSenderMessageKey, type SenderMessageKey } from './sender-message-key.js';
import { signWithSenderKey } from './sender-signing-key.js';

export interface SenderKeyEncryption {
  /** The complete SenderKeyMessage: version ‖ protobuf ‖ signature. */
  readonly body: Uint8Array;
  readonly iteration: number;
  /** The chain after this message; store it in place of the one given. */
  readonly next: LocalSenderKey;
}

/** Encrypts one group message on our chain. The chain given is not changed. */
export function encryptWithSenderKey(
  ctx: KeyContext,
  key: LocalSenderKey,
  plaintext: Uint8Array,
): SenderKeyEncryption {
  const { crypto } = ctx;
  const chain = key.chainKey;
  if (chain.index >= MAX_SENDER_KEY_ITERATION) {
    throw new ParleyError(
      'ERR_SENDER_KEY_NOT_FOUND',
      'this group sending chain is used up; rotate the group key and distribute it',
      { chainId: key.chainId, iteration: chain.index },
    );
  }
  const messageKey = deriveSenderMessageKey(crypto, messageKeySeed(crypto, chain), chain.index);
  const ciphertext = crypto.aes256CbcEncrypt(messageKey.cipherKey, messageKey.iv, plaintext);
  const signed = encodeSenderKeyMessageBody({
    format: key.format,
    distributionId: key.distributionId,
    chainId: key.chainId,
    iteration: chain.index,
    ciphertext,
  });
  const signature = signWithSenderKey(ctx, key.signingKey, signed);
  return {
    body: appendSenderKeySignature(signed, signature),
    iteration: chain.index,
    next: { ...key, chainKey: nextChainKey(crypto, chain) },
  };
}

/** Where the message key came from, so the state is advanced only after decryption succeeded. */
type KeySource =
  | { readonly kind: 'skipped' }
  | { readonly kind: 'chain'; readonly next: ChainKey; readonly newSkipped: readonly [number, Uint8Array][] };

/**
 * Verifies and decrypts one group message with the sender's chain. On success the state is
 * advanced (skipped keys added or consumed); on any failure it is untouched.
 */
export function decryptWithSenderKey(
  crypto: CryptoProvider,
  state: RemoteSenderKey,
  message: DecodedSenderKeyMessage,
): Uint8Array {
  if (!verifySignature(crypto, state.signingKey, message.signed, message.signature)) {
    throw new ParleyError('ERR_INVALID_SIGNATURE', 'group message signature is not valid', {
      chainId: message.chainId,
      iteration: message.iteration,
    });
  }
  const { messageKey, source } = findSenderMessageKey(crypto, state, message.iteration);
  const plaintext = crypto.aes256CbcDecrypt(messageKey.cipherKey, messageKey.iv, message.ciphertext);

  if (source.kind === 'skipped') {
    state.skipped.delete(message.iteration);
  } else {
    for (const [iteration, seed] of source.newSkipped) state.skipped.set(iteration, seed);
    for (const iteration of state.skipped.keys()) {
      if (state.skipped.size <= MAX_SENDER_MESSAGE_KEYS) break;
      state.skipped.delete(iteration);
    }
    state.chainKey = source.next;
  }
  return plaintext;
}

function findSenderMessageKey(
  crypto: CryptoProvider,
  state: RemoteSenderKey,
  iteration: number,
): { messageKey: SenderMessageKey; source: KeySource } {
  const current = state.chainKey.index;
  if (iteration < current) {
    const seed = state.skipped.get(iteration);
    if (seed !== undefined) {
      return { messageKey: deriveSenderMessageKey(crypto, seed, iteration), source: { kind: 'skipped' } };
    }
    if (iteration < state.firstIteration) {
      // Sent before the distribution message we hold: we never had this key. A caller asks the
      // sender to resend (over the 1:1 session), which a duplicate would not deserve.
      throw new ParleyError(
        'ERR_SENDER_KEY_NOT_FOUND',
        'group message was sent before the sender key this device received',
        { chainId: state.chainId, iteration, firstIteration: state.firstIteration },
      );
    }
    throw new ParleyError(
      'ERR_DUPLICATE_MESSAGE',
      'group message was already received (or its key was evicted)',
      { chainId: state.chainId, iteration, chainIteration: current },
    );
  }
  if (iteration >= MAX_SENDER_KEY_ITERATION) {
    // No sender can send it: its own chain would end here (libsignal "Sender chain is too long").
    throw new ParleyError('ERR_INVALID_MESSAGE', 'group message iteration is past the end of any chain', {
      chainId: state.chainId,
      iteration,
    });
  }
  if (iteration - current > MAX_SENDER_KEY_FORWARD_JUMPS) {
    throw new ParleyError('ERR_MESSAGE_GAP_TOO_LARGE', 'group message is too far ahead of its chain', {
      chainId: state.chainId,
      iteration,
      chainIteration: current,
      limit: MAX_SENDER_KEY_FORWARD_JUMPS,
    });
  }
  // Only the newest MAX_SENDER_MESSAGE_KEYS can survive the eviction below, so older seeds on
  // the way are never computed into the list.
  const keepFrom = iteration - MAX_SENDER_MESSAGE_KEYS;
  const newSkipped: [number, Uint8Array][] = [];
  let chain = state.chainKey;
  while (chain.index < iteration) {
    if (chain.index >= keepFrom) newSkipped.push([chain.index, messageKeySeed(crypto, chain)]);
    chain = nextChainKey(crypto, chain);
  }
  const messageKey = deriveSenderMessageKey(crypto, messageKeySeed(crypto, chain), iteration);
  return { messageKey, source: { kind: 'chain', next: nextChainKey(crypto, chain), newSkipped } };
}
