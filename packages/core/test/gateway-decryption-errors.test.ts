/**
 * The gateway's retries in Signal's format, through the testing kit's network and people:
 * a person's device that lost its session answers with a decryption-error frame and gets the
 * message again from a new session; a business number that cannot decrypt a person's frame
 * sends one and gets the message again. Errors that name nothing the gateway sent on — forged,
 * replayed, about another device, a flood — change no stored byte.
 */
import { describe, expect, it } from 'vitest';
import { toHex } from '../src/bytes.js';
import { createGateway, type GatewayOptions } from '../src/gateway/gateway.js';
import type { InboundFrame, MessageId, OutboundFrame } from '../src/gateway/types.js';
import type { Store } from '../src/storage/contract.js';
import { createMemoryStore } from '../src/storage/memory.js';
import { ManualClock } from '../src/testing/manual-clock.js';
import { createTestWorld, type TestWorld } from '../src/testing/test-world.js';
import {
  decodeDecryptionErrorContent,
  encodeDecryptionErrorContent,
  sendingRatchetKey,
} from '../src/wire/index.js';
import { createTestGateway, memoryStores, setUpBusiness } from './support/gateway-network.js';
import { snapshot, testCrypto } from './support/parties.js';

const DAY = 24 * 60 * 60 * 1000;
const HOUR = 60 * 60 * 1000;

interface World extends TestWorld {
  readonly store: Store;
}

async function world(seed: string, gateway: Partial<GatewayOptions> = {}): Promise<World> {
  const clock = new ManualClock();
  const store = createMemoryStore({ clock });
  const w = await createTestWorld({
    seed,
    clock,
    crypto: testCrypto(),
    stores: { store, vaultStore: createMemoryStore({ clock }) },
    gateway: {
      ...gateway,
      preKeys: {
        batchSize: 10,
        lowWaterMark: 2,
        kyberBatchSize: 2,
        kyberLowWaterMark: 1,
        ...gateway.preKeys,
      },
    },
  });
  return { ...w, store };
}

/** A conversation both ways, so the person's device and the gateway each hold a session. */
async function talking(w: TestWorld): Promise<void> {
  await w.person.send(w.business.number, 'hello');
  await w.network.flush();
  await w.business.send(w.person.phoneNumber, 'welcome');
  await w.network.flush();
  expect(w.person.textsFrom()).toEqual(['welcome']);
}

/** Type-8 frames the gateway handed to the network, decoded. */
function errorsSent(w: TestWorld) {
  return w.network.sent
    .filter((frame) => frame.type === 8)
    .map((frame) => decodeDecryptionErrorContent(frame.body));
}

/** A decryption-error frame from a person's device, as a Signal client would send it. */
function errorFrame(
  w: TestWorld,
  fields: { ratchetKey?: Uint8Array | undefined; timestamp: number; deviceId?: number },
  from: { phoneNumber?: string; deviceId?: number } = {},
): InboundFrame {
  return {
    frameId: `dem-${toHex(w.random(8))}`,
    to: w.business.number,
    from: from.phoneNumber ?? w.person.phoneNumber,
    deviceId: from.deviceId ?? 1,
    type: 8,
    body: encodeDecryptionErrorContent({ deviceId: 1, ...fields }),
    timestamp: w.clock.now(),
  };
}

/** The last frame of a message to one device. */
function frameOf(w: TestWorld, id: MessageId, deviceId = 1): OutboundFrame & { type: 2 | 3 } {
  const frame = w.network.sent.filter((f) => f.frameId.startsWith(`${id}.${deviceId}.`)).at(-1);
  if (!frame || frame.type === 8) throw new Error('no such frame');
  return frame as OutboundFrame & { type: 2 | 3 };
}

/** What a real device's error about that frame says. */
function errorAbout(frame: OutboundFrame & { type: 2 | 3 }) {
  return { ratchetKey: sendingRatchetKey(frame), timestamp: frame.timestamp };
}

const NOTHING = { kind: 'decryption-error', resent: false, sessionArchived: false };

