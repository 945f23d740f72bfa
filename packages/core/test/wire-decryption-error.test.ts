/**
 * Decryption-error messages in plaintext content (type 8), byte for byte against
 * @signalapp/libsignal-client: what libsignal builds for real whisper, prekey and sender-key
 * messages is what Parley builds for the same messages, and each side reads the other's bytes.
 */
import fc from 'fast-check';
import * as lsc23 from 'lsc-0-23';
import * as lsc72 from 'lsc-0-72';
import * as lsc90 from 'lsc-0-90';
import * as lsc103 from 'lsc-0-103';
import { describe, expect, it } from 'vitest';
import { isParleyError } from '../src/errors.js';
import {
  decodeDecryptionErrorContent,
  decodeDecryptionErrorMessage,
  decodePreKeySignalMessage,
  decodeSignalMessage,
  decryptionErrorFor,
  encodeDecryptionErrorContent,
  encodeDecryptionErrorMessage,
  MAX_PLAINTEXT_CONTENT_BYTES,
} from '../src/wire/index.js';
import { createLscPeer, type LscKind, type PeerMessage } from './peers/index.js';

/** The part of libsignal-client's API this file uses; the same in every version below. */
interface LscDem {
  DecryptionErrorMessage: {
    forOriginal(bytes: Uint8Array, type: number, timestamp: number, deviceId: number): LscDemMessage;
    deserialize(bytes: Uint8Array): LscDemMessage;
    extractFromSerializedBody(bytes: Uint8Array): LscDemMessage;
  };
  PlaintextContent: {
    from(message: LscDemMessage): { serialize(): Uint8Array; body(): Uint8Array };
    deserialize(bytes: Uint8Array): { serialize(): Uint8Array; body(): Uint8Array };
  };
}
interface LscDemMessage {
  serialize(): Uint8Array;
  timestamp(): number;
  deviceId(): number;
  ratchetKey(): { serialize(): Uint8Array } | undefined;
}

const versions: [LscKind, LscDem][] = [
  ['lsc-0.23.1', lsc23 as unknown as LscDem],
  ['lsc-0.72.1', lsc72 as unknown as LscDem],
  ['lsc-0.90.0', lsc90 as unknown as LscDem],
  ['lsc-0.103.0', lsc103 as unknown as LscDem],
];

const buf = (bytes: Uint8Array) => Buffer.from(bytes);
const u8 = (bytes: Uint8Array) => Uint8Array.from(bytes);

/** A prekey message and a whisper message from a real session between two peers of one version. */
async function realMessages(kind: LscKind): Promise<{ prekey: PeerMessage; whisper: PeerMessage }> {
  const alice = await createLscPeer(kind, { name: 'alice', deviceId: 1 });
  const bob = await createLscPeer(kind, { name: 'bob', deviceId: 7 });
  await alice.processBundle(bob.address, await bob.createBundle());
  const prekey = await alice.encrypt(bob.address, new TextEncoder().encode('hello'));
  await bob.decrypt(alice.address, prekey);
  const whisper = await bob.encrypt(alice.address, new TextEncoder().encode('reply'));
  expect([prekey.type, whisper.type]).toEqual([3, 2]);
  return { prekey, whisper };
}

// libsignal's own test values (protocol.rs `test_decryption_error_message`): a timestamp above
// 2^32 and a device id with the top bit set.
const TIMESTAMP = 0x2_0000_0001;
const DEVICE_ID = 0x8086_2021;

