/**
 * ML-KEM-768 (FIPS 203) with encapsulation split in two, as SPQR's braid sends it: the
 * encapsulation key travels in two parts, and the ciphertext comes back in two parts, so
 * neither side waits for a whole 1 184-byte key before starting.
 *
 *   header (64)      = ρ ‖ H(ek)                  — enough to compute the first ciphertext part
 *   ek part (1 152)  = ByteEncode12(t̂)             — the rest of ek = t̂ ‖ ρ
 *   ct1 (960)        = ByteEncode10(Compress10(u)) — needs only Â (from ρ) and the randomness
 *   ct2 (128)        = ByteEncode4(Compress4(v))   — needs t̂
 *
 * ct1 ‖ ct2 is the ordinary ML-KEM ciphertext and the shared secret the ordinary K, so the
 * receiver decapsulates with plain ML-KEM. This is the split libsignal's SPQR gets from
 * libcrux's incremental API; the bytes on the wire are the same.
 *
 * Key generation and decapsulation are `@noble/post-quantum`'s `ml_kem768`. Its encapsulation
 * cannot be split (K-PKE is internal to it), so the two halves are written here from FIPS 203
 * Algorithms 7–12, 14 and 17: our own NTT, sampling and packing over @noble/hashes' SHA-3.
 * Tests check `encapsulate1` + `encapsulate2` against noble's and an independent library's
 * one-shot encapsulation, and round trips against both decapsulations.
 */
import { sha3_256, sha3_512, shake128, shake256 } from '@noble/hashes/sha3.js';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { constantTimeEqual } from '../crypto/constant-time.js';

const N = 256;
const Q = 3329;
const K = 3;
const ETA1 = 2;
const ETA2 = 2;
const DU = 10;
const DV = 4;
/** 128⁻¹ mod q, the scale of the inverse NTT (FIPS 203 Algorithm 10, line 14). */
const INVERSE_NTT_SCALE = 3303;

export const HEADER_LENGTH = 64;
export const ENCAPSULATION_KEY_LENGTH = 384 * K; // 1 152
export const CIPHERTEXT1_LENGTH = (DU * N * K) / 8; // 960
export const CIPHERTEXT2_LENGTH = (DV * N) / 8; // 128
export const DECAPSULATION_KEY_LENGTH = 2400;
export const SHARED_SECRET_LENGTH = 32;
/** What `encapsulate1` keeps for `encapsulate2`: m ‖ r (the K-PKE message and its randomness). */
export const ENCAPSULATION_STATE_LENGTH = 64;
export const KEY_GENERATION_SEED_LENGTH = 64;
export const ENCAPSULATION_RANDOM_LENGTH = 32;

type Poly = Int32Array;

/** ζ^BitRev7(k) mod q for k < 128 (FIPS 203 Appendix A), and ζ^(2·BitRev7(k)+1) for the base case. */
const { ZETAS, GAMMAS } = (() => {
  const power = (exponent: number): number => {
    let result = 1;
    for (let e = 0; e < exponent; e++) result = (result * 17) % Q;
    return result;
  };
  const bitRev7 = (k: number): number => {
    let r = 0;
    for (let b = 0; b < 7; b++) r |= ((k >> b) & 1) << (6 - b);
    return r;
  };
  const zetas = new Int32Array(128);
  const gammas = new Int32Array(128);
  for (let k = 0; k < 128; k++) {
    zetas[k] = power(bitRev7(k));
    gammas[k] = power(2 * bitRev7(k) + 1);
  }
  return { ZETAS: zetas, GAMMAS: gammas };
})();

const mod = (a: number): number => {
  const r = a % Q;
  return r < 0 ? r + Q : r;
};

/** Algorithm 9, in place. */
function ntt(f: Poly): Poly {
  let i = 1;
  for (let len = 128; len >= 2; len >>= 1) {
    for (let start = 0; start < N; start += 2 * len) {
      const zeta = ZETAS[i++]!;
      for (let j = start; j < start + len; j++) {
        const t = (zeta * f[j + len]!) % Q;
        f[j + len] = mod(f[j]! - t);
        f[j] = (f[j]! + t) % Q;
      }
    }
  }
  return f;
}

/** Algorithm 10, in place. */
function inverseNtt(f: Poly): Poly {
  let i = 127;
  for (let len = 2; len <= 128; len <<= 1) {
    for (let start = 0; start < N; start += 2 * len) {
      const zeta = ZETAS[i--]!;
      for (let j = start; j < start + len; j++) {
        const t = f[j]!;
        f[j] = (t + f[j + len]!) % Q;
        f[j + len] = (zeta * mod(f[j + len]! - t)) % Q;
      }
    }
  }
  for (let j = 0; j < N; j++) f[j] = (f[j]! * INVERSE_NTT_SCALE) % Q;
  return f;
}

