import { ByteReader, ByteWriter } from '../../binary.js';
import { utf8 } from '../../bytes.js';

/**
 * The frame encrypted for one device of an outbound message, kept (sealed) from the commit that
 * advanced the session until the device confirms it or the message expires: every retry and
 * retransmission resends these bytes under this frame id, so a device never gets two different
 * ciphertexts of one message.
 */
export interface StoredFrame {
  readonly frameId: string;
  readonly type: 2 | 3;
  readonly body: Uint8Array;
}

const FRAME_FORMAT = 1;

export function encodeStoredFrame(frame: StoredFrame): Uint8Array {
  return new ByteWriter(frame.body.length + 64)
    .u8(FRAME_FORMAT)
    .bytes(utf8(frame.frameId))
    .u8(frame.type)
    .bytes(frame.body)
    .finish();
}

export function decodeStoredFrame(bytes: Uint8Array): StoredFrame {
  const r = new ByteReader(bytes, 'stored frame');
  if (r.u8() !== FRAME_FORMAT) r.fail('unknown format');
  const frameId = r.text();
  const type = r.u8();
  if (type !== 2 && type !== 3) return r.fail('unknown message type');
  const body = r.bytes();
  r.end();
  return { frameId, type, body };
}
