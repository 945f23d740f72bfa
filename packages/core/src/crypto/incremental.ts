/**
 * Incremental hashes and AES-256-CBC shared by both providers: the end-of-input guard, and the
 * portable CBC chaining that noble's one-shot `cbc` lacks.
 *
 * Portable CBC across calls: CBC is a chain, so encrypting block-aligned pieces one after the
 * other, each with the previous piece's last ciphertext block as its IV and no padding, gives
 * exactly the one-shot ciphertext; only the very last piece is padded. Decryption likewise,
 * holding back the last block until `final` so its padding can be checked.
 */
import { ghash } from '@noble/ciphers/_polyval.js';
import { cbc, ecb } from '@noble/ciphers/aes.js';
import { copyBytes } from '../bytes.js';
import { ParleyError } from '../errors.js';
import { assertBytes } from './guards.js';
import type { IncrementalCipher, IncrementalHash } from './provider.js';

const BLOCK = 16;
const EMPTY = new Uint8Array(0);

export function endedError(what: string): ParleyError {
  return new ParleyError('ERR_INVALID_ARGUMENT', `${what} was already finished; create a new one`, {
    field: what,
  });
}

/** Wraps an underlying incremental hash so misuse after `digest` is a typed error. */
export function guardedHash(
  what: string,
  update: (data: Uint8Array) => void,
  digest: () => Uint8Array,
): IncrementalHash {
  let ended = false;
  return {
    update(data) {
      if (ended) throw endedError(what);
      assertBytes(data, 'data');
      update(data);
    },
    digest() {
      if (ended) throw endedError(what);
      ended = true;
      return digest();
    },
  };
}

/** Pending input (< 16 bytes, or the held-back last block) joined with new data. */
function join(pending: Uint8Array, data: Uint8Array): Uint8Array {
  if (pending.length === 0) return data;
  const out = new Uint8Array(pending.length + data.length);
  out.set(pending);
  out.set(data, pending.length);
  return out;
}

export function createPortableCbcEncryptor(key: Uint8Array, iv: Uint8Array): IncrementalCipher {
  assertBytes(key, 'key', 32);
  assertBytes(iv, 'iv', 16);
  const ownKey = copyBytes(key);
  let chain = copyBytes(iv);
  let pending: Uint8Array = EMPTY;
  let ended = false;
  return {
    update(data) {
      if (ended) throw endedError('AES-256-CBC encryptor');
      assertBytes(data, 'data');
      const input = join(pending, data);
      const aligned = input.length - (input.length % BLOCK);
      // A copy: `input` may be the caller's array, which must not be kept.
      pending = copyBytes(input.subarray(aligned));
      if (aligned === 0) return EMPTY;
      const out = cbc(ownKey, chain, { disablePadding: true }).encrypt(input.subarray(0, aligned));
      chain = copyBytes(out.subarray(aligned - BLOCK));
      return out;
    },
    final() {
      if (ended) throw endedError('AES-256-CBC encryptor');
      ended = true;
      const out = cbc(ownKey, chain).encrypt(pending);
      pending.fill(0);
      ownKey.fill(0);
      return out;
    },
  };
}

export function createPortableCbcDecryptor(
  key: Uint8Array,
  iv: Uint8Array,
  failed: (cause?: unknown) => ParleyError,
): IncrementalCipher {
  assertBytes(key, 'key', 32);
  assertBytes(iv, 'iv', 16);
  const ownKey = copyBytes(key);
  let chain = copyBytes(iv);
  let pending: Uint8Array = EMPTY;
  let ended = false;
  return {
    update(data) {
      if (ended) throw endedError('AES-256-CBC decryptor');
      assertBytes(data, 'data');
      const input = join(pending, data);
      // Keep the partial block, or the whole last block when input is aligned: it may be the
      // final (padded) block, which only `final` may unpad.
      const keep = input.length % BLOCK || Math.min(BLOCK, input.length);
      const ready = input.length - keep;
      pending = copyBytes(input.subarray(ready));
      if (ready === 0) return EMPTY;
      const blocks = input.subarray(0, ready);
      const out = cbc(ownKey, chain, { disablePadding: true }).decrypt(blocks);
      chain = copyBytes(blocks.subarray(ready - BLOCK));
      return out;
    },
    final() {
      if (ended) throw endedError('AES-256-CBC decryptor');
      ended = true;
      try {
        if (pending.length !== BLOCK) throw failed();
        return cbc(ownKey, chain).decrypt(pending);
      } catch (error) {
        throw error instanceof ParleyError ? error : failed(error);
      } finally {
        ownKey.fill(0);
      }
    },
  };
}

/**
 * AES-256-GMAC on noble: tag = GHASH_H(A ‖ 0-pad ‖ [len(A)]64 ‖ [0]64) ⊕ E_K(J0), with
 * H = E_K(0^128) and J0 = nonce ‖ 0x00000001 (SP 800-38D §7.1 with an empty plaintext). noble's
 * GHASH pads every `update` to a block, so input is passed on in whole blocks only.
 */
export function createPortableGmac(key: Uint8Array, nonce: Uint8Array): IncrementalHash {
  assertBytes(key, 'key', 32);
  assertBytes(nonce, 'nonce', 12);
  // One E_K call per ecb instance: noble refuses to reuse a cipher instance for a second encrypt.
  const hashKey = ecb(key, { disablePadding: true }).encrypt(new Uint8Array(BLOCK));
  const counter = new Uint8Array(BLOCK);
  counter.set(nonce);
  counter[15] = 1;
  const mask = ecb(key, { disablePadding: true }).encrypt(counter);
  const hash = ghash.create(hashKey);
  hashKey.fill(0);
  let pending: Uint8Array = EMPTY;
  let length = 0;
  return guardedHash(
    'AES-256-GMAC',
    (data) => {
      length += data.length;
      const input = join(pending, data);
      const aligned = input.length - (input.length % BLOCK);
      if (aligned > 0) hash.update(input.subarray(0, aligned));
      pending = copyBytes(input.subarray(aligned));
    },
    () => {
      if (pending.length > 0) hash.update(pending);
      const lengths = new Uint8Array(BLOCK);
      const view = new DataView(lengths.buffer);
      const bits = length * 8;
      view.setUint32(0, Math.floor(bits / 0x1_0000_0000));
      view.setUint32(4, bits >>> 0);
      hash.update(lengths);
      const tag = hash.digest();
      for (let i = 0; i < BLOCK; i++) tag[i]! ^= mask[i]!;
      mask.fill(0);
      return tag;
    },
  );
}