describe.each(versions)('decryption-error messages against %s', (kind, lsc) => {
  it('for a real whisper and prekey message: the same bytes as libsignal, and each reads the other', async () => {
    const { prekey, whisper } = await realMessages(kind);
    for (const original of [whisper, prekey]) {
      const theirs = lsc.DecryptionErrorMessage.forOriginal(
        buf(original.body),
        original.type,
        TIMESTAMP,
        DEVICE_ID,
      );
      const ours = decryptionErrorFor(original, TIMESTAMP, DEVICE_ID);
      const signal = original.type === 2 ? original.body : decodePreKeySignalMessage(original.body).message;
      expect(ours.ratchetKey).toEqual(decodeSignalMessage(signal).ratchetKey);
      expect(u8(theirs.ratchetKey()!.serialize())).toEqual(ours.ratchetKey);

      // The message alone, and wrapped as plaintext content.
      expect(encodeDecryptionErrorMessage(ours)).toEqual(u8(theirs.serialize()));
      const theirContent = u8(lsc.PlaintextContent.from(theirs).serialize());
      expect(encodeDecryptionErrorContent(ours)).toEqual(theirContent);

      // libsignal → Parley.
      expect(decodeDecryptionErrorContent(theirContent)).toEqual(ours);
      // Parley → libsignal.
      const read = lsc.DecryptionErrorMessage.extractFromSerializedBody(
        lsc.PlaintextContent.deserialize(buf(encodeDecryptionErrorContent(ours))).body(),
      );
      expect([read.timestamp(), read.deviceId(), u8(read.ratchetKey()!.serialize())]).toEqual([
        TIMESTAMP,
        DEVICE_ID,
        ours.ratchetKey,
      ]);
    }
  });

  it('for a sender-key message: no ratchet key, on both sides', () => {
    // libsignal does not parse a sender-key original; its bytes do not matter.
    const theirs = lsc.DecryptionErrorMessage.forOriginal(buf(new Uint8Array([1, 2, 3])), 7, 5, 2);
    expect(theirs.ratchetKey()).toBeUndefined();
    const ours = decryptionErrorFor({ type: 7, body: new Uint8Array([1, 2, 3]) }, 5, 2);
    expect(ours).toEqual({ timestamp: 5, deviceId: 2 });
    expect(encodeDecryptionErrorContent(ours)).toEqual(u8(lsc.PlaintextContent.from(theirs).serialize()));
    const read = lsc.DecryptionErrorMessage.deserialize(buf(encodeDecryptionErrorMessage(ours)));
    expect([read.timestamp(), read.deviceId(), read.ratchetKey()]).toEqual([5, 2, undefined]);
  });

  it('timestamps and device ids at their edges round-trip through libsignal', async () => {
    const { whisper } = await realMessages(kind);
    for (const [timestamp, deviceId] of [
      [0, 0],
      [1, 1],
      [Date.UTC(2026, 0, 1), 127],
      [Number.MAX_SAFE_INTEGER, 0xffff_ffff],
    ] as const) {
      const ours = decryptionErrorFor(whisper, timestamp, deviceId);
      const theirs = lsc.DecryptionErrorMessage.forOriginal(buf(whisper.body), 2, timestamp, deviceId);
      expect(encodeDecryptionErrorContent(ours)).toEqual(u8(lsc.PlaintextContent.from(theirs).serialize()));
      expect(decodeDecryptionErrorMessage(u8(theirs.serialize()))).toEqual(ours);
    }
  });
});

