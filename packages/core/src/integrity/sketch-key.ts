import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { utf8 } from '../bytes.js';
import { assertBytes } from '../crypto/guards.js';

/** 32 bytes: the HMAC-SHA256 key size; anything shorter weakens the keyed hash. */
export const SKETCH_KEY_LENGTH = 32;

/** Domains keep the hashes of different kinds of value unrelated under one key. */
export const HashDomain = { person: 1, message: 2 } as const;
export type HashDomain = (typeof HashDomain)[keyof typeof HashDomain];

/** 64 bits of keyed hash as two unsigned 32-bit halves (what sketches index with). */
export interface Hash64 {
  readonly high: number;
  readonly low: number;
}

/**
 * The per-instance secret that every sketch hashes through. Without it a sketch's bits and
 * registers cannot be tested against a guessed pseudonym; it is never serialized (only a
 * fingerprint is, so a restore under another key knows to drop the key-dependent sketches).
 */
export class SketchKey {
  readonly fingerprint: Uint8Array;
  readonly #base: ReturnType<typeof hmac.create>;

  constructor(key: Uint8Array) {
    assertBytes(key, 'sketchKey', SKETCH_KEY_LENGTH);
    this.#base = hmac.create(sha256, key);
    this.fingerprint = hmac(sha256, key, utf8('parley/integrity/sketch-key-fingerprint/v1')).slice(0, 8);
  }

  hash(domain: HashDomain, value: string): Hash64 {
    const digest = this.#base
      .clone()
      .update(new Uint8Array([domain]))
      .update(utf8(value))
      .digest();
    const view = new DataView(digest.buffer, digest.byteOffset, 8);
    return { high: view.getUint32(0), low: view.getUint32(4) };
  }
}