describe('a person’s device that lost its session (a restored backup)', () => {
  it('recovers in one round trip: error → the message again, from a new session; each message seen once', async () => {
    const w = await world('lost-session');
    await talking(w);
    await w.person.device().sessions.deleteSession({ name: w.business.number, deviceId: 1 });

    const id = await w.business.send(w.person.phoneNumber, 'after the restore');
    // 1: the message reaches the device, which cannot read it and answers with an error.
    expect((await w.network.step()).map((d) => d.result)).toEqual(['refused']);
    // 2: the error reaches the gateway: the session is archived and the message sent again.
    expect((await w.network.step()).map((d) => d.result === 'accepted' && d.outcome)).toEqual([
      { kind: 'decryption-error', resent: true, sessionArchived: true },
    ]);
    // 3: the message again, as the prekey message of a new session.
    const third = await w.network.step();
    expect(third.map((d) => [d.result, d.packet.kind === 'frame' && d.packet.frame.type])).toEqual([
      ['received', 3],
    ]);
    await w.network.flush();
    expect(w.person.textsFrom()).toEqual(['welcome', 'after the restore']);
    // One timestamp in both frames of the message; the receipt for the second delivers it.
    const frames = w.network.sent.filter((f) => f.frameId.startsWith(`${id}.`));
    expect(frames).toHaveLength(2);
    expect(new Set(frames.map((f) => f.timestamp)).size).toBe(1);
    expect((await w.gateway.status(id)).status).toBe('delivered');

    // The conversation goes on both ways; the business saw each message once.
    await w.person.send(w.business.number, 'thanks');
    await w.business.send(w.person.phoneNumber, 'you are welcome');
    await w.network.flush();
    expect(w.business.messages.map((m) => m.text)).toEqual(['hello', 'thanks']);
    expect(w.person.textsFrom()).toEqual(['welcome', 'after the restore', 'you are welcome']);
    expect(errorsSent(w)).toEqual([]);
  });

  it('every message sent before the device noticed comes again: one archive, each message resent once', async () => {
    const w = await world('lost-session-burst');
    await talking(w);
    await w.person.device().sessions.deleteSession({ name: w.business.number, deviceId: 1 });
    for (const text of ['one', 'two', 'three']) await w.business.send(w.person.phoneNumber, text);
    await w.network.step();
    expect((await w.network.step()).map((d) => d.result === 'accepted' && d.outcome)).toEqual([
      { kind: 'decryption-error', resent: true, sessionArchived: true },
      { kind: 'decryption-error', resent: true, sessionArchived: false },
      { kind: 'decryption-error', resent: true, sessionArchived: false },
    ]);
    await w.network.flush();
    expect(w.person.textsFrom()).toEqual(['welcome', 'one', 'two', 'three']);
  });

  it('a message past its retention: the session is still restarted, nothing is resent', async () => {
    const w = await world('lost-session-expired', {});
    await talking(w);
    const id = await w.business.send(w.person.phoneNumber, 'old');
    await w.network.flush();
    const error = errorFrame(w, errorAbout(frameOf(w, id)));
    w.clock.advance(31 * DAY);
    expect(await w.gateway.receiveFrame(error)).toEqual({
      kind: 'decryption-error',
      resent: false,
      sessionArchived: true,
    });
  });
});

