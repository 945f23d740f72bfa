/**
 * PreKeySignalMessage (libsignal type 3): version byte ‖ protobuf, no outer MAC. It carries the
 * handshake facts (which prekeys were used, the initiator's base and identity keys) around a
 * whole SignalMessage, whose own MAC authenticates the exchange.
 */
import { ParleyError } from '../errors.js';
import {
  assertBytes,
  assertMessageSize,
  assertUint32,
  assertVersion,
  assertWirePublicKey,
  CIPHERTEXT_VERSION_V4,
  type CiphertextVersion,
  KYBER_CIPHERTEXT_LENGTH,
  KYBER_KEY_TYPE,
  readVersionByte,
  versionByte,
} from './limits.js';
import { ProtobufReader, ProtobufWriter } from './protobuf.js';

/** Field numbers from libsignal `proto/wire.proto`. */
const Field = {
  PreKeyId: 1,
  BaseKey: 2,
  IdentityKey: 3,
  Message: 4,
  RegistrationId: 5,
  SignedPreKeyId: 6,
  KyberPreKeyId: 7,
  KyberCiphertext: 8,
} as const;

export interface PreKeySignalMessageFields {
  readonly version: CiphertextVersion;
  /** Sender's registration id; libsignal reads an absent field as 0. */
  readonly registrationId: number;
  /** One-time prekey used, if any. */
  readonly preKeyId?: number | undefined;
  readonly signedPreKeyId: number;
  /** Initiator's ephemeral (base) public key, 33 bytes. */
  readonly baseKey: Uint8Array;
  /** Initiator's identity public key, 33 bytes. */
  readonly identityKey: Uint8Array;
  /** The complete inner SignalMessage (with its MAC), undecoded. */
  readonly message: Uint8Array;
  /** v4 only: the Kyber prekey used. */
  readonly kyberPreKeyId?: number | undefined;
  /** v4 only: 0x08 ‖ 1568-byte Kyber-1024 ciphertext. */
  readonly kyberCiphertext?: Uint8Array | undefined;
}

export interface DecodedPreKeySignalMessage extends PreKeySignalMessageFields {
  readonly preKeyId: number | undefined;
  readonly kyberPreKeyId: number | undefined;
  readonly kyberCiphertext: Uint8Array | undefined;
}

/**
 * Encodes in field-number order 1..8, which is what libsignal (prost sorts fields by tag) and
 * libsignal-node (protobufjs) emit. A v4 message needs both Kyber fields; a v3 message may not
 * carry them (X3DH has no KEM step, so such fields could only be a caller's mistake).
 */
export function encodePreKeySignalMessage(fields: PreKeySignalMessageFields): Uint8Array {
  const { version, registrationId, preKeyId, signedPreKeyId, baseKey, identityKey, message } = fields;
  const { kyberPreKeyId, kyberCiphertext } = fields;
  assertVersion(version);
  assertUint32(registrationId, 'registrationId');
  if (preKeyId !== undefined) assertUint32(preKeyId, 'preKeyId');
  assertUint32(signedPreKeyId, 'signedPreKeyId');
  assertBytes(baseKey, 'baseKey');
  assertWirePublicKey(baseKey, 'baseKey');
  assertBytes(identityKey, 'identityKey');
  assertWirePublicKey(identityKey, 'identityKey');
  assertBytes(message, 'message');

  const hasKyber = kyberPreKeyId !== undefined || kyberCiphertext !== undefined;
  if (version === CIPHERTEXT_VERSION_V4) {
    if (kyberPreKeyId === undefined || kyberCiphertext === undefined) {
      throw new ParleyError(
        'ERR_INVALID_ARGUMENT',
        'a v4 PreKeySignalMessage needs kyberPreKeyId and kyberCiphertext',
        {
          field: kyberPreKeyId === undefined ? 'kyberPreKeyId' : 'kyberCiphertext',
        },
      );
    }
    assertUint32(kyberPreKeyId, 'kyberPreKeyId');
    assertBytes(kyberCiphertext, 'kyberCiphertext');
    if (!isKyberCiphertext(kyberCiphertext)) {
      throw new ParleyError(
        'ERR_INVALID_ARGUMENT',
        `"kyberCiphertext" expected ${KYBER_CIPHERTEXT_LENGTH} bytes starting 0x08, got ${kyberCiphertext.length}`,
        { field: 'kyberCiphertext', length: kyberCiphertext.length },
      );
    }
  } else if (hasKyber) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', 'a v3 PreKeySignalMessage carries no Kyber fields', {
      field: kyberPreKeyId !== undefined ? 'kyberPreKeyId' : 'kyberCiphertext',
    });
  }

  const writer = new ProtobufWriter();
  if (preKeyId !== undefined) writer.uint32(Field.PreKeyId, preKeyId);
  writer
    .bytes(Field.BaseKey, baseKey)
    .bytes(Field.IdentityKey, identityKey)
    .bytes(Field.Message, message)
    .uint32(Field.RegistrationId, registrationId)
    .uint32(Field.SignedPreKeyId, signedPreKeyId);
  if (kyberPreKeyId !== undefined && kyberCiphertext !== undefined) {
    writer.uint32(Field.KyberPreKeyId, kyberPreKeyId).bytes(Field.KyberCiphertext, kyberCiphertext);
  }
  assertMessageSize(1 + writer.length, 'PreKeySignalMessage');
  const out = new Uint8Array(1 + writer.length);
  out[0] = versionByte(version);
  out.set(writer.finish(), 1);
  return out;
}

