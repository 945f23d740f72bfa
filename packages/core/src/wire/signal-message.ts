/**
 * SignalMessage (libsignal "Whisper", type 2): version byte ‖ protobuf ‖ 8-byte MAC.
 *
 * The codec only moves bytes; the session layer computes and checks the MAC. The MAC covers
 * the bytes exactly as received (including unknown fields), which is why decoding exposes the
 * received `body` rather than asking callers to re-encode.
 */
import { ParleyError } from '../errors.js';
import {
  assertBytes,
  assertMessageSize,
  assertUint32,
  assertVersion,
  assertWirePublicKey,
  type CiphertextVersion,
  MAC_LENGTH,
  readVersionByte,
  versionByte,
} from './limits.js';
import { ProtobufReader, ProtobufWriter } from './protobuf.js';

/** Field numbers from libsignal `proto/wire.proto`. */
const Field = {
  RatchetKey: 1,
  Counter: 2,
  PreviousCounter: 3,
  Ciphertext: 4,
  /** SPQR message (libsignal ≥ 0.74); carried as bytes, interpreted by `spqr/`. */
  PqRatchet: 5,
  /** Sender/recipient service ids (libsignal ≥ 0.91); MAC-covered, ignored. */
  Addresses: 6,
} as const;

export interface SignalMessageFields {
  readonly version: CiphertextVersion;
  /** Sender's current ratchet public key, 33 bytes (0x05 ‖ 32). */
  readonly ratchetKey: Uint8Array;
  readonly counter: number;
  readonly previousCounter: number;
  readonly ciphertext: Uint8Array;
  /** SPQR payload (field 5); omitted from the wire when absent or empty, as libsignal does. */
  readonly pqRatchet?: Uint8Array | undefined;
}

export interface DecodedSignalMessage extends SignalMessageFields {
  /** SPQR payload (field 5) if the sender included one. */
  readonly pqRatchet: Uint8Array | undefined;
  /**
   * Every byte before the MAC (version byte ‖ protobuf): what the MAC is computed over.
   * This is a subarray that ALIASES the input — it changes if the caller's buffer changes.
   * Every other byte field of the result is a copy.
   */
  readonly body: Uint8Array;
  /** The last MAC_LENGTH bytes, copied. */
  readonly mac: Uint8Array;
}

/**
 * Version byte ‖ protobuf, without the MAC. Fields are written 1, 2, 3, 4, 5 — the order
 * libsignal (prost) and libsignal-node (protobufjs) write them.
 */
export function encodeSignalMessageBody(fields: SignalMessageFields): Uint8Array {
  const { version, ratchetKey, counter, previousCounter, ciphertext, pqRatchet } = fields;
  assertVersion(version);
  assertBytes(ratchetKey, 'ratchetKey');
  assertWirePublicKey(ratchetKey, 'ratchetKey');
  assertUint32(counter, 'counter');
  assertUint32(previousCounter, 'previousCounter');
  assertBytes(ciphertext, 'ciphertext');
  if (pqRatchet !== undefined) assertBytes(pqRatchet, 'pqRatchet');

  const writer = new ProtobufWriter()
    .bytes(Field.RatchetKey, ratchetKey)
    .uint32(Field.Counter, counter)
    .uint32(Field.PreviousCounter, previousCounter)
    .bytes(Field.Ciphertext, ciphertext);
  if (pqRatchet !== undefined && pqRatchet.length > 0) writer.bytes(Field.PqRatchet, pqRatchet);
  // Refuse here what every decoder (ours included) would refuse once the MAC is appended.
  assertMessageSize(1 + writer.length + MAC_LENGTH, 'SignalMessage');
  const body = new Uint8Array(1 + writer.length);
  body[0] = versionByte(version);
  body.set(writer.finish(), 1);
  return body;
}

/** body ‖ mac: the complete SignalMessage. */
export function appendMac(body: Uint8Array, mac: Uint8Array): Uint8Array {
  assertBytes(body, 'body');
  assertBytes(mac, 'mac');
  if (mac.length !== MAC_LENGTH) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', `"mac" expected ${MAC_LENGTH} bytes, got ${mac.length}`, {
      field: 'mac',
      length: mac.length,
    });
  }
  assertMessageSize(body.length + MAC_LENGTH, 'SignalMessage');
  const out = new Uint8Array(body.length + MAC_LENGTH);
  out.set(body, 0);
  out.set(mac, body.length);
  return out;
}

/**
 * Parses a received SignalMessage without checking its MAC. Required: ratchet key, counter,
 * ciphertext. `previous_counter` defaults to 0 when absent, as in libsignal (it is optional
 * in the proto and only sizes the skipped-key window). Unknown fields are skipped.
 */
export function decodeSignalMessage(bytes: Uint8Array): DecodedSignalMessage {
  assertBytes(bytes, 'bytes');
  assertMessageSize(bytes.length, 'SignalMessage');
  if (bytes.length < 1 + MAC_LENGTH) {
    throw new ParleyError(
      'ERR_INVALID_MESSAGE',
      `SignalMessage too short: ${bytes.length} bytes, need at least ${1 + MAC_LENGTH}`,
      { message: 'SignalMessage', length: bytes.length },
    );
  }
  const version = readVersionByte(bytes[0]!);
  const macStart = bytes.length - MAC_LENGTH;
  const body = bytes.subarray(0, macStart);

  let ratchetKey: Uint8Array | undefined;
  let counter: number | undefined;
  let previousCounter: number | undefined;
  let ciphertext: Uint8Array | undefined;
  let pqRatchet: Uint8Array | undefined;

  // Repeated occurrences overwrite: for a non-repeated proto2 field the last one wins.
  const reader = new ProtobufReader(bytes.subarray(1, macStart), 'SignalMessage');
  while (reader.hasMore()) {
    const tag = reader.readTag();
    switch (tag.fieldNumber) {
      case Field.RatchetKey:
        ratchetKey = reader.readBytes(tag);
        break;
      case Field.Counter:
        counter = reader.readUint32(tag);
        break;
      case Field.PreviousCounter:
        previousCounter = reader.readUint32(tag);
        break;
      case Field.Ciphertext:
        ciphertext = reader.readBytes(tag);
        break;
      case Field.PqRatchet:
        pqRatchet = reader.readBytes(tag);
        break;
      default:
        // Includes Field.Addresses: its check belongs to sealed-sender-era peers and is MAC-covered.
        reader.skip(tag);
    }
  }

  if (ratchetKey === undefined) throw missing('ratchet_key', Field.RatchetKey);
  if (counter === undefined) throw missing('counter', Field.Counter);
  if (ciphertext === undefined) throw missing('ciphertext', Field.Ciphertext);
  assertWirePublicKey(ratchetKey, 'ratchetKey');

  return {
    version,
    ratchetKey: ratchetKey.slice(),
    counter,
    previousCounter: previousCounter ?? 0,
    ciphertext: ciphertext.slice(),
    pqRatchet: pqRatchet?.slice(),
    body,
    mac: bytes.slice(macStart),
  };
}

function missing(name: string, field: number): ParleyError {
  return new ParleyError('ERR_INVALID_MESSAGE', `SignalMessage: missing required field ${name}`, {
    message: 'SignalMessage',
    field,
    name,
  });
}