describe('erasure', () => {
  it('deletes what retries kept about a person: timestamps, answered and restart markers', async () => {
    const w = await world('erasure');
    await talking(w);
    await w.person.device().sessions.deleteSession({ name: w.business.number, deviceId: 1 });
    await w.business.send(w.person.phoneNumber, 'lost');
    await w.network.flush();
    const kept = async () =>
      (await w.store.list('meta', { prefix: `gw/b/${w.business.id}/` }))
        .map((record) => record.key)
        .filter((key) => /\/t\/|\/r\//.test(key));
    const before = await kept();
    expect(before.some((key) => key.includes('/answered/'))).toBe(true);
    expect(before.some((key) => key.endsWith('/reset'))).toBe(true);
    await w.gateway.erase(w.business.id, w.person.phoneNumber);
    expect(await kept()).toEqual([]);
  });
});

describe('a business number that cannot decrypt a person’s frame', () => {
  it('whose prekeys were reset (the signed prekey rotated past its grace) asks, and the device resends from a fresh bundle', async () => {
    const w = await world('prekeys-reset', { preKeys: { signedRotationMs: 7 * DAY, signedGraceMs: DAY } });
    // The device starts a session from the directory's bundle; its first frame is held up.
    await w.person.startSession(w.business.number, await w.network.businessBundle(w.business.number));
    const held = await w.person.encrypt(w.business.number, 'sent before the reset');
    w.clock.advance(7 * DAY + 1);
    await w.gateway.tick(); // rotation
    w.clock.advance(DAY + 1);
    await w.gateway.tick(); // the previous signed prekey is gone

    expect(await w.gateway.receiveFrame(held)).toEqual({
      kind: 'undecryptable',
      reason: 'ERR_PREKEY_NOT_FOUND',
      retryRequested: true,
    });
    expect(errorsSent(w)).toEqual([
      {
        ratchetKey: sendingRatchetKey(held as InboundFrame & { type: 3 }),
        timestamp: held.timestamp,
        deviceId: 1,
      },
    ]);
    // The device archives its unanswered session, fetches a fresh bundle and sends again.
    const { deliveries } = await w.network.flush();
    expect(deliveries.map((d) => d.result)).toEqual(['answered', 'accepted']);
    expect(deliveries[0]).toMatchObject({ answer: { resent: true, sessionArchived: true } });
    expect(deliveries[1]).toMatchObject({ outcome: { kind: 'accepted' } });
    expect(w.business.messages.map((m) => m.text)).toEqual(['sent before the reset']);
  });

  it('whose sessions were lost (a store restored from before them) asks, and the device resends on a new session', async () => {
    const w = await world('business-lost');
    await talking(w);
    for (const record of await w.store.list('sessions'))
      await w.store.commit([{ type: 'delete', namespace: 'sessions', key: record.key }]);

    await w.person.send(w.business.number, 'into the void');
    const { deliveries } = await w.network.flush();
    expect(deliveries.map((d) => (d.result === 'accepted' ? d.outcome.kind : d.result))).toEqual([
      'undecryptable',
      'answered',
      'accepted',
    ]);
    expect(w.business.messages.map((m) => m.text)).toEqual(['hello', 'into the void']);
    await w.business.send(w.person.phoneNumber, 'back again');
    await w.network.flush();
    expect(w.person.textsFrom()).toEqual(['welcome', 'back again']);
  });
});

describe('errors that change nothing', () => {
  it('a forged ratchet key, a replay, another device of the business, another person: no stored byte changes', async () => {
    const w = await world('abuse');
    const other = await w.addPerson('+15550199');
    await talking(w);
    await other.send(w.business.number, 'hi from other');
    await w.network.flush();
    const id = await w.business.send(w.person.phoneNumber, 'named');
    await w.network.flush();
    const real = errorAbout(frameOf(w, id));

    const before = await snapshot(w.store);
    const forged = Uint8Array.of(5, ...new Uint8Array(32).fill(0x42));
    const attempts: [string, InboundFrame][] = [
      ['forged ratchet key', errorFrame(w, { ...real, ratchetKey: forged })],
      ['no ratchet key (a group error; none sent)', errorFrame(w, { ...real, ratchetKey: undefined })],
      ['another device of the business', errorFrame(w, { ...real, deviceId: 2 })],
      ['an unknown timestamp', errorFrame(w, { ...real, ratchetKey: forged, timestamp: real.timestamp + 1 })],
      [
        'another person naming the message',
        errorFrame(w, { ...real, ratchetKey: forged }, { phoneNumber: other.phoneNumber }),
      ],
    ];
    for (const [name, frame] of attempts) expect(await w.gateway.receiveFrame(frame), name).toEqual(NOTHING);
    expect(await snapshot(w.store)).toEqual(before);

    // Delivered: the device confirmed it read the message, so an error about it is made up;
    // the session it names is archived (the ratchet key is current) but nothing is resent.
    expect((await w.gateway.status(id)).status).toBe('delivered');
    expect(await w.gateway.receiveFrame(errorFrame(w, real))).toEqual({
      kind: 'decryption-error',
      resent: false,
      sessionArchived: true,
    });
    // A replay of it: the session is no longer the one named.
    const afterFirst = await snapshot(w.store);
    expect(await w.gateway.receiveFrame(errorFrame(w, real))).toEqual(NOTHING);
    expect(await snapshot(w.store)).toEqual(afterFirst);
    expect(w.errors).toEqual([]);
  });

  it('a replayed error resends nothing twice; a flood archives once per interval and changes nothing else', async () => {
    const w = await world('flood');
    await talking(w);
    await w.person.device().sessions.deleteSession({ name: w.business.number, deviceId: 1 });
    w.person.decryptionErrors = false; // the test sends the errors itself
    const id = await w.business.send(w.person.phoneNumber, 'lost');
    await w.network.flush();
    const real = errorAbout(frameOf(w, id));
    expect(await w.gateway.receiveFrame(errorFrame(w, real))).toEqual({
      kind: 'decryption-error',
      resent: true,
      sessionArchived: true,
    });
    await w.gateway.idle();
    const resent = frameOf(w, id);
    expect(resent.type).toBe(3);
    // Keep the resent message from the device: the flood is all the gateway sees.
    w.network.drop({ direction: 'to-person' });

    const before = await snapshot(w.store);
    const sentBefore = w.network.sent.length;
    const flood: InboundFrame[] = [];
    for (let i = 0; i < 200; i++) {
      const pick = i % 4;
      flood.push(
        pick === 0
          ? errorFrame(w, real) // the same error, replayed
          : pick === 1
            ? errorFrame(w, { ratchetKey: Uint8Array.of(5, ...w.random(32)), timestamp: real.timestamp })
            : pick === 2
              ? errorFrame(w, { ratchetKey: Uint8Array.of(5, ...w.random(32)), timestamp: i })
              : // The new session's key: current, but the interval's one archive is spent.
                errorFrame(w, errorAbout(resent)),
      );
    }
    for (const frame of flood) expect(await w.gateway.receiveFrame(frame)).toEqual(NOTHING);
    await w.gateway.idle();
    expect(await snapshot(w.store)).toEqual(before);
    expect(w.network.sent.length).toBe(sentBefore);

    // After the interval, an error naming the current session restarts it again.
    w.clock.advance(HOUR + 1);
    expect(await w.gateway.receiveFrame(errorFrame(w, errorAbout(resent)))).toMatchObject({
      sessionArchived: true,
    });
  });

  it('a type-8 frame that is not a decryption error is refused, never answered, and stores nothing', async () => {
    const w = await world('garbage');
    await talking(w);
    const before = await snapshot(w.store);
    const sentBefore = w.network.sent.length;
    for (const body of [
      new Uint8Array(0),
      Uint8Array.of(0xc0, 0x80),
      Uint8Array.of(0xc0, 0x0a, 1, 0x41, 0x80),
      new Uint8Array(600),
    ]) {
      const outcome = await w.gateway.receiveFrame({ ...errorFrame(w, { timestamp: 1 }), body });
      expect(outcome).toEqual({
        kind: 'undecryptable',
        reason: 'ERR_INVALID_MESSAGE',
        retryRequested: false,
      });
    }
    expect(await snapshot(w.store)).toEqual(before);
    expect(w.network.sent.length).toBe(sentBefore);
  });

  it('bad frames are refused at the boundary: type, timestamp', async () => {
    const w = await world('boundary');
    const frame = errorFrame(w, { timestamp: 1 });
    for (const bad of [
      { ...frame, type: 7 },
      { ...frame, timestamp: -1 },
      { ...frame, timestamp: 1.5 },
      { ...frame, timestamp: Number.MAX_SAFE_INTEGER + 2 },
      { ...frame, timestamp: '1' },
    ]) {
      await expect(w.gateway.receiveFrame(bad as never)).rejects.toMatchObject({
        code: 'ERR_INVALID_ARGUMENT',
      });
    }
  });
});

describe('message timestamps', () => {
  it('are unique per person and the same in every frame of a message', async () => {
    const w = await world('timestamps');
    const two = await w.addPerson('+15550177', 2);
    for (let i = 0; i < 20; i++) await w.business.send(two.phoneNumber, `m${i}`);
    await w.network.flush();
    const byMessage = new Map<string, Set<number>>();
    for (const frame of w.network.sent) {
      const id = frame.frameId.split('.')[0]!;
      byMessage.set(id, (byMessage.get(id) ?? new Set()).add(frame.timestamp));
    }
    expect(byMessage.size).toBe(20);
    expect([...byMessage.values()].every((stamps) => stamps.size === 1)).toBe(true);
    const stamps = [...byMessage.values()].map((set) => [...set][0]!);
    expect(new Set(stamps).size).toBe(20);
    expect(two.textsFrom()).toHaveLength(40);
  });

  it('two gateway instances over one store sending to one person in one millisecond take different ones', async () => {
    const a = await createTestGateway(memoryStores);
    await setUpBusiness(a, 'shop', ['+15550100']);
    await a.network.addPerson('+15550123');
    const b = createGateway({
      crypto: testCrypto(),
      clock: a.clock,
      transport: a.network,
      directory: a.network,
      timer: false,
      store: a.store,
      vaultStore: a.vaultStore,
      keyProvider: a.keyProvider,
    });
    const sends = [];
    for (let i = 0; i < 10; i++) {
      sends.push(a.gateway.send({ from: '+15550100', to: '+15550123', content: `a${i}` }));
      sends.push(b.send({ from: '+15550100', to: '+15550123', content: `b${i}` }));
    }
    const ids = await Promise.all(sends);
    const created = await Promise.all(ids.map(async (id) => (await a.gateway.status(id)).createdAt));
    expect(new Set(created).size).toBe(20);
    expect(Math.min(...created)).toBe(a.clock.now());
    await a.gateway.idle();
    await b.idle();
    await b.close();
  });
});
