/**
 * Keys as the SQL adapters store them: UTF-16BE bytes. Bytewise order of UTF-16BE is JavaScript's
 * code-unit order (the order the store contract promises for listing), and `\u0000` or lone
 * surrogates — which UTF-8 text columns refuse or merge — survive. Both directions go through
 * Node's UTF-16LE codec and a byte swap, which copies code units as they are.
 */

export function encodeKey(key: string): Buffer {
  return Buffer.from(key, 'utf16le').swap16();
}

/** The key stored as `raw`, or undefined when `raw` is not UTF-16 bytes (an odd length). */
export function keyFromBytes(raw: Uint8Array): string | undefined {
  if (raw.length % 2 !== 0) return undefined;
  return Buffer.from(raw).swap16().toString('utf16le');
}

/** Smallest byte string greater than every string starting with `prefix`; undefined if none. */
export function prefixSuccessor(prefix: Buffer): Buffer | undefined {
  let end = prefix.length;
  while (end > 0 && prefix[end - 1] === 0xff) end--;
  if (end === 0) return undefined;
  const out = Buffer.from(prefix.subarray(0, end));
  out[end - 1]! += 1;
  return out;
}
