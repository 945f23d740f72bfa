import { concatBytes, utf8 } from '../bytes.js';
import { constantTimeEqual } from '../crypto/constant-time.js';
import type { CryptoProvider } from '../crypto/provider.js';
import { pqRatchetError } from './refusal.js';

/**
 * The braid's authenticator (SPQR `authenticator.rs`): a MAC key ratcheted with every epoch's
 * secret, so each ML-KEM header and ciphertext is bound to the session (the initial key is the
 * SPQR key of the PQXDH derivation) and to everything agreed before it. Immutable: `update`
 * returns the next authenticator.
 */
export interface Authenticator {
  readonly rootKey: Uint8Array;
  readonly macKey: Uint8Array;
}

export const AUTHENTICATOR_MAC_LENGTH = 32;

const UPDATE_INFO = utf8('Signal_PQCKA_V1_MLKEM768:Authenticator Update');
const CIPHERTEXT_LABEL = utf8('Signal_PQCKA_V1_MLKEM768:ciphertext');
const HEADER_LABEL = utf8('Signal_PQCKA_V1_MLKEM768:ekheader');

/** An epoch as 8 bytes, big-endian (SPQR's `to_be_bytes` of a u64). */
export function epochBytes(epoch: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(epoch));
  return out;
}

/** The authenticator of epoch `epoch`, keyed first with the session's SPQR key. */
export function newAuthenticator(crypto: CryptoProvider, authKey: Uint8Array, epoch: number): Authenticator {
  return updateAuthenticator(
    crypto,
    { rootKey: new Uint8Array(32), macKey: new Uint8Array(32) },
    epoch,
    authKey,
  );
}

/** HKDF(salt 0³², root ‖ key, "…Authenticator Update" ‖ epoch) → root ‖ MAC key. */
export function updateAuthenticator(
  crypto: CryptoProvider,
  auth: Authenticator,
  epoch: number,
  key: Uint8Array,
): Authenticator {
  const okm = crypto.hkdfSha256(
    concatBytes(auth.rootKey, key),
    undefined,
    concatBytes(UPDATE_INFO, epochBytes(epoch)),
    64,
  );
  return { rootKey: okm.slice(0, 32), macKey: okm.slice(32, 64) };
}

export function macCiphertext(
  crypto: CryptoProvider,
  auth: Authenticator,
  epoch: number,
  ciphertext: Uint8Array,
): Uint8Array {
  return crypto.hmacSha256(auth.macKey, concatBytes(CIPHERTEXT_LABEL, epochBytes(epoch), ciphertext));
}

export function macHeader(
  crypto: CryptoProvider,
  auth: Authenticator,
  epoch: number,
  header: Uint8Array,
): Uint8Array {
  return crypto.hmacSha256(auth.macKey, concatBytes(HEADER_LABEL, epochBytes(epoch), header));
}

export function verifyCiphertext(
  crypto: CryptoProvider,
  auth: Authenticator,
  epoch: number,
  ciphertext: Uint8Array,
  mac: Uint8Array,
): void {
  if (!constantTimeEqual(macCiphertext(crypto, auth, epoch, ciphertext), mac)) {
    throw pqRatchetError('authentication', 'the ML-KEM ciphertext does not authenticate', { epoch });
  }
}

export function verifyHeader(
  crypto: CryptoProvider,
  auth: Authenticator,
  epoch: number,
  header: Uint8Array,
  mac: Uint8Array,
): void {
  if (!constantTimeEqual(macHeader(crypto, auth, epoch, header), mac)) {
    throw pqRatchetError('authentication', 'the ML-KEM header does not authenticate', { epoch });
  }
}
