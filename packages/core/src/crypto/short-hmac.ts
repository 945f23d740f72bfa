/**
 * HMAC-SHA256 and HKDF-SHA256 (RFC 2104, RFC 5869) in plain JavaScript, for the short inputs
 * of the session path.
 *
 * Why not node:crypto: every `hkdfSync` or `createHmac` call pays a fixed cost of object setup
 * and a native crossing that dwarfs hashing a block or two (measured on Node 20: `hkdfSync` for
 * 80 bytes ≈ 9 µs, the same HKDF built from four `createHmac` calls ≈ 8 µs, this file ≈ 4 µs;
 * one `createHmac` of a 32-byte key over one byte ≈ 1.7 µs, this file ≈ 1.1 µs — a SHA-256
 * block costs ≈ 0.37 µs here). The Double Ratchet derives keys with two HMACs and one HKDF on
 * every message, so the node provider sends short inputs here and long ones to OpenSSL, whose
 * hashing per block is faster.
 *
 * Constant time: SHA-256 has no data-dependent branches or table lookups, and nothing below
 * branches on key material. Scratch state lives in module-level typed arrays (no allocation
 * per block) and is wiped after each call.
 */

const ROUND_CONSTANTS = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
]);
const INITIAL_STATE = new Int32Array([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);
const BLOCK = 64;

/**
 * Inputs up to this many bytes (ikm, salt, info each) take this path; longer ones are rare
 * (none on the session path) and go to OpenSSL, which hashes them faster.
 */
export const SHORT_HKDF_MAX_INPUT = 512;
/**
 * Data up to two blocks: an HMAC of it is at most six blocks here, about what one `createHmac`
 * call costs. (A Signal message MAC covers ~130 bytes and more: OpenSSL.)
 */
export const SHORT_HMAC_MAX_DATA = 2 * BLOCK - 9;
/** RFC 5869: at most 255 blocks of output. */
const MAX_OUTPUT = 255 * 32;

const schedule = new Int32Array(64);
/** One padded tail (at most two blocks) of a message being hashed. */
const tail = new Uint8Array(2 * BLOCK);
const state = new Int32Array(8);
const innerPad = new Int32Array(8);
const outerPad = new Int32Array(8);
const keyBlock = new Uint8Array(BLOCK);
const prk = new Uint8Array(32);
const digestBytes = new Uint8Array(32);
/** T(i-1) ‖ info ‖ i for one expansion step; sized for the longest info accepted. */
const expandInput = new Uint8Array(32 + SHORT_HKDF_MAX_INPUT + 1);

function compress(h: Int32Array, block: Uint8Array, offset: number): void {
  const w = schedule;
  const k = ROUND_CONSTANTS;
  for (let i = 0; i < 16; i++, offset += 4) {
    w[i] =
      (block[offset]! << 24) | (block[offset + 1]! << 16) | (block[offset + 2]! << 8) | block[offset + 3]!;
  }
  for (let i = 16; i < 64; i++) {
    const w15 = w[i - 15]!;
    const w2 = w[i - 2]!;
    const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3);
    const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10);
    w[i] = (s1 + w[i - 7]! + s0 + w[i - 16]!) | 0;
  }
  let a = h[0]!;
  let b = h[1]!;
  let c = h[2]!;
  let d = h[3]!;
  let e = h[4]!;
  let f = h[5]!;
  let g = h[6]!;
  let hh = h[7]!;
  for (let i = 0; i < 64; i++) {
    const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    // Ch and Maj in their cheaper equivalent forms (fewer operations, same values).
    const t1 = (hh + s1 + (g ^ (e & (f ^ g))) + k[i]! + w[i]!) | 0;
    const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (s0 + ((a & b) | (c & (a | b)))) | 0;
    hh = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  h[0] = (h[0]! + a) | 0;
  h[1] = (h[1]! + b) | 0;
  h[2] = (h[2]! + c) | 0;
  h[3] = (h[3]! + d) | 0;
  h[4] = (h[4]! + e) | 0;
  h[5] = (h[5]! + f) | 0;
  h[6] = (h[6]! + g) | 0;
  h[7] = (h[7]! + hh) | 0;
}

/**
 * Finishes a hash whose state `from` has absorbed `absorbed` bytes (a whole number of blocks)
 * with `data[0, length)`; writes the 32-byte digest into `out` at `outOffset`.
 */
