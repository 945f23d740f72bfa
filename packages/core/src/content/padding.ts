import { ParleyError } from '../errors.js';

/**
 * Signal's padding block: content is padded to a multiple of 160 bytes, so the transport
 * learns only a bucketed length.
 */
export const DEFAULT_PADDING_BLOCK = 160;

/** Appends 0x80 and then zeros up to the next multiple of `block` (always at least one byte). */
export function padContent(content: Uint8Array, block: number = DEFAULT_PADDING_BLOCK): Uint8Array {
  if (!Number.isInteger(block) || block < 1 || block > 65_536) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"block" expected an integer from 1 to 65536', { block });
  }
  const length = Math.ceil((content.length + 1) / block) * block;
  const out = new Uint8Array(length);
  out.set(content);
  out[content.length] = 0x80;
  return out;
}

/**
 * Strips the padding: trailing zeros, then the 0x80 marker. Like Signal clients, content
 * without a marker is returned unchanged (a peer that does not pad).
 */
export function unpadContent(padded: Uint8Array): Uint8Array {
  for (let i = padded.length - 1; i >= 0; i--) {
    const byte = padded[i]!;
    if (byte === 0) continue;
    return byte === 0x80 ? padded.slice(0, i) : padded.slice();
  }
  return padded.slice();
}
