import type { ByteReader } from '../binary.js';
import type { SenderKeyFormat } from '../wire/sender-key-format.js';

/** How sender-key records name their wire format: one byte, never reused. */
const FORMAT_BYTES = { signal: 1, whatsapp: 2 } as const satisfies Record<SenderKeyFormat, number>;

export function encodeWireFormat(format: SenderKeyFormat): number {
  return FORMAT_BYTES[format];
}

export function decodeWireFormat(r: ByteReader, byte: number): SenderKeyFormat {
  if (byte === FORMAT_BYTES.signal) return 'signal';
  if (byte === FORMAT_BYTES.whatsapp) return 'whatsapp';
  return r.fail('unknown wire format');
}