function finish(
  from: Int32Array,
  absorbed: number,
  data: Uint8Array,
  length: number,
  out: Uint8Array,
  outOffset: number,
): void {
  state.set(from);
  let offset = 0;
  for (; length - offset >= BLOCK; offset += BLOCK) compress(state, data, offset);
  const rest = length - offset;
  tail.fill(0);
  tail.set(data.subarray(offset, length), 0);
  tail[rest] = 0x80;
  const tailLength = rest + 9 <= BLOCK ? BLOCK : 2 * BLOCK;
  // Message length in bits, big-endian in the last 8 bytes (inputs here are far below 2^32 bits).
  const bits = (absorbed + length) * 8;
  tail[tailLength - 4] = bits >>> 24;
  tail[tailLength - 3] = bits >>> 16;
  tail[tailLength - 2] = bits >>> 8;
  tail[tailLength - 1] = bits;
  compress(state, tail, 0);
  if (tailLength === 2 * BLOCK) compress(state, tail, BLOCK);
  for (let i = 0; i < 8; i++) {
    const v = state[i]!;
    out[outOffset + 4 * i] = v >>> 24;
    out[outOffset + 4 * i + 1] = v >>> 16;
    out[outOffset + 4 * i + 2] = v >>> 8;
    out[outOffset + 4 * i + 3] = v;
  }
}

/** Sets the inner and outer pad states of HMAC for a key of at most 64 bytes. */
function setKey(key: Uint8Array): void {
  keyBlock.fill(0);
  keyBlock.set(key);
  for (let i = 0; i < BLOCK; i++) keyBlock[i]! ^= 0x36;
  innerPad.set(INITIAL_STATE);
  compress(innerPad, keyBlock, 0);
  for (let i = 0; i < BLOCK; i++) keyBlock[i]! ^= 0x36 ^ 0x5c;
  outerPad.set(INITIAL_STATE);
  compress(outerPad, keyBlock, 0);
  keyBlock.fill(0);
}

/**
 * The pad states of HMAC keyed with zeros (RFC 5869's default salt, used by every v3 message
 * key derivation): constants, computed once.
 */
const zeroKeyPads = (() => {
  setKey(new Uint8Array(32));
  const pads = { inner: Int32Array.from(innerPad), outer: Int32Array.from(outerPad) };
  innerPad.fill(0);
  outerPad.fill(0);
  return pads;
})();

function isZero(bytes: Uint8Array): boolean {
  let bits = 0;
  for (let i = 0; i < bytes.length; i++) bits |= bytes[i]!;
  return bits === 0;
}

/** HMAC with the key last given to `setKey`. */
function mac(data: Uint8Array, length: number, out: Uint8Array, outOffset: number): void {
  finish(innerPad, BLOCK, data, length, digestBytes, 0);
  finish(outerPad, BLOCK, digestBytes, 32, out, outOffset);
}

/** Whether `shortHmacSha256` takes these sizes (beyond them OpenSSL is as fast or faster). */
export function fitsShortHmac(key: Uint8Array, data: Uint8Array): boolean {
  return key.length <= BLOCK && data.length <= SHORT_HMAC_MAX_DATA;
}

/** HMAC-SHA256 for inputs `fitsShortHmac` accepts. */
export function shortHmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(32);
  setKey(key);
  mac(data, data.length, out, 0);
  wipeScratch();
  return out;
}

function wipeScratch(): void {
  digestBytes.fill(0);
  tail.fill(0);
  state.fill(0);
  schedule.fill(0);
  innerPad.fill(0);
  outerPad.fill(0);
}

/** Whether `shortHkdfSha256` takes these sizes (the caller falls back to OpenSSL otherwise). */
export function fitsShortHkdf(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): boolean {
  return (
    ikm.length <= SHORT_HKDF_MAX_INPUT &&
    salt.length <= BLOCK &&
    info.length <= SHORT_HKDF_MAX_INPUT &&
    length <= MAX_OUTPUT
  );
}

/**
 * HKDF-SHA256 for inputs `fitsShortHkdf` accepts; `salt` is used as given (the caller maps an
 * absent salt to 32 zero bytes, which as an HMAC key is the same as an empty one).
 */
export function shortHkdfSha256(
  ikm: Uint8Array,
  salt: Uint8Array,
  info: Uint8Array,
  length: number,
): Uint8Array {
  const out = new Uint8Array(length);
  // Extract: PRK = HMAC(salt, ikm).
  if (isZero(salt)) {
    // Zero bytes of any length up to a block pad to the same key block.
    innerPad.set(zeroKeyPads.inner);
    outerPad.set(zeroKeyPads.outer);
  } else {
    setKey(salt);
  }
  mac(ikm, ikm.length, prk, 0);
  // Expand: T(i) = HMAC(PRK, T(i-1) ‖ info ‖ i).
  setKey(prk);
  let previous = 0;
  for (let i = 1, offset = 0; offset < length; i++, offset += 32) {
    if (previous > 0) expandInput.set(digestBytes, 0);
    expandInput.set(info, previous);
    expandInput[previous + info.length] = i;
    mac(expandInput, previous + info.length + 1, digestBytes, 0);
    const take = Math.min(32, length - offset);
    out.set(take === 32 ? digestBytes : digestBytes.subarray(0, take), offset);
    previous = 32;
  }
  prk.fill(0);
  expandInput.fill(0, 0, 32 + info.length + 1);
  wipeScratch();
  return out;
}
