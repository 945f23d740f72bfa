/** The gateway's group records and the group parts of its message, event and frame formats. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isParleyError } from '../src/errors.js';
import { decodeEvent, encodeEvent } from '../src/gateway/durable/event-outbox.js';
import {
  decodeGroupCiphertext,
  decodeGroupHeader,
  decodeGroupMember,
  decodePendingDistribution,
  encodeGroupCiphertext,
  encodeGroupHeader,
  encodeGroupMember,
  encodePendingDistribution,
} from '../src/gateway/durable/group-records.js';
import {
  decodeMessageRecord,
  encodeMessageRecord,
  type MessageRecord,
} from '../src/gateway/durable/records.js';
import { createGateway } from '../src/gateway/gateway.js';
import { createLocalKeyProvider } from '../src/gateway/key-provider.js';
import type { MessageId, StatusEvent } from '../src/gateway/types.js';
import { assertFrame, parseFrameId } from '../src/gateway/validation.js';
import { createMemoryStore } from '../src/storage/memory.js';
import { TestNetwork } from '../src/testing/test-network.js';
import { testCrypto } from './support/parties.js';

function code(operation: () => unknown): string | undefined {
  try {
    operation();
  } catch (error) {
    return isParleyError(error) ? error.code : 'not a ParleyError';
  }
  return undefined;
}

const text = fc.string({ minLength: 0, maxLength: 40 });
const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const time = fc.integer({ min: 0, max: 2 ** 50 });
const bytes = fc.uint8Array({ maxLength: 200 });

const codecs = [
  {
    name: 'group',
    arbitrary: fc.record({ number: text, createdAt: time, rotationDue: fc.boolean() }),
    encode: encodeGroupHeader,
    decode: decodeGroupHeader,
  },
  {
    name: 'group member',
    arbitrary: fc.record({
      phoneNumber: text,
      addedAt: time,
      distributed: fc.array(fc.record({ deviceId: u32, chainId: u32 }), { maxLength: 5 }),
    }),
    encode: encodeGroupMember,
    decode: decodeGroupMember,
  },
  {
    name: 'pending distribution',
    arbitrary: fc.record({ groupId: text, message: bytes }),
    encode: encodePendingDistribution,
    decode: decodePendingDistribution,
  },
  {
    name: 'group ciphertext',
    arbitrary: fc.record({ chainId: u32, iteration: u32, attempt: u32, body: bytes, distribution: bytes }),
    encode: encodeGroupCiphertext,
    decode: decodeGroupCiphertext,
  },
] as const;

describe('group records', () => {
  it.each(codecs)(
    '$name: round-trips, and any other bytes are ERR_INVALID_RECORD only',
    ({ arbitrary, encode, decode }) => {
      const roundTrip = encode as (value: unknown) => Uint8Array;
      const read = decode as (bytes: Uint8Array) => unknown;
      fc.assert(
        fc.property(arbitrary, (value) => {
          expect(read(roundTrip(value))).toEqual(value);
        }),
      );
      fc.assert(
        fc.property(arbitrary, fc.nat(), fc.integer({ min: 1, max: 255 }), (value, at, flip) => {
          const encoded = roundTrip(value);
          const cut = encoded.subarray(0, at % encoded.length);
          expect([undefined, 'ERR_INVALID_RECORD']).toContain(code(() => read(cut)));
          const mutated = encoded.slice();
          mutated[at % mutated.length]! ^= flip;
          expect([undefined, 'ERR_INVALID_RECORD']).toContain(code(() => read(mutated)));
          expect(code(() => read(Uint8Array.of(...encoded, 0)))).toBe('ERR_INVALID_RECORD');
        }),
      );
    },
  );
});

describe('group messages in the message and event formats', () => {
  const base: MessageRecord = {
    direction: 'outbound',
    status: 'sent',
    createdAt: 1,
    deadline: 2,
    number: '+15550100',
    pseudonym: 'g0123456789abcdef0123456789abcdef',
    deviceId: 0,
    attempts: 1,
    firstAttemptAt: 1,
    devices: [
      { id: 1, state: 'sent', member: 'a'.repeat(64) },
      { id: 2, state: 'delivered', member: 'b'.repeat(64) },
    ],
    period: 7,
    content: Uint8Array.of(1, 2, 3),
    group: 'g0123456789abcdef0123456789abcdef',
    recipients: ['a'.repeat(64), 'b'.repeat(64)],
  };

  it('a group message record keeps its group, recipients and each device’s member; 1:1 records stay format 1', () => {
    expect(decodeMessageRecord(encodeMessageRecord(base))).toEqual(base);
    const { group: _group, recipients: _recipients, ...oneToOne } = base;
    const plain = { ...oneToOne, devices: oneToOne.devices.map(({ id, state }) => ({ id, state })) };
    const encoded = encodeMessageRecord(plain);
    expect(encoded[0]).toBe(1);
    expect(decodeMessageRecord(encoded)).toEqual(plain);
    expect(code(() => decodeMessageRecord(Uint8Array.of(3, ...encoded.subarray(1))))).toBe(
      'ERR_INVALID_RECORD',
    );
  });

  it('a group status event names each device’s member', () => {
    const event: StatusEvent = {
      type: 'status',
      eventId: 'e1',
      at: 5,
      businessId: 'shop',
      messageId: 'm1' as MessageId,
      status: 'delivered',
      devices: [
        { deviceId: 1, state: 'delivered', member: 'a'.repeat(64) },
        { deviceId: 2, state: 'sent', member: 'b'.repeat(64) },
      ],
    };
    expect(decodeEvent(encodeEvent(event), 'shop')).toEqual(event);
    const oneToOne: StatusEvent = { ...event, devices: [{ deviceId: 1, state: 'sent' }] };
    expect(decodeEvent(encodeEvent(oneToOne), 'shop')).toEqual(oneToOne);
  });
});

describe('group frames', () => {
  const id = `m${'0'.repeat(32)}`;
  it('frame ids of a group message carry the member tag, and `.k` on the distribution message', () => {
    expect(parseFrameId(`${id}.2.1`)).toEqual({ id, deviceId: 2 });
    expect(parseFrameId(`${id}.2.1.0123456789abcdef`)).toEqual({
      id,
      deviceId: 2,
      member: '0123456789abcdef',
      distribution: false,
    });
    expect(parseFrameId(`${id}.2.1.0123456789abcdef.k`)).toMatchObject({ distribution: true });
    for (const bad of [`${id}.2.1.0123`, `${id}.2.1.0123456789abcdef.x`, `${id}.2.1..k`]) {
      expect(parseFrameId(bad)).toBeUndefined();
    }
  });

  it('type 7 needs a group id; other types must not carry one', () => {
    const frame = { frameId: 'f', to: '+15550100', from: '+15550123', deviceId: 1, body: new Uint8Array(4) };
    expect(code(() => assertFrame({ ...frame, type: 7, groupId: 'g1' }))).toBeUndefined();
    expect(code(() => assertFrame({ ...frame, type: 7 }))).toBe('ERR_INVALID_ARGUMENT');
    expect(code(() => assertFrame({ ...frame, type: 7, groupId: '' }))).toBe('ERR_INVALID_ARGUMENT');
    expect(code(() => assertFrame({ ...frame, type: 7, groupId: 'g'.repeat(257) }))).toBe(
      'ERR_INVALID_ARGUMENT',
    );
    expect(code(() => assertFrame({ ...frame, type: 2, groupId: 'g1' }))).toBe('ERR_INVALID_ARGUMENT');
    expect(code(() => assertFrame({ ...frame, type: 8 as 7, groupId: 'g1' }))).toBe('ERR_INVALID_ARGUMENT');
  });

  it('the gateway refuses a sender-key format it does not know', () => {
    const network = new TestNetwork();
    const options = {
      store: createMemoryStore(),
      vaultStore: createMemoryStore(),
      keyProvider: createLocalKeyProvider({ kek: new Uint8Array(32).fill(1), crypto: testCrypto() }),
      transport: network,
      directory: network,
      timer: false as const,
    };
    expect(code(() => createGateway({ ...options, groups: { format: 'matrix' as 'signal' } }))).toBe(
      'ERR_CONFIGURATION',
    );
    expect(code(() => createGateway({ ...options, groups: null as never }))).toBe('ERR_CONFIGURATION');
    expect(code(() => createGateway({ ...options, groups: { format: 'whatsapp' } }))).toBeUndefined();
  });
});