/** Algorithms 11 and 12: `acc += f ∘ g` in T_q. */
function multiplyAdd(acc: Poly, f: Poly, g: Poly): void {
  for (let i = 0; i < 128; i++) {
    const a0 = f[2 * i]!;
    const a1 = f[2 * i + 1]!;
    const b0 = g[2 * i]!;
    const b1 = g[2 * i + 1]!;
    acc[2 * i] = (acc[2 * i]! + a0 * b0 + ((a1 * b1) % Q) * GAMMAS[i]!) % Q;
    acc[2 * i + 1] = (acc[2 * i + 1]! + a0 * b1 + a1 * b0) % Q;
  }
}

/** Algorithm 7: a uniform element of T_q from SHAKE128(ρ ‖ j ‖ i). */
function sampleNtt(rho: Uint8Array, j: number, i: number): Poly {
  const seed = new Uint8Array(34);
  seed.set(rho);
  seed[32] = j;
  seed[33] = i;
  const xof = shake128.create({}).update(seed);
  const out = new Int32Array(N);
  const block = new Uint8Array(168); // SHAKE128's rate, a multiple of 3
  let filled = 0;
  while (filled < N) {
    xof.xofInto(block);
    for (let p = 0; p < block.length && filled < N; p += 3) {
      const c0 = block[p]!;
      const c1 = block[p + 1]!;
      const c2 = block[p + 2]!;
      const d1 = c0 + 256 * (c1 & 15);
      const d2 = (c1 >> 4) + 16 * c2;
      if (d1 < Q) out[filled++] = d1;
      if (d2 < Q && filled < N) out[filled++] = d2;
    }
  }
  return out;
}

/** Algorithm 8 over PRF_η(s, b) = SHAKE256(s ‖ b, 64η). */
function sampleCbd(seed: Uint8Array, nonce: number, eta: number): Poly {
  const input = new Uint8Array(33);
  input.set(seed);
  input[32] = nonce;
  const bytes = shake256(input, { dkLen: 64 * eta });
  const bit = (index: number): number => (bytes[index >> 3]! >> (index & 7)) & 1;
  const out = new Int32Array(N);
  for (let i = 0; i < N; i++) {
    let x = 0;
    let y = 0;
    for (let j = 0; j < eta; j++) {
      x += bit(2 * i * eta + j);
      y += bit(2 * i * eta + eta + j);
    }
    out[i] = mod(x - y);
  }
  return out;
}

/** ByteEncode_d (Algorithm 5): d-bit little-endian words. */
function byteEncode(values: Poly, d: number): Uint8Array {
  const out = new Uint8Array((N * d) / 8);
  let acc = 0;
  let bits = 0;
  let pos = 0;
  for (let i = 0; i < N; i++) {
    acc |= values[i]! << bits;
    bits += d;
    while (bits >= 8) {
      out[pos++] = acc & 0xff;
      acc >>>= 8;
      bits -= 8;
    }
  }
  return out;
}

/** ByteDecode_d (Algorithm 6), without the mod-q reduction (callers check the range). */
function byteDecode(bytes: Uint8Array, d: number): Poly {
  const out = new Int32Array(N);
  const mask = (1 << d) - 1;
  let acc = 0;
  let bits = 0;
  let pos = 0;
  for (let i = 0; i < N; i++) {
    while (bits < d) {
      acc |= bytes[pos++]! << bits;
      bits += 8;
    }
    out[i] = acc & mask;
    acc >>>= d;
    bits -= d;
  }
  return out;
}

/** Compress_d: round(2^d / q · x) mod 2^d, in integers (q is odd, so no ties). */
function compress(f: Poly, d: number): Poly {
  const out = new Int32Array(N);
  for (let i = 0; i < N; i++) out[i] = Math.floor((f[i]! * 2 ** (d + 1) + Q) / (2 * Q)) & ((1 << d) - 1);
  return out;
}

/** Decompress_d: round(q / 2^d · y), halves rounded up. */
function decompress(f: Poly, d: number): Poly {
  const out = new Int32Array(N);
  for (let i = 0; i < N; i++) out[i] = Math.floor((f[i]! * Q * 2 + 2 ** d) / 2 ** (d + 1));
  return out;
}

function add(a: Poly, b: Poly): Poly {
  for (let i = 0; i < N; i++) a[i] = (a[i]! + b[i]!) % Q;
  return a;
}

/** The randomness of one encryption: ŷ (in NTT form) and e2 regenerate from r alone. */
function secretVector(r: Uint8Array): Poly[] {
  const y: Poly[] = [];
  for (let i = 0; i < K; i++) y.push(ntt(sampleCbd(r, i, ETA1)));
  return y;
}

export interface IncrementalKeys {
  /** 64 bytes, sent first. */
  readonly header: Uint8Array;
  /** 1 152 bytes, sent second. */
  readonly encapsulationKey: Uint8Array;
  /** 2 400 bytes, the standard ML-KEM-768 decapsulation key. Secret. */
  readonly decapsulationKey: Uint8Array;
}

