/**
 * SenderKeyDistributionMessage: version byte ‖ protobuf, no signature of its own (it travels
 * inside an authenticated 1:1 session message).
 *
 *   signal   (libsignal wire.proto):  1 distribution_uuid (16), 2 chain_id, 3 iteration, 4 chain_key (32), 5 signing_key (33)
 *   whatsapp (WAProto, Baileys):       1 id (the chain id),      2 iteration, 3 chainKey (32),  4 signingKey (33)
 */
import { ParleyError } from '../errors.js';
import { assertBytes, assertMessageSize, assertUint32, assertWirePublicKey } from './limits.js';
import { ProtobufReader, ProtobufWriter } from './protobuf.js';
import {
  assertDistributionIdArgument,
  assertSenderKeyFormat,
  checkDistributionId,
  missingField,
  readSenderKeyVersion,
  SENDER_CHAIN_KEY_LENGTH,
  type SenderKeyFormat,
  senderKeyVersionByte,
} from './sender-key-format.js';

const WHAT = 'SenderKeyDistributionMessage';

const SignalField = { DistributionId: 1, ChainId: 2, Iteration: 3, ChainKey: 4, SigningKey: 5 } as const;
const WhatsAppField = { ChainId: 1, Iteration: 2, ChainKey: 3, SigningKey: 4 } as const;

export interface SenderKeyDistributionMessageFields {
  readonly format: SenderKeyFormat;
  /** 16 bytes in the `signal` format; absent in the `whatsapp` format. */
  readonly distributionId?: Uint8Array | undefined;
  readonly chainId: number;
  /** The iteration `chainKey` belongs to: the receiver can read messages from it on. */
  readonly iteration: number;
  /** 32 bytes. */
  readonly chainKey: Uint8Array;
  /** 33 bytes, 0x05-prefixed: the key that verifies this chain's messages. */
  readonly signingKey: Uint8Array;
}

export interface DecodedSenderKeyDistributionMessage extends SenderKeyDistributionMessageFields {
  readonly version: number;
}

export function encodeSenderKeyDistributionMessage(fields: SenderKeyDistributionMessageFields): Uint8Array {
  const { format, distributionId, chainId, iteration, chainKey, signingKey } = fields;
  assertSenderKeyFormat(format);
  assertUint32(chainId, 'chainId');
  assertUint32(iteration, 'iteration');
  assertBytes(chainKey, 'chainKey');
  if (chainKey.length !== SENDER_CHAIN_KEY_LENGTH) {
    throw new ParleyError(
      'ERR_INVALID_ARGUMENT',
      `"chainKey" expected ${SENDER_CHAIN_KEY_LENGTH} bytes, got ${chainKey.length}`,
      { field: 'chainKey', length: chainKey.length },
    );
  }
  assertBytes(signingKey, 'signingKey');
  assertWirePublicKey(signingKey, 'signingKey');
  const writer = new ProtobufWriter();
  if (format === 'signal') {
    assertDistributionIdArgument(distributionId);
    writer
      .bytes(SignalField.DistributionId, distributionId)
      .uint32(SignalField.ChainId, chainId)
      .uint32(SignalField.Iteration, iteration)
      .bytes(SignalField.ChainKey, chainKey)
      .bytes(SignalField.SigningKey, signingKey);
  } else {
    if (distributionId !== undefined) {
      throw new ParleyError('ERR_INVALID_ARGUMENT', '"distributionId" has no place in the whatsapp format', {
        field: 'distributionId',
      });
    }
    writer
      .uint32(WhatsAppField.ChainId, chainId)
      .uint32(WhatsAppField.Iteration, iteration)
      .bytes(WhatsAppField.ChainKey, chainKey)
      .bytes(WhatsAppField.SigningKey, signingKey);
  }
  const out = new Uint8Array(1 + writer.length);
  out[0] = senderKeyVersionByte();
  out.set(writer.finish(), 1);
  return out;
}

/**
 * Parses a distribution message of the given format. Every field is required; the chain key
 * must be 32 bytes and the signing key a 33-byte 0x05 public key (as libsignal and whatsmeow
 * require); unknown fields are skipped.
 */
export function decodeSenderKeyDistributionMessage(
  bytes: Uint8Array,
  format: SenderKeyFormat,
): DecodedSenderKeyDistributionMessage {
  assertBytes(bytes, 'bytes');
  assertSenderKeyFormat(format);
  assertMessageSize(bytes.length, WHAT);
  if (bytes.length < 1) {
    throw new ParleyError('ERR_INVALID_MESSAGE', `${WHAT} is empty`, { message: WHAT, length: 0 });
  }
  const version = readSenderKeyVersion(bytes[0]!, WHAT);
  const fields = format === 'signal' ? SignalField : WhatsAppField;

  let distributionId: Uint8Array | undefined;
  let chainId: number | undefined;
  let iteration: number | undefined;
  let chainKey: Uint8Array | undefined;
  let signingKey: Uint8Array | undefined;
  const reader = new ProtobufReader(bytes.subarray(1), WHAT);
  while (reader.hasMore()) {
    const tag = reader.readTag();
    if (format === 'signal' && tag.fieldNumber === SignalField.DistributionId) {
      distributionId = reader.readBytes(tag);
    } else if (tag.fieldNumber === fields.ChainId) {
      chainId = reader.readUint32(tag);
    } else if (tag.fieldNumber === fields.Iteration) {
      iteration = reader.readUint32(tag);
    } else if (tag.fieldNumber === fields.ChainKey) {
      chainKey = reader.readBytes(tag);
    } else if (tag.fieldNumber === fields.SigningKey) {
      signingKey = reader.readBytes(tag);
    } else {
      reader.skip(tag);
    }
  }
  if (format === 'signal' && distributionId === undefined) {
    throw missingField(WHAT, 'distribution_uuid', SignalField.DistributionId);
  }
  if (chainId === undefined) throw missingField(WHAT, 'chain_id', fields.ChainId);
  if (iteration === undefined) throw missingField(WHAT, 'iteration', fields.Iteration);
  if (chainKey === undefined) throw missingField(WHAT, 'chain_key', fields.ChainKey);
  if (signingKey === undefined) throw missingField(WHAT, 'signing_key', fields.SigningKey);
  if (chainKey.length !== SENDER_CHAIN_KEY_LENGTH) {
    throw new ParleyError(
      'ERR_INVALID_MESSAGE',
      `${WHAT}: chain key must be ${SENDER_CHAIN_KEY_LENGTH} bytes, got ${chainKey.length}`,
      { message: WHAT, field: fields.ChainKey, length: chainKey.length },
    );
  }
  assertWirePublicKey(signingKey, 'signingKey');
  return {
    format,
    version,
    distributionId: distributionId === undefined ? undefined : checkDistributionId(distributionId, WHAT),
    chainId,
    iteration,
    chainKey: chainKey.slice(),
    signingKey: signingKey.slice(),
  };
}
