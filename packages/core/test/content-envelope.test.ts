/**
 * The content envelope codec on its own: round trips of every part, unknown fields skipped,
 * ambiguous envelopes refused, and every malformed input a typed ERR_INVALID_MESSAGE (the
 * cross-checks against Baileys' own protobuf are in content-envelope-baileys.test.ts).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { concatBytes, utf8 } from '../src/bytes.js';
import {
  type ContentEnvelope,
  decodeContentEnvelope,
  encodeContentEnvelope,
  MAX_ENVELOPE_BYTES,
  PARLEY_EXTENSION_FIELD,
} from '../src/content/index.js';
import { isParleyError, type ParleyError } from '../src/errors.js';
import { createMediaPointer, MEDIA_TYPES, type MediaPointer, type MediaType } from '../src/media/index.js';
import { encodeVarint, ProtobufWriter } from '../src/wire/protobuf.js';

function filled(length: number, value: number): Uint8Array {
  return new Uint8Array(length).fill(value);
}

function pointer(type: MediaType, extra: Partial<MediaPointer> = {}): MediaPointer {
  return createMediaPointer({
    type,
    mimetype: 'application/octet-stream',
    mediaKey: filled(32, 1),
    fileSha256: filled(32, 2),
    fileEncSha256: filled(32, 3),
    fileLength: 123_456_789_012,
    directPath: '/v/t62/abc',
    url: 'https://media.example/abc',
    mediaKeyTimestamp: 1_700_000_000,
    ...extra,
  });
}

/** The extras each media type has a field for. */
const EXTRAS: Record<MediaType, Partial<MediaPointer>> = {
  image: { caption: 'a photo', width: 640, height: 480 },
  sticker: { width: 512, height: 512 },
  document: { caption: 'the invoice', fileName: 'invoice.pdf' },
  audio: { seconds: 42 },
  ptt: { seconds: 7 },
  video: { caption: 'a clip', width: 1280, height: 720, seconds: 30 },
  gif: { width: 320, height: 240, seconds: 3 },
  ptv: { width: 400, height: 400, seconds: 12 },
};

function errorOf(run: () => unknown): ParleyError {
  try {
    run();
  } catch (error) {
    if (isParleyError(error)) return error;
    throw error;
  }
  throw new Error('expected a ParleyError');
}

function field(number: number, wireType: number, payload: Uint8Array): Uint8Array {
  return concatBytes(encodeVarint(number * 8 + wireType), payload);
}

function lengthDelimited(number: number, payload: Uint8Array): Uint8Array {
  return field(number, 2, concatBytes(encodeVarint(payload.length), payload));
}

