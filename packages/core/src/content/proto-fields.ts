/**
 * String and bool fields on top of the wire layer's minimal protobuf reader and writer (which
 * Signal's messages never needed): strings are UTF-8, checked strictly on the way in, and
 * refused on the way out when they could not survive the round trip (lone surrogates).
 */
import { utf8 } from '../bytes.js';
import { ParleyError } from '../errors.js';
import type { FieldTag, ProtobufReader, ProtobufWriter } from '../wire/protobuf.js';

const strictDecoder = new TextDecoder('utf-8', { fatal: true });
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function invalidMessage(context: string, reason: string, field?: number): ParleyError {
  const where = field === undefined ? '' : ` (field ${field})`;
  return new ParleyError('ERR_INVALID_MESSAGE', `${context}: ${reason}${where}`, { message: context, field });
}

export function readString(reader: ProtobufReader, tag: FieldTag, context: string, maxBytes: number): string {
  const bytes = reader.readBytes(tag);
  if (bytes.length > maxBytes)
    throw invalidMessage(context, `string longer than ${maxBytes} bytes`, tag.fieldNumber);
  try {
    return strictDecoder.decode(bytes);
  } catch {
    throw invalidMessage(context, 'string is not valid UTF-8', tag.fieldNumber);
  }
}

/** protobuf bools are varints; any non-zero value is true (as protobufjs and protoc read them). */
export function readBool(reader: ProtobufReader, tag: FieldTag): boolean {
  return reader.readUint64(tag) !== 0;
}

export function assertWellFormed(value: string, field: string): void {
  if (LONE_SURROGATE.test(value)) {
    throw new ParleyError(
      'ERR_INVALID_ARGUMENT',
      `"${field}" contains a lone surrogate (not encodable as UTF-8)`,
      {
        field,
      },
    );
  }
}

export function writeString(writer: ProtobufWriter, fieldNumber: number, value: string, field: string): void {
  assertWellFormed(value, field);
  writer.bytes(fieldNumber, utf8(value));
}

export function writeBool(writer: ProtobufWriter, fieldNumber: number, value: boolean): void {
  writer.uint32(fieldNumber, value ? 1 : 0);
}

/** Refuses a second occurrence of a field: two values would be read differently by different parsers. */
export class SeenFields {
  readonly #seen = new Set<number>();

  constructor(private readonly context: string) {}

  once(tag: FieldTag): void {
    if (this.#seen.has(tag.fieldNumber))
      throw invalidMessage(this.context, 'field repeated', tag.fieldNumber);
    this.#seen.add(tag.fieldNumber);
  }
}