describe('decryption-error codecs refuse what is not one', () => {
  const valid = encodeDecryptionErrorContent({
    ratchetKey: Uint8Array.of(5, ...new Uint8Array(32).fill(9)),
    timestamp: 1_700_000_000_000,
    deviceId: 1,
  });

  it('each malformation is ERR_INVALID_MESSAGE (or a key error), and the input is not changed', () => {
    const content = (...bytes: number[]) => Uint8Array.of(0xc0, ...bytes, 0x80);
    const bad: [string, Uint8Array, string][] = [
      ['empty', new Uint8Array(0), 'ERR_INVALID_MESSAGE'],
      ['identifier only', Uint8Array.of(0xc0), 'ERR_INVALID_MESSAGE'],
      ['wrong identifier', Uint8Array.of(0x33, ...valid.subarray(1)), 'ERR_INVALID_MESSAGE'],
      ['no boundary byte', valid.subarray(0, valid.length - 1), 'ERR_INVALID_MESSAGE'],
      ['padding after the boundary', Uint8Array.of(...valid, 0), 'ERR_INVALID_MESSAGE'],
      ['empty content', content(), 'ERR_INVALID_MESSAGE'],
      ['a data message, not a decryption error', content(0x0a, 1, 0x41), 'ERR_INVALID_MESSAGE'],
      ['field 8 as a varint', content(0x40, 1), 'ERR_INVALID_MESSAGE'],
      ['no timestamp', content(0x42, 2, 0x18, 1), 'ERR_INVALID_MESSAGE'],
      ['truncated field', content(0x42, 9, 0x10), 'ERR_INVALID_MESSAGE'],
      ['ratchet key of 3 bytes', content(0x42, 7, 0x0a, 3, 5, 1, 2, 0x10, 1), 'ERR_INVALID_KEY'],
      [
        'timestamp above 2^53',
        content(0x42, 11, 0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f),
        'ERR_INVALID_MESSAGE',
      ],
      [
        'device id above 2^32',
        content(0x42, 9, 0x10, 1, 0x18, 0x80, 0x80, 0x80, 0x80, 0x10),
        'ERR_INVALID_MESSAGE',
      ],
      ['a group (deprecated wire type)', content(0x43), 'ERR_INVALID_MESSAGE'],
      ['too large', new Uint8Array(MAX_PLAINTEXT_CONTENT_BYTES + 1).fill(0xc0), 'ERR_INVALID_MESSAGE'],
    ];
    for (const [name, bytes, code] of bad) {
      const before = bytes.slice();
      let caught: unknown;
      try {
        decodeDecryptionErrorContent(bytes);
      } catch (error) {
        caught = error;
      }
      expect(isParleyError(caught, code as 'ERR_INVALID_MESSAGE'), name).toBe(true);
      expect(bytes, name).toEqual(before);
    }
  });

  it('a device id left out reads as 0, unknown fields are skipped (as libsignal)', () => {
    const withoutDevice = Uint8Array.of(0xc0, 0x42, 2, 0x10, 42, 0x80);
    expect(decodeDecryptionErrorContent(withoutDevice)).toEqual({ timestamp: 42, deviceId: 0 });
    expect(
      lsc103.DecryptionErrorMessage.extractFromSerializedBody(
        lsc103.PlaintextContent.deserialize(buf(withoutDevice)).body(),
      ).deviceId(),
    ).toBe(0);
    const withExtra = Uint8Array.of(0xc0, 0x0a, 1, 0x41, 0x42, 4, 0x10, 42, 0x78, 3, 0x80);
    expect(decodeDecryptionErrorContent(withExtra)).toEqual({ timestamp: 42, deviceId: 0 });
  });

  it('the encoders refuse bad arguments with ERR_INVALID_ARGUMENT or ERR_INVALID_KEY', () => {
    const key = Uint8Array.of(5, ...new Uint8Array(32));
    const attempts: [string, () => unknown, string][] = [
      [
        'negative timestamp',
        () => encodeDecryptionErrorContent({ timestamp: -1, deviceId: 1 }),
        'ERR_INVALID_ARGUMENT',
      ],
      [
        'fractional timestamp',
        () => encodeDecryptionErrorContent({ timestamp: 1.5, deviceId: 1 }),
        'ERR_INVALID_ARGUMENT',
      ],
      [
        'device id 2^32',
        () => encodeDecryptionErrorContent({ timestamp: 1, deviceId: 2 ** 32 }),
        'ERR_INVALID_ARGUMENT',
      ],
      [
        'short ratchet key',
        () => encodeDecryptionErrorContent({ ratchetKey: key.subarray(1), timestamp: 1, deviceId: 1 }),
        'ERR_INVALID_KEY',
      ],
      ['null message', () => encodeDecryptionErrorContent(null as never), 'ERR_INVALID_ARGUMENT'],
      [
        'plaintext original',
        () => decryptionErrorFor({ type: 8 as never, body: new Uint8Array(1) }, 1, 1),
        'ERR_INVALID_ARGUMENT',
      ],
      [
        'garbage whisper original',
        () => decryptionErrorFor({ type: 2, body: new Uint8Array(20) }, 1, 1),
        'ERR_UNKNOWN_VERSION',
      ],
      [
        'garbage prekey original',
        () => decryptionErrorFor({ type: 3, body: Uint8Array.of(0x33, 0xff) }, 1, 1),
        'ERR_INVALID_MESSAGE',
      ],
      ['no body', () => decryptionErrorFor({ type: 2 } as never, 1, 1), 'ERR_INVALID_ARGUMENT'],
    ];
    for (const [name, attempt, code] of attempts) {
      let caught: unknown;
      try {
        attempt();
      } catch (error) {
        caught = error;
      }
      expect(isParleyError(caught), name).toBe(true);
      expect((caught as { code: string }).code, name).toBe(code);
    }
  });

  it('property: any fields round-trip; any bytes decode or fail with a ParleyError', () => {
    fc.assert(
      fc.property(
        fc.option(fc.uint8Array({ minLength: 32, maxLength: 32 }), { nil: undefined }),
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.integer({ min: 0, max: 0xffff_ffff }),
        (key, timestamp, deviceId) => {
          const message = { ratchetKey: key && Uint8Array.of(5, ...key), timestamp, deviceId };
          const decoded = decodeDecryptionErrorContent(encodeDecryptionErrorContent(message));
          expect(decoded).toEqual(key ? message : { timestamp, deviceId });
        },
      ),
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (tail) => {
        for (const bytes of [tail, Uint8Array.of(0xc0, ...tail, 0x80)]) {
          try {
            decodeDecryptionErrorContent(bytes);
          } catch (error) {
            expect(isParleyError(error)).toBe(true);
          }
        }
      }),
    );
  });
});