describe('content envelope round trips', () => {
  it('text, bytes, group and sender-key distribution', () => {
    const envelope: ContentEnvelope = {
      text: 'Hello, ünïcödé 👋',
      bytes: Uint8Array.from({ length: 256 }, (_, i) => i),
      group: { groupId: 'group-7f3a' },
      senderKeyDistribution: { groupId: '120363@g.us', message: filled(90, 0x33) },
    };
    const decoded = decodeContentEnvelope(encodeContentEnvelope(envelope));
    expect(decoded).toEqual({ ...envelope, unknownFields: [] });
  });

  it.each(MEDIA_TYPES)('a %s pointer with every field its message type has', (type) => {
    const media = pointer(type, EXTRAS[type]);
    const decoded = decodeContentEnvelope(encodeContentEnvelope({ media, text: 'with text' }));
    expect(decoded.media).toEqual(media);
    expect(decoded.text).toBe('with text');
  });

  it('empty content, empty text and empty bytes are kept apart', () => {
    expect(encodeContentEnvelope({})).toEqual(new Uint8Array(0));
    expect(decodeContentEnvelope(new Uint8Array(0))).toEqual({ unknownFields: [] });
    expect(decodeContentEnvelope(encodeContentEnvelope({ text: '' }))).toEqual({
      text: '',
      unknownFields: [],
    });
    expect(decodeContentEnvelope(encodeContentEnvelope({ bytes: new Uint8Array(0) }))).toEqual({
      bytes: new Uint8Array(0),
      unknownFields: [],
    });
  });

  it('random envelopes round-trip, and the encoding does not depend on the object', () => {
    const text = fc.option(fc.string({ unit: 'grapheme', maxLength: 50 }), { nil: undefined });
    const bytes = fc.option(fc.uint8Array({ maxLength: 100 }), { nil: undefined });
    const groupId = fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 40 });
    fc.assert(
      fc.property(
        text,
        bytes,
        fc.option(groupId, { nil: undefined }),
        fc.constantFrom(...MEDIA_TYPES),
        fc.boolean(),
        (t, b, g, type, withMedia) => {
          const envelope: ContentEnvelope = {
            ...(t !== undefined ? { text: t } : {}),
            ...(b !== undefined ? { bytes: b } : {}),
            ...(g !== undefined ? { group: { groupId: g } } : {}),
            ...(withMedia ? { media: pointer(type, EXTRAS[type]) } : {}),
          };
          const encoded = encodeContentEnvelope(envelope);
          const decoded = decodeContentEnvelope(encoded);
          const { unknownFields, ...rest } = decoded;
          expect(unknownFields).toEqual([]);
          expect(rest).toEqual(envelope);
          expect(encodeContentEnvelope(rest)).toEqual(encoded);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('decoded bytes are copies, and the input is not changed', () => {
    const encoded = encodeContentEnvelope({ bytes: filled(10, 9), media: pointer('image') });
    const before = encoded.slice();
    const decoded = decodeContentEnvelope(encoded);
    encoded.fill(0);
    expect(decoded.bytes).toEqual(filled(10, 9));
    expect(decoded.media?.mediaKey).toEqual(filled(32, 1));
    expect(decodeContentEnvelope(before).bytes).toEqual(filled(10, 9));
  });
});

describe('reading what other clients send', () => {
  it('skips unknown fields of every wire type and reports their numbers only', () => {
    const encoded = concatBytes(
      field(35, 2, concatBytes(encodeVarint(3), Uint8Array.of(1, 2, 3))),
      encodeContentEnvelope({ text: 'hi' }),
      field(200, 0, encodeVarint(2 ** 40)),
      field(201, 1, filled(8, 0)),
      field(202, 5, filled(4, 0)),
      lengthDelimited(
        PARLEY_EXTENSION_FIELD,
        concatBytes(lengthDelimited(1, utf8('raw')), field(9, 0, Uint8Array.of(1))),
      ),
    );
    const decoded = decodeContentEnvelope(encoded);
    expect(decoded.text).toBe('hi');
    expect(decoded.bytes).toEqual(utf8('raw'));
    expect(decoded.unknownFields).toEqual([35, 200, 201, 202]);
  });

  it('reads text from extendedTextMessage (field 6), skipping its other fields', () => {
    const extended = concatBytes(
      lengthDelimited(1, utf8('see https://x.example')),
      lengthDelimited(17, Uint8Array.of(0)),
    );
    expect(decodeContentEnvelope(lengthDelimited(6, extended)).text).toBe('see https://x.example');
  });

  it('a media message without a MIME type gets application/octet-stream; flags pick the alias', () => {
    const w = new ProtobufWriter()
      .bytes(1, utf8('https://m.example/1'))
      .bytes(3, filled(32, 1))
      .uint64(4, 10)
      .uint32(6, 1)
      .bytes(7, filled(32, 2))
      .bytes(8, filled(32, 3));
    const decoded = decodeContentEnvelope(lengthDelimited(8, w.finish()));
    expect(decoded.media?.type).toBe('ptt');
    expect(decoded.media?.mimetype).toBe('application/octet-stream');
  });
});

describe('bad envelopes are refused with typed errors', () => {
  const image = encodeContentEnvelope({ media: pointer('image') });

  it('a known field twice, two media messages, two texts', () => {
    const text = encodeContentEnvelope({ text: 'a' });
    const extension = encodeContentEnvelope({ bytes: filled(1, 1) });
    const skdm = encodeContentEnvelope({ senderKeyDistribution: { groupId: 'g', message: filled(3, 1) } });
    for (const encoded of [
      concatBytes(text, text),
      concatBytes(text, lengthDelimited(6, lengthDelimited(1, utf8('b')))),
      concatBytes(image, encodeContentEnvelope({ media: pointer('video') })),
      concatBytes(image, image),
      concatBytes(extension, extension),
      concatBytes(skdm, skdm),
    ]) {
      expect(errorOf(() => decodeContentEnvelope(encoded)).code).toBe('ERR_INVALID_MESSAGE');
    }
  });

  it('a media message missing a required field, or with one of the wrong size', () => {
    const base = () =>
      new ProtobufWriter()
        .bytes(1, utf8('https://m.example/1'))
        .bytes(4, filled(32, 2))
        .uint64(5, 10)
        .bytes(8, filled(32, 1))
        .bytes(9, filled(32, 3));
    expect(decodeContentEnvelope(lengthDelimited(3, base().finish())).media?.fileLength).toBe(10);
    const cases: Uint8Array[] = [
      new ProtobufWriter()
        .bytes(4, filled(32, 2))
        .uint64(5, 10)
        .bytes(8, filled(32, 1))
        .bytes(9, filled(32, 3))
        .finish(),
      new ProtobufWriter()
        .bytes(1, utf8('u'))
        .uint64(5, 10)
        .bytes(8, filled(32, 1))
        .bytes(9, filled(32, 3))
        .finish(),
      new ProtobufWriter()
        .bytes(1, utf8('u'))
        .bytes(4, filled(32, 2))
        .bytes(8, filled(32, 1))
        .bytes(9, filled(32, 3))
        .finish(),
      new ProtobufWriter()
        .bytes(1, utf8('u'))
        .bytes(4, filled(32, 2))
        .uint64(5, 10)
        .bytes(9, filled(32, 3))
        .finish(),
      new ProtobufWriter()
        .bytes(1, utf8('u'))
        .bytes(4, filled(31, 2))
        .uint64(5, 10)
        .bytes(8, filled(32, 1))
        .bytes(9, filled(32, 3))
        .finish(),
      concatBytes(base().finish(), new ProtobufWriter().uint64(7, 2 ** 33).finish()),
      concatBytes(base().finish(), field(5, 2, Uint8Array.of(0))),
      concatBytes(base().finish(), lengthDelimited(2, Uint8Array.of(0xff, 0xfe))),
    ];
    for (const inner of cases) {
      const error = errorOf(() => decodeContentEnvelope(lengthDelimited(3, inner)));
      expect(error.code).toBe('ERR_INVALID_MESSAGE');
    }
  });

  it('invalid UTF-8, a wrong wire type, a sender-key message without its parts', () => {
    for (const encoded of [
      lengthDelimited(1, Uint8Array.of(0xc3, 0x28)),
      field(1, 0, encodeVarint(5)),
      lengthDelimited(2, lengthDelimited(1, utf8('g'))),
      lengthDelimited(2, lengthDelimited(2, filled(3, 1))),
      lengthDelimited(PARLEY_EXTENSION_FIELD, lengthDelimited(2, new Uint8Array(0))),
      lengthDelimited(PARLEY_EXTENSION_FIELD, lengthDelimited(2, lengthDelimited(1, new Uint8Array(0)))),
    ]) {
      expect(errorOf(() => decodeContentEnvelope(encoded)).code).toBe('ERR_INVALID_MESSAGE');
    }
  });

  it('oversized input is ERR_MESSAGE_TOO_LARGE before parsing', () => {
    expect(errorOf(() => decodeContentEnvelope(new Uint8Array(MAX_ENVELOPE_BYTES + 1))).code).toBe(
      'ERR_MESSAGE_TOO_LARGE',
    );
    expect(errorOf(() => encodeContentEnvelope({ bytes: new Uint8Array(MAX_ENVELOPE_BYTES) })).code).toBe(
      'ERR_MESSAGE_TOO_LARGE',
    );
  });

  it('random bytes and mutated envelopes never throw anything but a ParleyError', () => {
    const valid = encodeContentEnvelope({
      text: 'x',
      media: pointer('document', EXTRAS.document),
      senderKeyDistribution: { groupId: 'g', message: filled(5, 5) },
      group: { groupId: 'g' },
    });
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.nat(valid.length - 1),
        fc.integer({ min: 1, max: 255 }),
        (random, at, xor) => {
          const mutated = valid.slice();
          mutated[at]! ^= xor;
          for (const input of [random, mutated, valid.subarray(0, at)]) {
            try {
              decodeContentEnvelope(input);
            } catch (error) {
              expect(isParleyError(error)).toBe(true);
              expect(['ERR_INVALID_MESSAGE']).toContain((error as ParleyError).code);
            }
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it('encoding refuses what cannot be carried: a caption on a sticker, a lone surrogate, a bad group id', () => {
    const cases: [ContentEnvelope, string][] = [
      [{ media: pointer('sticker', { caption: 'no slot' }) }, 'caption'],
      [{ media: pointer('audio', { fileName: 'a.ogg' }) }, 'fileName'],
      [{ media: pointer('document', { width: 3 }) }, 'width'],
      [{ text: 'broken \uD800 text' }, 'text'],
      [{ group: { groupId: '' } }, 'group.groupId'],
      [
        { senderKeyDistribution: { groupId: 'g', message: 'x' as unknown as Uint8Array } },
        'senderKeyDistribution.message',
      ],
      [{ text: 5 as unknown as string }, 'text'],
      [{ bytes: [1, 2] as unknown as Uint8Array }, 'bytes'],
    ];
    for (const [envelope, fieldName] of cases) {
      const error = errorOf(() => encodeContentEnvelope(envelope));
      expect(error.code, fieldName).toBe('ERR_INVALID_ARGUMENT');
      expect(error.details.field).toBe(fieldName);
    }
  });
});
