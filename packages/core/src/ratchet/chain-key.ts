import type { CryptoProvider } from '../crypto/provider.js';

/** Double Ratchet spec 5.2 / libsignal: the two HMAC constants that split a chain key. */
const MESSAGE_KEY_SEED = Uint8Array.of(0x01);
const CHAIN_KEY_SEED = Uint8Array.of(0x02);

/** A symmetric chain key and the counter of the next message it will produce. */
export interface ChainKey {
  readonly key: Uint8Array;
  readonly index: number;
}

/** The 32-byte seed from which one message's AES key, MAC key and IV are derived. */
export function messageKeySeed(crypto: CryptoProvider, chain: ChainKey): Uint8Array {
  return crypto.hmacSha256(chain.key, MESSAGE_KEY_SEED);
}

export function nextChainKey(crypto: CryptoProvider, chain: ChainKey): ChainKey {
  return { key: crypto.hmacSha256(chain.key, CHAIN_KEY_SEED), index: chain.index + 1 };
}
