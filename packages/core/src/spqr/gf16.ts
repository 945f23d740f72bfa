/**
 * Arithmetic in GF(2^16) modulo x^16 + x^12 + x^3 + x + 1 (0x1100b), the field of SPQR's
 * erasure code. Addition is XOR; multiplication and division go through log/exp tables over
 * the generator x, built on first use (384 KiB). The polynomial is primitive, which the table
 * construction checks: x must reach every one of the 65 535 non-zero elements.
 */
const REDUCTION = 0x1100b;
const ORDER = 0xffff;

let exp: Uint16Array | undefined;
let log: Uint16Array | undefined;

function tables(): { exp: Uint16Array; log: Uint16Array } {
  if (exp && log) return { exp, log };
  const e = new Uint16Array(2 * ORDER);
  const l = new Uint16Array(ORDER + 1);
  let value = 1;
  for (let i = 0; i < ORDER; i++) {
    if (i > 0 && value === 1) throw new Error('GF(2^16): reduction polynomial is not primitive');
    e[i] = value;
    l[value] = i;
    value <<= 1;
    if (value & 0x10000) value ^= REDUCTION;
  }
  for (let i = ORDER; i < 2 * ORDER; i++) e[i] = e[i - ORDER]!;
  exp = e;
  log = l;
  return { exp, log };
}

export function gfMul(a: number, b: number): number {
  if (a === 0 || b === 0) return 0;
  const t = tables();
  return t.exp[t.log[a]! + t.log[b]!]!;
}

/** a / b; division by zero yields zero (as a^(2^16-2) does), which callers never rely on. */
export function gfDiv(a: number, b: number): number {
  if (a === 0 || b === 0) return 0;
  const t = tables();
  return t.exp[t.log[a]! + ORDER - t.log[b]!]!;
}

/** Carry-less multiplication reduced bit by bit: the table-free reference the tests compare with. */
export function gfMulReference(a: number, b: number): number {
  let product = 0;
  for (let bit = 0; bit < 16; bit++) if (b & (1 << bit)) product ^= a << bit;
  for (let bit = 31; bit >= 16; bit--) if (product & (1 << bit)) product ^= REDUCTION << (bit - 16);
  return product & 0xffff;
}
