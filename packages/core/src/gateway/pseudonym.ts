import { toHex, utf8 } from '../bytes.js';
import type { CryptoProvider } from '../crypto/provider.js';

/**
 * The keyed pseudonym of a person's phone number within one business: HMAC-SHA256 under the
 * business's pseudonym key. Sessions, identity keys, device lists, dedup and rate-limit
 * records are keyed by it, so none of them holds the number; without the key (wrapped by
 * the operator's key provider) a pseudonym cannot be tested against a guessed number.
 * Different businesses get unrelated pseudonyms for the same person.
 */
export function derivePseudonym(
  crypto: CryptoProvider,
  pseudonymKey: Uint8Array,
  phoneNumber: string,
): string {
  return toHex(crypto.hmacSha256(pseudonymKey, utf8(`parley/pseudonym/v1\u0000${phoneNumber}`)));
}