/** A key pair from a 64-byte seed d ‖ z (FIPS 203 ML-KEM.KeyGen_internal). */
export function generateKeys(seed: Uint8Array): IncrementalKeys {
  const { publicKey, secretKey } = ml_kem768.keygen(seed);
  const header = new Uint8Array(HEADER_LENGTH);
  header.set(publicKey.subarray(ENCAPSULATION_KEY_LENGTH), 0);
  header.set(sha3_256(publicKey), 32);
  return {
    header,
    encapsulationKey: publicKey.slice(0, ENCAPSULATION_KEY_LENGTH),
    decapsulationKey: secretKey,
  };
}

/**
 * Whether an encapsulation key part belongs to a header: H(t̂ ‖ ρ) matches and every
 * coefficient of t̂ is below q (the FIPS 203 §7.2 modulus check).
 */
export function encapsulationKeyMatchesHeader(encapsulationKey: Uint8Array, header: Uint8Array): boolean {
  if (encapsulationKey.length !== ENCAPSULATION_KEY_LENGTH || header.length !== HEADER_LENGTH) return false;
  const full = new Uint8Array(ENCAPSULATION_KEY_LENGTH + 32);
  full.set(encapsulationKey);
  full.set(header.subarray(0, 32), ENCAPSULATION_KEY_LENGTH);
  if (!constantTimeEqual(sha3_256(full), header.subarray(32))) return false;
  for (let i = 0; i < K; i++) {
    const t = byteDecode(encapsulationKey.subarray(384 * i, 384 * (i + 1)), 12);
    for (let j = 0; j < N; j++) if (t[j]! >= Q) return false;
  }
  return true;
}

export interface FirstEncapsulation {
  readonly ciphertext1: Uint8Array;
  /** m ‖ r, kept until the key arrives. Secret. */
  readonly state: Uint8Array;
  /** K: the ML-KEM shared secret. Secret. */
  readonly sharedSecret: Uint8Array;
}

/**
 * First half of ML-KEM.Encaps_internal (Algorithm 17) with `m` = 32 random bytes: (K, r) =
 * G(m ‖ H(ek)), and u = NTT⁻¹(Âᵀ ∘ ŷ) + e1 of K-PKE.Encrypt (Algorithm 14) — which needs only
 * ρ and H(ek), both in the header.
 */
export function encapsulate1(header: Uint8Array, m: Uint8Array): FirstEncapsulation {
  const rho = header.subarray(0, 32);
  const gInput = new Uint8Array(64);
  gInput.set(m, 0);
  gInput.set(header.subarray(32, 64), 32);
  const g = sha3_512(gInput);
  const sharedSecret = g.slice(0, 32);
  const r = g.slice(32, 64);
  const y = secretVector(r);
  const ciphertext1 = new Uint8Array(CIPHERTEXT1_LENGTH);
  for (let i = 0; i < K; i++) {
    const acc = new Int32Array(N);
    for (let j = 0; j < K; j++) multiplyAdd(acc, sampleNtt(rho, i, j), y[j]!); // Âᵀ[i][j] = Â[j][i] = SampleNTT(ρ ‖ i ‖ j)
    const u = add(inverseNtt(acc), sampleCbd(r, K + i, ETA2));
    ciphertext1.set(byteEncode(compress(u, DU), DU), ((DU * N) / 8) * i);
  }
  const state = new Uint8Array(ENCAPSULATION_STATE_LENGTH);
  state.set(m, 0);
  state.set(r, 32);
  g.fill(0);
  return { ciphertext1, state, sharedSecret };
}

/**
 * Second half: v = NTT⁻¹(t̂ᵀ ∘ ŷ) + e2 + Decompress1(m). The caller has checked the key part
 * against the header (`encapsulationKeyMatchesHeader`).
 */
export function encapsulate2(state: Uint8Array, encapsulationKey: Uint8Array): Uint8Array {
  const m = state.subarray(0, 32);
  const r = state.subarray(32, 64);
  const y = secretVector(r);
  const acc = new Int32Array(N);
  for (let i = 0; i < K; i++) {
    multiplyAdd(acc, byteDecode(encapsulationKey.subarray(384 * i, 384 * (i + 1)), 12), y[i]!);
  }
  const v = add(add(inverseNtt(acc), sampleCbd(r, 2 * K, ETA2)), decompress(byteDecode(m, 1), 1));
  return byteEncode(compress(v, DV), DV);
}

/** ML-KEM.Decaps with the standard key; a wrong ciphertext yields the implicit-rejection key. */
export function decapsulate(
  decapsulationKey: Uint8Array,
  ciphertext1: Uint8Array,
  ciphertext2: Uint8Array,
): Uint8Array {
  const ciphertext = new Uint8Array(CIPHERTEXT1_LENGTH + CIPHERTEXT2_LENGTH);
  ciphertext.set(ciphertext1, 0);
  ciphertext.set(ciphertext2, CIPHERTEXT1_LENGTH);
  return ml_kem768.decapsulate(ciphertext, decapsulationKey);
}
