import { concatBytes } from '../bytes.js';
import { constantTimeEqual } from '../crypto/constant-time.js';
import type { CryptoProvider, RandomSource } from '../crypto/provider.js';
import { ParleyError } from '../errors.js';
import { agree, generateKeyPair } from '../keys/curve.js';
import { appendMac, type DecodedSignalMessage, encodeSignalMessageBody } from '../wire/signal-message.js';
import { messageKeySeed, nextChainKey } from './chain-key.js';
import { MAX_FORWARD_JUMPS, MAX_MESSAGE_KEYS, MAX_RECEIVER_CHAINS } from './limits.js';
import { deriveMessageKeys, type MessageKeys } from './message-keys.js';
import { ratchetRootKey } from './root-key.js';
import type { ReceiverChain, SessionState } from './session-state.js';

/** The wire MAC is the first 8 bytes of HMAC-SHA256 (libsignal MAC_LENGTH). */
const MAC_LENGTH = 8;

export interface RatchetContext {
  readonly crypto: CryptoProvider;
  readonly random: RandomSource;
}

function messageMac(
  crypto: CryptoProvider,
  macKey: Uint8Array,
  senderIdentity: Uint8Array,
  receiverIdentity: Uint8Array,
  body: Uint8Array,
): Uint8Array {
  return crypto
    .hmacSha256(macKey, concatBytes(senderIdentity, receiverIdentity, body))
    .subarray(0, MAC_LENGTH);
}

/**
 * Encrypts one message on the sending chain and advances it. Mutates `state` (a working
 * copy); returns the complete SignalMessage bytes (version ‖ protobuf ‖ MAC).
 */
export function ratchetEncrypt(ctx: RatchetContext, state: SessionState, plaintext: Uint8Array): Uint8Array {
  const { crypto } = ctx;
  const chain = state.sender.chainKey;
  const keys = deriveMessageKeys(crypto, messageKeySeed(crypto, chain), chain.index);
  const ciphertext = crypto.aes256CbcEncrypt(keys.cipherKey, keys.iv, plaintext);
  const body = encodeSignalMessageBody({
    version: state.version,
    ratchetKey: state.sender.ratchetKeyPair.publicKey,
    counter: chain.index,
    previousCounter: state.previousCounter,
    ciphertext,
  });
  const mac = messageMac(crypto, keys.macKey, state.localIdentityKey, state.remoteIdentityKey, body);
  state.sender.chainKey = nextChainKey(crypto, chain);
  return appendMac(body, mac);
}

/**
 * Decrypts one SignalMessage with `state`, mutating it (callers pass a working copy and
 * keep it only on success). Order matters for "failure changes nothing": keys are found
 * or derived first, the MAC is checked in constant time, and only then is AES run.
 */
export function ratchetDecrypt(
  ctx: RatchetContext,
  state: SessionState,
  message: DecodedSignalMessage,
): Uint8Array {
  const { crypto } = ctx;
  if (message.version !== state.version) {
    throw new ParleyError('ERR_VERSION_MISMATCH', 'message version differs from the session version', {
      messageVersion: message.version,
      sessionVersion: state.version,
    });
  }
  const chain = findOrCreateReceiverChain(ctx, state, message.ratchetKey);
  const keys = takeMessageKeys(crypto, chain, message.counter);
  const expected = messageMac(
    crypto,
    keys.macKey,
    state.remoteIdentityKey,
    state.localIdentityKey,
    message.body,
  );
  if (!constantTimeEqual(expected, message.mac)) {
    throw new ParleyError('ERR_INVALID_MAC', 'message authentication failed', { counter: message.counter });
  }
  const plaintext = crypto.aes256CbcDecrypt(keys.cipherKey, keys.iv, message.ciphertext);
  // A reply from the responder proves our prekey message arrived.
  state.pendingPreKey = undefined;
  return plaintext;
}

function findOrCreateReceiverChain(
  ctx: RatchetContext,
  state: SessionState,
  theirRatchetKey: Uint8Array,
): ReceiverChain {
  const existing = findReceiverChain(state, theirRatchetKey);
  if (existing) return existing;

  // DH ratchet step (Double Ratchet spec 3.5): their new ratchet key opens a receiving
  // chain; a fresh key pair of ours opens the next sending chain.
  const { crypto } = ctx;
  const receiving = ratchetRootKey(
    crypto,
    state.rootKey,
    agree(crypto, state.sender.ratchetKeyPair.privateKey, theirRatchetKey),
  );
  const ourNewRatchet = generateKeyPair(ctx);
  const sending = ratchetRootKey(
    crypto,
    receiving.rootKey,
    agree(crypto, ourNewRatchet.privateKey, theirRatchetKey),
  );
  const chain: ReceiverChain = { ratchetKey: theirRatchetKey, chainKey: receiving.chainKey, skipped: [] };
  state.receivers.push(chain);
  if (state.receivers.length > MAX_RECEIVER_CHAINS) state.receivers.shift();
  state.rootKey = sending.rootKey;
  state.previousCounter = Math.max(state.sender.chainKey.index - 1, 0);
  state.sender = { ratchetKeyPair: ourNewRatchet, chainKey: sending.chainKey };
  return chain;
}

function findReceiverChain(state: SessionState, ratchetKey: Uint8Array): ReceiverChain | undefined {
  for (const chain of state.receivers) {
    if (publicKeysEqual(chain.ratchetKey, ratchetKey)) return chain;
  }
  return undefined;
}

function publicKeysEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = a.length - 1; i >= 0; i--) if (a[i] !== b[i]) return false;
  return true;
}

function takeMessageKeys(crypto: CryptoProvider, chain: ReceiverChain, counter: number): MessageKeys {
  const current = chain.chainKey.index;
  if (counter < current) {
    const at = chain.skipped.findIndex((skipped) => skipped.index === counter);
    if (at < 0) {
      throw new ParleyError(
        'ERR_DUPLICATE_MESSAGE',
        'message was already received (or its key was evicted)',
        {
          counter,
          chainIndex: current,
        },
      );
    }
    const [skipped] = chain.skipped.splice(at, 1);
    return deriveMessageKeys(crypto, skipped!.seed, counter);
  }
  if (counter - current > MAX_FORWARD_JUMPS) {
    throw new ParleyError('ERR_MESSAGE_GAP_TOO_LARGE', 'message counter is too far ahead of its chain', {
      counter,
      chainIndex: current,
      limit: MAX_FORWARD_JUMPS,
    });
  }
  let key = chain.chainKey;
  // Only the newest MAX_MESSAGE_KEYS skipped keys can survive, so seeds older than that
  // are never computed into the list at all.
  const keepFrom = counter - MAX_MESSAGE_KEYS;
  while (key.index < counter) {
    if (key.index >= keepFrom) chain.skipped.push({ index: key.index, seed: messageKeySeed(crypto, key) });
    key = nextChainKey(crypto, key);
  }
  if (chain.skipped.length > MAX_MESSAGE_KEYS)
    chain.skipped.splice(0, chain.skipped.length - MAX_MESSAGE_KEYS);
  const seed = messageKeySeed(crypto, key);
  chain.chainKey = nextChainKey(crypto, key);
  return deriveMessageKeys(crypto, seed, counter);
}
