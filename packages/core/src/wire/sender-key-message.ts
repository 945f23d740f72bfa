/**
 * SenderKeyMessage (a group message, ciphertext type 7): version byte ‖ protobuf ‖ 64-byte
 * XEdDSA signature over everything before it.
 *
 *   signal   (libsignal wire.proto):  1 distribution_uuid (bytes, 16), 2 chain_id, 3 iteration, 4 ciphertext
 *   whatsapp (WAProto, Baileys):       1 id (the chain id),             2 iteration, 3 ciphertext
 *
 * The codec only moves bytes; the group layer checks the signature, over the bytes exactly as
 * received (unknown fields included), which is why decoding exposes `signed`.
 */
import { ParleyError } from '../errors.js';
import { assertBytes, assertMessageSize, assertUint32 } from './limits.js';
import { ProtobufReader, ProtobufWriter } from './protobuf.js';
import {
  assertDistributionIdArgument,
  assertSenderKeyFormat,
  checkDistributionId,
  missingField,
  readSenderKeyVersion,
  SENDER_KEY_SIGNATURE_LENGTH,
  type SenderKeyFormat,
  senderKeyVersionByte,
} from './sender-key-format.js';

const WHAT = 'SenderKeyMessage';

const SignalField = { DistributionId: 1, ChainId: 2, Iteration: 3, Ciphertext: 4 } as const;
const WhatsAppField = { ChainId: 1, Iteration: 2, Ciphertext: 3 } as const;

export interface SenderKeyMessageFields {
  readonly format: SenderKeyFormat;
  /** 16 bytes in the `signal` format; absent in the `whatsapp` format. */
  readonly distributionId?: Uint8Array | undefined;
  readonly chainId: number;
  readonly iteration: number;
  readonly ciphertext: Uint8Array;
}

export interface DecodedSenderKeyMessage extends SenderKeyMessageFields {
  readonly version: number;
  /**
   * Version byte ‖ protobuf: what the signature covers. A subarray that ALIASES the input;
   * every other byte field of the result is a copy.
   */
  readonly signed: Uint8Array;
  /** The last 64 bytes, copied. */
  readonly signature: Uint8Array;
}

/** Version byte ‖ protobuf, to be signed. Fields in number order, as prost and protobufjs write them. */
export function encodeSenderKeyMessageBody(fields: SenderKeyMessageFields): Uint8Array {
  const { format, distributionId, chainId, iteration, ciphertext } = fields;
  assertSenderKeyFormat(format);
  assertUint32(chainId, 'chainId');
  assertUint32(iteration, 'iteration');
  assertBytes(ciphertext, 'ciphertext');
  const writer = new ProtobufWriter();
  if (format === 'signal') {
    assertDistributionIdArgument(distributionId);
    writer
      .bytes(SignalField.DistributionId, distributionId)
      .uint32(SignalField.ChainId, chainId)
      .uint32(SignalField.Iteration, iteration)
      .bytes(SignalField.Ciphertext, ciphertext);
  } else {
    if (distributionId !== undefined) {
      throw new ParleyError('ERR_INVALID_ARGUMENT', '"distributionId" has no place in the whatsapp format', {
        field: 'distributionId',
      });
    }
    writer
      .uint32(WhatsAppField.ChainId, chainId)
      .uint32(WhatsAppField.Iteration, iteration)
      .bytes(WhatsAppField.Ciphertext, ciphertext);
  }
  assertMessageSize(1 + writer.length + SENDER_KEY_SIGNATURE_LENGTH, WHAT);
  const body = new Uint8Array(1 + writer.length);
  body[0] = senderKeyVersionByte();
  body.set(writer.finish(), 1);
  return body;
}

/** body ‖ signature: the complete SenderKeyMessage. */
export function appendSenderKeySignature(body: Uint8Array, signature: Uint8Array): Uint8Array {
  assertBytes(body, 'body');
  assertBytes(signature, 'signature');
  if (signature.length !== SENDER_KEY_SIGNATURE_LENGTH) {
    throw new ParleyError(
      'ERR_INVALID_ARGUMENT',
      `"signature" expected ${SENDER_KEY_SIGNATURE_LENGTH} bytes, got ${signature.length}`,
      { field: 'signature', length: signature.length },
    );
  }
  assertMessageSize(body.length + SENDER_KEY_SIGNATURE_LENGTH, WHAT);
  const out = new Uint8Array(body.length + SENDER_KEY_SIGNATURE_LENGTH);
  out.set(body, 0);
  out.set(signature, body.length);
  return out;
}

/**
 * Parses a received SenderKeyMessage of the given format without checking its signature.
 * Every field is required (libsignal refuses a message missing any); unknown fields are
 * skipped; a field of the other format's wire type is refused.
 */
export function decodeSenderKeyMessage(bytes: Uint8Array, format: SenderKeyFormat): DecodedSenderKeyMessage {
  assertBytes(bytes, 'bytes');
  assertSenderKeyFormat(format);
  assertMessageSize(bytes.length, WHAT);
  if (bytes.length < 1 + SENDER_KEY_SIGNATURE_LENGTH) {
    throw new ParleyError(
      'ERR_INVALID_MESSAGE',
      `${WHAT} too short: ${bytes.length} bytes, need at least ${1 + SENDER_KEY_SIGNATURE_LENGTH}`,
      { message: WHAT, length: bytes.length },
    );
  }
  const version = readSenderKeyVersion(bytes[0]!, WHAT);
  const signatureStart = bytes.length - SENDER_KEY_SIGNATURE_LENGTH;
  const fields = format === 'signal' ? SignalField : WhatsAppField;

  let distributionId: Uint8Array | undefined;
  let chainId: number | undefined;
  let iteration: number | undefined;
  let ciphertext: Uint8Array | undefined;
  const reader = new ProtobufReader(bytes.subarray(1, signatureStart), WHAT);
  while (reader.hasMore()) {
    const tag = reader.readTag();
    if (format === 'signal' && tag.fieldNumber === SignalField.DistributionId) {
      distributionId = reader.readBytes(tag);
    } else if (tag.fieldNumber === fields.ChainId) {
      chainId = reader.readUint32(tag);
    } else if (tag.fieldNumber === fields.Iteration) {
      iteration = reader.readUint32(tag);
    } else if (tag.fieldNumber === fields.Ciphertext) {
      ciphertext = reader.readBytes(tag);
    } else {
      reader.skip(tag);
    }
  }
  if (format === 'signal' && distributionId === undefined) {
    throw missingField(WHAT, 'distribution_uuid', SignalField.DistributionId);
  }
  if (chainId === undefined) throw missingField(WHAT, 'chain_id', fields.ChainId);
  if (iteration === undefined) throw missingField(WHAT, 'iteration', fields.Iteration);
  if (ciphertext === undefined) throw missingField(WHAT, 'ciphertext', fields.Ciphertext);
  return {
    format,
    version,
    distributionId: distributionId === undefined ? undefined : checkDistributionId(distributionId, WHAT),
    chainId,
    iteration,
    ciphertext: ciphertext.slice(),
    signed: bytes.subarray(0, signatureStart),
    signature: bytes.slice(signatureStart),
  };
}