/**
 * Parses a PreKeySignalMessage, fields in any order, unknown fields skipped. Follows libsignal's
 * parser (rust/protocol/src/protocol.rs, `TryFrom<&[u8]> for PreKeySignalMessage`):
 * - base key, identity key, message and signed prekey id are required;
 * - registration id defaults to 0, prekey id is optional;
 * - the Kyber fields come as a pair or not at all; v4 requires the pair; a v3 message carrying
 *   the pair is accepted and the pair exposed (libsignal parses it too) — the session layer
 *   decides what a v3 handshake does with it.
 * The inner `message` is returned undecoded (a copy); decode it with `decodeSignalMessage`.
 */
export function decodePreKeySignalMessage(bytes: Uint8Array): DecodedPreKeySignalMessage {
  assertBytes(bytes, 'bytes');
  assertMessageSize(bytes.length, 'PreKeySignalMessage');
  if (bytes.length < 1) {
    throw new ParleyError('ERR_INVALID_MESSAGE', 'PreKeySignalMessage is empty', {
      message: 'PreKeySignalMessage',
      length: 0,
    });
  }
  const version = readVersionByte(bytes[0]!);

  let preKeyId: number | undefined;
  let baseKey: Uint8Array | undefined;
  let identityKey: Uint8Array | undefined;
  let message: Uint8Array | undefined;
  let registrationId: number | undefined;
  let signedPreKeyId: number | undefined;
  let kyberPreKeyId: number | undefined;
  let kyberCiphertext: Uint8Array | undefined;

  // Repeated occurrences overwrite: for a non-repeated proto2 field the last one wins.
  const reader = new ProtobufReader(bytes.subarray(1), 'PreKeySignalMessage');
  while (reader.hasMore()) {
    const tag = reader.readTag();
    switch (tag.fieldNumber) {
      case Field.PreKeyId:
        preKeyId = reader.readUint32(tag);
        break;
      case Field.BaseKey:
        baseKey = reader.readBytes(tag);
        break;
      case Field.IdentityKey:
        identityKey = reader.readBytes(tag);
        break;
      case Field.Message:
        message = reader.readBytes(tag);
        break;
      case Field.RegistrationId:
        registrationId = reader.readUint32(tag);
        break;
      case Field.SignedPreKeyId:
        signedPreKeyId = reader.readUint32(tag);
        break;
      case Field.KyberPreKeyId:
        kyberPreKeyId = reader.readUint32(tag);
        break;
      case Field.KyberCiphertext:
        kyberCiphertext = reader.readBytes(tag);
        break;
      default:
        reader.skip(tag);
    }
  }

  if (baseKey === undefined) throw missing('base_key', Field.BaseKey);
  if (identityKey === undefined) throw missing('identity_key', Field.IdentityKey);
  if (message === undefined) throw missing('message', Field.Message);
  if (signedPreKeyId === undefined) throw missing('signed_pre_key_id', Field.SignedPreKeyId);

  if ((kyberPreKeyId === undefined) !== (kyberCiphertext === undefined)) {
    throw new ParleyError(
      'ERR_INVALID_MESSAGE',
      'PreKeySignalMessage: kyber_pre_key_id and kyber_ciphertext must both be present or both absent',
      {
        message: 'PreKeySignalMessage',
        field: kyberPreKeyId === undefined ? Field.KyberPreKeyId : Field.KyberCiphertext,
        name: kyberPreKeyId === undefined ? 'kyber_pre_key_id' : 'kyber_ciphertext',
      },
    );
  }
  if (version === CIPHERTEXT_VERSION_V4 && kyberCiphertext === undefined) {
    throw new ParleyError('ERR_INVALID_MESSAGE', 'PreKeySignalMessage: a v4 message needs the Kyber fields', {
      message: 'PreKeySignalMessage',
      field: Field.KyberPreKeyId,
      name: 'kyber_pre_key_id',
      version,
    });
  }
  // libsignal defers this check to decapsulation; refusing early keeps malformed input out of the KEM.
  if (kyberCiphertext !== undefined && !isKyberCiphertext(kyberCiphertext)) {
    throw new ParleyError(
      'ERR_INVALID_MESSAGE',
      `PreKeySignalMessage: kyber_ciphertext expected ${KYBER_CIPHERTEXT_LENGTH} bytes starting 0x08`,
      { message: 'PreKeySignalMessage', field: Field.KyberCiphertext, length: kyberCiphertext.length },
    );
  }
  assertWirePublicKey(baseKey, 'baseKey');
  assertWirePublicKey(identityKey, 'identityKey');

  return {
    version,
    registrationId: registrationId ?? 0,
    preKeyId,
    signedPreKeyId,
    baseKey: baseKey.slice(),
    identityKey: identityKey.slice(),
    message: message.slice(),
    kyberPreKeyId,
    kyberCiphertext: kyberCiphertext?.slice(),
  };
}

function isKyberCiphertext(bytes: Uint8Array): boolean {
  return bytes.length === KYBER_CIPHERTEXT_LENGTH && bytes[0] === KYBER_KEY_TYPE;
}

function missing(name: string, field: number): ParleyError {
  return new ParleyError('ERR_INVALID_MESSAGE', `PreKeySignalMessage: missing required field ${name}`, {
    message: 'PreKeySignalMessage',
    field,
    name,
  });
}
