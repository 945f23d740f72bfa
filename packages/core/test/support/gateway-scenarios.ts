/**
 * The gateway's scenario suite, run against any pair of stores (memory in core, SQLite in
 * the examples). Every deadline comes from a fake clock; nothing sleeps.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { fromUtf8 } from '../../src/bytes.js';
import { decodeMessagePlaintext } from '../../src/content/message-plaintext.js';
import { isParleyError } from '../../src/errors.js';
import { readMessageArchive } from '../../src/gateway/archive.js';
import { createLocalKeyProvider } from '../../src/gateway/key-provider.js';
import { RETRY_REQUESTS_PER_INTERVAL } from '../../src/gateway/options.js';
import type { GatewayEvent, InboundFrame, InboundMessage } from '../../src/gateway/types.js';
import { SessionManager } from '../../src/session/session-manager.js';
import { NAMESPACES, type Store } from '../../src/storage/contract.js';
import { sendingRatchetKey } from '../../src/wire/decryption-error-message.js';
import { decodeDecryptionErrorContent } from '../../src/wire/plaintext-content.js';
import { allPeers } from '../peers/index.js';
import { createParleyPeer } from '../peers/parley.js';
import {
  createTestGateway,
  GatedStore,
  type GatewayStoreFactory,
  setUpBusiness,
  TEST_KEK,
  type TestGateway,
} from './gateway-network.js';
import { DAY_MS, FakeClock, testCrypto } from './parties.js';

const SHOP = '+15550000001';
const SHOP_2 = '+15550000002';
const ALICE = '+4915100000001';
const BOB = '+4915100000002';
const MINUTE = 60_000;

function statuses(events: readonly GatewayEvent[], messageId: string): string[] {
  return events.flatMap((event) =>
    event.type === 'status' && event.messageId === messageId ? [event.status] : [],
  );
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(isParleyError(error) ? error.code : error).toBe(code);
}

/** Every stored byte and key outside the message namespace, as latin1 text for canary scans. */
async function dumpStore(store: Store, skip: readonly string[] = []): Promise<string> {
  let out = '';
  for (const namespace of NAMESPACES) {
    if (skip.includes(namespace)) continue;
    for (const record of await store.list(namespace))
      out += `${record.key}\n${Buffer.from(record.value).toString('latin1')}\n`;
  }
  return out;
}

async function collect(tg: TestGateway, businessId: string): Promise<InboundMessage[]> {
  const received: InboundMessage[] = [];
  tg.gateway.onMessage(businessId, (message) => {
    received.push(message);
  });
  await tg.gateway.idle();
  return received;
}

/** Advances the clock in steps, running due work after each. */
async function run(tg: TestGateway, totalMs: number, stepMs: number): Promise<void> {
  for (let elapsed = 0; elapsed < totalMs; elapsed += stepMs) {
    tg.clock.advance(stepMs);
    await tg.gateway.tick();
    await tg.gateway.idle();
  }
}

const text = (message: InboundMessage) => fromUtf8(message.content);

/**
 * Texts per sender in arrival order: the gateway orders one person's first deliveries, not
 * different people's (README, "Delivery guarantees"), so assertions over several people compare this.
 */
function byPerson(messages: InboundMessage[]): Record<string, string[]> {
  const texts: Record<string, string[]> = {};
  for (const message of messages) {
    texts[message.from] = [...(texts[message.from] ?? []), text(message)];
  }
  return texts;
}

/** Version byte of a (PreKey)SignalMessage: 0x33 for X3DH sessions, 0x44 for PQXDH. */
const versionByte = (frame: { body: Uint8Array }) => frame.body[0];

/** A number's Kyber prekey record (present or not) and the base keys a last-resort one served. */
async function kyberRecords(store: Store, id: number): Promise<{ preKey: boolean; markers: number }> {
  const preKey = (await store.list('prekeys')).some((record) => record.key.endsWith(`/kyber/${id}`));
  const markers = (await store.list('meta')).filter((record) =>
    record.key.includes(`/kyber-used/${id}/`),
  ).length;
  return { preKey, markers };
}

function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve: (value: T) => void = () => undefined;
  const promise = new Promise<T>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

export function describeGatewayScenarios(factory: GatewayStoreFactory): void {
  // The JS peers log whole session objects (private keys included) to the console.
  beforeAll(() => {
    for (const level of ['log', 'info', 'warn', 'error', 'debug'] as const)
      vi.spyOn(console, level).mockImplementation(() => {});
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    await factory.cleanup?.();
  });

  async function gatewayWith(options: Parameters<typeof createTestGateway>[1] = {}): Promise<TestGateway> {
    return createTestGateway(factory, options);
  }

  describe(`gateway inbound (${factory.kind})`, () => {
    it('a real libsignal-6.0.0 device reaches the handler once per frame; content rests encrypted', async () => {
      const tg = await gatewayWith();
      await setUpBusiness(tg, 'shop', [SHOP]);
      const received = await collect(tg, 'shop');
      const peer = await allPeers['libsignal-6.0.0']!({ name: ALICE, deviceId: 1 });
      tg.network.addDevice(ALICE, peer);

      const first = await tg.network.personFrame(ALICE, SHOP, 'canary-inbound-hello');
      const outcome = await tg.gateway.receiveFrame(first);
      expect(outcome.kind).toBe('accepted');
      expect(await tg.gateway.receiveFrame(first)).toEqual({ kind: 'duplicate' });
      const second = await tg.network.personFrame(ALICE, SHOP, 'second');
      await tg.gateway.receiveFrame(second);
      // Same bytes under another frame id: the ratchet recognises it.
      expect(await tg.gateway.receiveFrame({ ...second, frameId: 'other-id' })).toEqual({
        kind: 'duplicate',
      });
      await tg.gateway.idle();

      expect(received.map(text)).toEqual(['canary-inbound-hello', 'second']);
      expect(received[0]).toMatchObject({
        from: ALICE,
        to: SHOP,
        deviceId: 1,
        businessId: 'shop',
        attempt: 1,
      });
      expect(received[0]!.receivedAt).toBe(tg.clock.now());
      expect(tg.network.acknowledged).toEqual([first.frameId, first.frameId, second.frameId, 'other-id']);
      expect(await dumpStore(tg.store)).not.toContain('canary-inbound-hello');
      expect(await dumpStore(tg.store, ['messages'])).not.toContain(ALICE);
    });

    it('a failing handler gets the same message again with backoff until the limit, then it is dropped', async () => {
      const tg = await gatewayWith({ redelivery: { limitMs: 60 * MINUTE } });
      await setUpBusiness(tg, 'shop', [SHOP]);
      await tg.network.addPerson(ALICE);
      const attempts: { id: string; at: number; attempt: number }[] = [];
      tg.gateway.onMessage('shop', (message) => {
        attempts.push({ id: message.id, at: tg.clock.now(), attempt: message.attempt });
        throw new Error('webhook down');
      });
      const outcome = await tg.gateway.receiveFrame(await tg.network.personFrame(ALICE, SHOP, 'hi'));
      await tg.gateway.idle();
      await run(tg, 120 * MINUTE, 1_000 * 15);

      const start = attempts[0]!.at;
      expect(new Set(attempts.map((a) => a.id))).toEqual(
        new Set([outcome.kind === 'accepted' ? outcome.messageId : '']),
      );
      expect(attempts.map((a) => a.attempt)).toEqual(attempts.map((_, i) => i + 1));
      const gaps = attempts.slice(1).map((a, i) => a.at - attempts[i]!.at);
      // Default backoff with jitter: the i-th delay lies in [d/2, d] for d = 5 s doubling to
      // 10 min, seen through ticks 15 s apart; the last one is cut short by the limit.
      gaps.slice(0, -1).forEach((gap, i) => {
        const nominal = Math.min(5_000 * 2 ** i, 10 * MINUTE);
        expect(gap).toBeGreaterThanOrEqual(nominal / 2);
        expect(gap).toBeLessThanOrEqual(nominal + 15_000);
      });
      expect(attempts.at(-1)!.at - start).toBe(60 * MINUTE);
      expect(attempts.length).toBeGreaterThan(5);
      expect(tg.events.filter((event) => event.type === 'dropped')).toEqual([
        {
          type: 'dropped',
          eventId: expect.any(String),
          at: attempts.at(-1)!.at,
          businessId: 'shop',
          messageId: attempts[0]!.id,
          attempts: attempts.length,
        },
      ]);
    });

    it('a handler that recovers gets the message with a stable id and no drop', async () => {
      const tg = await gatewayWith();
      await setUpBusiness(tg, 'shop', [SHOP]);
      await tg.network.addPerson(ALICE);
      const seen: InboundMessage[] = [];
      tg.gateway.onMessage('shop', (message) => {
        seen.push(message);
        if (seen.length < 3) throw new Error('not yet');
      });
      await tg.gateway.receiveFrame(await tg.network.personFrame(ALICE, SHOP, 'persist'));
      await tg.gateway.idle();
      await run(tg, 5 * MINUTE, 5_000);
      expect(seen.map((message) => [message.id, text(message), message.attempt])).toEqual([
        [seen[0]!.id, 'persist', 1],
        [seen[0]!.id, 'persist', 2],
        [seen[0]!.id, 'persist', 3],
      ]);
      expect(tg.events.filter((event) => event.type === 'dropped')).toEqual([]);
    });

    it('an undecryptable message asks for a retry (a decryption-error frame) a few times per interval; the libsignal peer re-sends from a fresh bundle', async () => {
      const tg = await gatewayWith({ retryRequestIntervalMs: 60 * MINUTE });
      await setUpBusiness(tg, 'shop', [SHOP]);
      const received = await collect(tg, 'shop');
      const peer = await allPeers['libsignal-6.0.0']!({ name: ALICE, deviceId: 1 });
      tg.network.addDevice(ALICE, peer);
      await tg.gateway.receiveFrame(await tg.network.personFrame(ALICE, SHOP, 'one'));
      // A reply completes the handshake: the device now sends whisper messages (MAC last).
      await tg.gateway.send({ from: SHOP, to: ALICE, content: 'hello' });
      await tg.gateway.idle();
      expect((await tg.network.deliverAll()).map((d) => d.text)).toEqual(['hello']);

      const corrupt = async (body: string) => {
        const frame = await tg.network.personFrame(ALICE, SHOP, body);
        expect(frame.type).toBe(2);
        const bytes = frame.body.slice();
        bytes[bytes.length - 1]! ^= 0x01;
        return { ...frame, body: bytes };
      };
      const bad = await corrupt('two');
      expect(await tg.gateway.receiveFrame(bad)).toEqual({
        kind: 'undecryptable',
        reason: 'ERR_INVALID_MAC',
        retryRequested: true,
      });
      // Each failed frame is named in a decryption-error frame of its own, up to the allowance.
      const more = [];
      for (let i = 1; i < RETRY_REQUESTS_PER_INTERVAL; i++) more.push(await corrupt(`two, ${i}`));
      for (const frame of more)
        expect(await tg.gateway.receiveFrame(frame)).toMatchObject({ retryRequested: true });
      expect(await tg.gateway.receiveFrame(await corrupt('three'))).toMatchObject({ retryRequested: false });
      expect(tg.network.retryRequests[0]).toEqual({
        from: SHOP,
        to: ALICE,
        deviceId: 1,
        frameId: bad.frameId,
        reason: 'ERR_INVALID_MAC',
      });
      expect(tg.network.retryRequests).toHaveLength(RETRY_REQUESTS_PER_INTERVAL);
      const errors = tg.network.sent.filter((frame) => frame.type === 8);
      expect(errors.map((frame) => [frame.from, frame.to, frame.deviceId])).toEqual(
        [bad, ...more].map(() => [SHOP, ALICE, 1]),
      );
      expect(errors.map((frame) => decodeDecryptionErrorContent(frame.body))).toEqual(
        [bad, ...more].map((frame) => ({
          ratchetKey: sendingRatchetKey(frame),
          timestamp: frame.timestamp,
          deviceId: 1,
        })),
      );

      // The transport hands the request to the device: it processes a fresh bundle and re-sends.
      const resent = await tg.network.personFrame(ALICE, SHOP, 'two again', { freshBundle: true });
      expect(resent.type).toBe(3);
      expect((await tg.gateway.receiveFrame(resent)).kind).toBe('accepted');
      await tg.gateway.idle();
      expect(received.map(text)).toEqual(['one', 'two again']);

      // The new session is the one used for the reply and for what follows.
      await tg.gateway.send({ from: SHOP, to: ALICE, content: 'reply' });
      await tg.gateway.idle();
      expect((await tg.network.deliverAll()).map((d) => d.text)).toEqual(['reply']);
      await tg.gateway.receiveFrame(await tg.network.personFrame(ALICE, SHOP, 'after'));
      await tg.gateway.idle();
      expect(received.map(text)).toEqual(['one', 'two again', 'after']);

      tg.clock.advance(61 * MINUTE);
      expect(await tg.gateway.receiveFrame(await corrupt('later'))).toMatchObject({ retryRequested: true });
      expect(tg.network.retryRequests).toHaveLength(RETRY_REQUESTS_PER_INTERVAL + 1);
    });

    it('a reinstalled app (new identity) is accepted and reported as identity-changed', async () => {
      const tg = await gatewayWith();
      await setUpBusiness(tg, 'shop', [SHOP]);
      const received = await collect(tg, 'shop');
      await tg.network.addPerson(ALICE);
      await tg.gateway.receiveFrame(await tg.network.personFrame(ALICE, SHOP, 'before'));
      tg.network.addDevice(ALICE, await createParleyPeer({ name: ALICE, deviceId: 1 }, { trust: 'always' }));
      expect((await tg.gateway.receiveFrame(await tg.network.personFrame(ALICE, SHOP, 'after'))).kind).toBe(
        'accepted',
      );
      await tg.gateway.idle();
      expect(received.map(text)).toEqual(['before', 'after']);
      expect(tg.events.filter((event) => event.type === 'identity-changed')).toEqual([
        {
          type: 'identity-changed',
          eventId: expect.any(String),
          at: tg.clock.now(),
          businessId: 'shop',
          number: SHOP,
          phoneNumber: ALICE,
          deviceId: 1,
        },
      ]);
      await tg.gateway.send({ from: SHOP, to: ALICE, content: 'welcome back' });
      await tg.gateway.idle();
      expect((await tg.network.deliverAll()).map((d) => d.text)).toEqual(['welcome back']);
    });
  });

  describe(`gateway outbound (${factory.kind})`, () => {
    it('a person with three devices (one a real lsc-0.23.1 client) gets every message; accepted → sent → delivered', async () => {
      const tg = await gatewayWith();
      await setUpBusiness(tg, 'shop', [SHOP]);
      tg.network.addDevice(ALICE, await allPeers['lsc-0.23.1']!({ name: ALICE, deviceId: 1 }));
      await tg.network.addPerson(ALICE, [2, 3]);

      const id = await tg.gateway.send({ from: SHOP, to: ALICE, content: 'canary-outbound' });
      expect(statuses(tg.events, id)).toEqual(['accepted']);
      await tg.gateway.idle();
      expect(statuses(tg.events, id)).toEqual(['accepted', 'sent']);
      const delivered = await tg.network.deliverAll();
      expect(delivered.map((d) => [d.frame.deviceId, d.text])).toEqual([
        [1, 'canary-outbound'],
        [2, 'canary-outbound'],
        [3, 'canary-outbound'],
      ]);
      for (const frame of tg.network.sent) {
        expect(Object.keys(frame).sort()).toEqual([
          'body',
          'deviceId',
          'frameId',
          'from',
          'timestamp',
          'to',
          'type',
        ]);
        expect(Buffer.from(frame.body).toString('latin1')).not.toContain('canary-outbound');
      }
      for (const { frame } of delivered) await tg.gateway.receiveReceipt({ frameId: frame.frameId });
      expect(statuses(tg.events, id)).toEqual(['accepted', 'sent', 'delivered']);

      // The lsc client answers; its reply decrypts, and the next message is a whisper message.
      await tg.gateway.receiveFrame(await tg.network.personFrame(ALICE, SHOP, 'thanks'));
      await tg.gateway.send({ from: SHOP, to: ALICE, content: 'you are welcome' });
      await tg.gateway.idle();
      const next = await tg.network.deliverAll();
      expect(next.map((d) => [d.frame.deviceId, d.frame.type, d.text])).toEqual([
        [1, 2, 'you are welcome'],
        [2, 3, 'you are welcome'],
        [3, 3, 'you are welcome'],
      ]);
    });

    it('padding puts content lengths in 160-byte buckets; without padding the lengths show', async () => {
      const lengths = async (padding: false | undefined) => {
        const tg = await gatewayWith({ padding });
        await setUpBusiness(tg, 'shop', [SHOP]);
        await tg.network.addPerson(ALICE);
        for (const content of ['x', 'y', 'z'.repeat(150)])
          await tg.gateway.send({ from: SHOP, to: ALICE, content });
        await tg.gateway.idle();
        const delivered = await tg.network.deliverAll();
        expect(delivered.map((d) => d.text)).toEqual(['x', 'y', 'z'.repeat(150)]);
        return tg.network.sent.map((frame) => frame.body.length);
      };
      const padded = await lengths(undefined);
      expect(padded[1]).toBe(padded[2]);
      const plain = await lengths(false);
      // AES-CBC rounds to 16 bytes (1 byte → 16, 150 → 160), plus longer protobuf length prefixes.
      expect(plain[2]! - plain[1]!).toBeGreaterThanOrEqual(144);
    });

    it('transport failures are retried with backoff, then failed; a retransmission sends it', async () => {
      const tg = await gatewayWith({ sending: { maxAttempts: 4 } });
      await setUpBusiness(tg, 'shop', [SHOP]);
      await tg.network.addPerson(ALICE);
      tg.network.failNextSends = 2;
      const first = await tg.gateway.send({ from: SHOP, to: ALICE, content: 'retry me' });
      await tg.gateway.idle();
      expect(tg.network.sent).toHaveLength(0);
      await run(tg, 30_000, 1_000);
      expect(tg.network.sendAttempts).toBe(3);
      expect(statuses(tg.events, first)).toEqual(['accepted', 'sent']);

      tg.network.down = true;
      const second = await tg.gateway.send({ from: SHOP, to: ALICE, content: 'eventually' });
      await run(tg, 10 * MINUTE, 5_000);
      expect(statuses(tg.events, second)).toEqual(['accepted', 'failed']);
      const failed = tg.events.find((event) => event.type === 'status' && event.status === 'failed');
      // The transport's own error (not a Parley error) is reported as a transport failure.
      expect(failed).toMatchObject({ reason: 'ERR_TRANSPORT_FAILURE' });

      tg.network.down = false;
      await tg.gateway.retransmit(second);
      await tg.gateway.idle();
      expect(statuses(tg.events, second)).toEqual(['accepted', 'failed', 'accepted', 'sent']);
      expect((await tg.network.deliverAll()).map((d) => d.text)).toEqual(['retry me', 'eventually']);
    });

    it('a message whose deadline passes during retransmission expires and is refused afterwards', async () => {
      const tg = await gatewayWith({
        sending: { maxAttempts: 3, backoff: { initialMs: 30 * MINUTE, maxMs: 2 * 60 * MINUTE } },
      });
      await setUpBusiness(tg, 'shop', [SHOP], { retentionDays: 1 });
      await tg.network.addPerson(ALICE);
      tg.network.down = true;
      const id = await tg.gateway.send({ from: SHOP, to: ALICE, content: 'too late' });
      await run(tg, 4 * 60 * MINUTE, 30 * MINUTE);
      expect(statuses(tg.events, id)).toEqual(['accepted', 'failed']);
      tg.clock.advance(18 * 60 * MINUTE);
      await tg.gateway.retransmit(id);
      await run(tg, 4 * 60 * MINUTE, 30 * MINUTE);
      expect(statuses(tg.events, id)).toEqual(['accepted', 'failed', 'accepted', 'expired']);
      expect(tg.events.find((event) => event.type === 'status' && event.status === 'expired')).toMatchObject({
        reason: 'ERR_RETENTION_EXPIRED',
      });
      await expectCode(tg.gateway.retransmit(id), 'ERR_RETENTION_EXPIRED');
      await tg.gateway.sweep();
      await expectCode(tg.gateway.retransmit(id), 'ERR_RETENTION_EXPIRED');
      await expectCode(tg.gateway.retransmit('m00000000000000000000000000000000'), 'ERR_NOT_FOUND');
    });

    it('a new device gets a session when next messaged; a removed device loses its session', async () => {
      const tg = await gatewayWith();
      await setUpBusiness(tg, 'shop', [SHOP]);
      await collect(tg, 'shop');
      await tg.network.addPerson(ALICE, [1]);
      await tg.gateway.receiveFrame(await tg.network.personFrame(ALICE, SHOP, 'from phone'));
      // A device the gateway never saw writes first: handled like a first contact.
      await tg.network.addPerson(ALICE, [2]);
      expect(
        (
          await tg.gateway.receiveFrame(
            await tg.network.personFrame(ALICE, SHOP, 'from laptop', { deviceId: 2 }),
          )
        ).kind,
      ).toBe('accepted');
      await tg.gateway.send({ from: SHOP, to: ALICE, content: 'to both' });
      await tg.gateway.idle();
      expect((await tg.network.deliverAll()).map((d) => d.frame.deviceId)).toEqual([1, 2]);

      const sessionsBefore = (await tg.store.list('sessions')).length;
      await tg.network.addPerson(ALICE, [3]);
      await tg.gateway.setDevices(ALICE, [2, 3]);
      expect((await tg.store.list('sessions')).length).toBe(sessionsBefore - 1);
      await tg.gateway.send({ from: SHOP, to: ALICE, content: 'to the new set' });
      await tg.gateway.idle();
      expect((await tg.network.deliverAll()).map((d) => [d.frame.deviceId, d.text])).toEqual([
        [2, 'to the new set'],
        [3, 'to the new set'],
      ]);
    });
  });

  describe(`gateway tenancy, retention and residency (${factory.kind})`, () => {
    it('many businesses and numbers keep their people apart; no phone number outside message records', async () => {
      const tg = await gatewayWith();
      const businesses = ['acme', 'globex', 'initech'];
      const people = ['+4915100000011', '+4915100000012', '+4915100000013'];
      const inboxes = new Map<string, InboundMessage[]>();
      for (const [b, businessId] of businesses.entries()) {
        await setUpBusiness(tg, businessId, [`+1555100${b}001`, `+1555100${b}002`]);
        inboxes.set(businessId, await collect(tg, businessId));
      }
      for (const person of people) await tg.network.addPerson(person);
      for (const [b, businessId] of businesses.entries()) {
        for (const number of [`+1555100${b}001`, `+1555100${b}002`]) {
          for (const person of people) {
            await tg.gateway.receiveFrame(
              await tg.network.personFrame(person, number, `${businessId}|${number}|${person}`),
            );
            await tg.gateway.send({ from: number, to: person, content: `reply ${businessId} ${number}` });
          }
        }
      }
      await tg.gateway.idle();
      for (const [b, businessId] of businesses.entries()) {
        const inbox = inboxes.get(businessId)!;
        expect(inbox).toHaveLength(6);
        for (const message of inbox)
          expect(text(message)).toBe(`${businessId}|${message.to}|${message.from}`);
        expect(new Set(inbox.map((m) => m.to))).toEqual(new Set([`+1555100${b}001`, `+1555100${b}002`]));
      }
      const replies = await tg.network.deliverAll();
      expect(replies).toHaveLength(18);
      for (const { frame, text: body } of replies) expect(body.endsWith(frame.from)).toBe(true);
      expect(tg.events.filter((event) => event.type === 'status' && event.status === 'sent')).toHaveLength(
        18,
      );

      const dump = await dumpStore(tg.store, ['messages']);
      for (const person of people) {
        expect(dump).not.toContain(person);
        expect(dump).not.toContain(person.slice(1));
      }
      expect(await dumpStore(tg.vaultStore)).not.toContain('+49');
    });

    it('retention above 30 days (or below 1) is a configuration error', async () => {
      const tg = await gatewayWith();
      await expectCode(
        tg.gateway.registerBusiness({ businessId: 'x', retentionDays: 31 }),
        'ERR_CONFIGURATION',
      );
      await expectCode(
        tg.gateway.registerBusiness({ businessId: 'x', retentionDays: 0 }),
        'ERR_CONFIGURATION',
      );
      await expectCode(
        tg.gateway.registerBusiness({ businessId: 'x', retentionDays: 1.5 }),
        'ERR_CONFIGURATION',
      );
      await tg.gateway.registerBusiness({ businessId: 'x', retentionDays: 30 });
    });

    it('a business pinned to a region is refused by a store or key provider of another region', async () => {
      const clock = new FakeClock();
      const refused = [
        await gatewayWith({ clock, region: 'us' }),
        await gatewayWith({
          clock,
          region: 'eu',
          keyProvider: createLocalKeyProvider({ kek: TEST_KEK, region: 'us', crypto: testCrypto() }),
        }),
        await gatewayWith({ clock }),
      ];
      for (const tg of refused) {
        await expectCode(
          tg.gateway.registerBusiness({ businessId: 'pinned', region: 'eu' }),
          'ERR_RESIDENCY',
        );
        expect(await dumpStore(tg.store)).toBe('');
        expect(await dumpStore(tg.vaultStore)).toBe('');
      }
      const eu = await gatewayWith({ clock, region: 'eu' });
      await setUpBusiness(eu, 'pinned', [SHOP], { region: 'eu' });
      await eu.network.addPerson(ALICE);
      await eu.gateway.send({ from: SHOP, to: ALICE, content: 'stays in the EU' });
      await eu.gateway.idle();
      expect((await eu.network.deliverAll()).map((d) => d.text)).toEqual(['stays in the EU']);

      // The same business data opened by a gateway whose vault is elsewhere: every write refused.
      const usVault = (await factory.create(clock, 'us')).vaultStore;
      const moved = await createTestGateway(factory, {
        clock,
        region: 'eu',
        store: eu.store,
        vaultStore: usVault,
        network: eu.network,
      });
      await expectCode(moved.gateway.send({ from: SHOP, to: ALICE, content: 'nope' }), 'ERR_RESIDENCY');
      expect(await dumpStore(usVault)).toBe('');
    });

    it('crypto-shredding: a copy taken before expiry no longer decrypts; a vault snapshot from before still does', async () => {
      const tg = await gatewayWith();
      await setUpBusiness(tg, 'shop', [SHOP], { retentionDays: 1 });
      await collect(tg, 'shop');
      await tg.network.addPerson(ALICE);
      await tg.gateway.receiveFrame(await tg.network.personFrame(ALICE, SHOP, 'canary-shred-in'));
      await tg.gateway.send({ from: SHOP, to: ALICE, content: 'canary-shred-out' });
      await tg.gateway.idle();

      const backup = await factory.copy(tg.store, tg.clock);
      const vaultBackup = await factory.copy(tg.vaultStore, tg.clock);
      const read = (store: Store, vaultStore: Store) =>
        readMessageArchive({
          store,
          vaultStore,
          keyProvider: tg.keyProvider,
          businessId: 'shop',
          crypto: testCrypto(),
        });
      const before = await read(backup, tg.vaultStore);
      expect(
        before.map((m) => [m.direction, m.readable, m.phoneNumber, fromUtf8(m.content!)]).sort(),
      ).toEqual([
        ['inbound', true, ALICE, 'canary-shred-in'],
        ['outbound', true, ALICE, 'canary-shred-out'],
      ]);
      expect(await dumpStore(backup)).not.toContain('canary-shred');
      expect(await dumpStore(backup, ['messages'])).not.toContain(ALICE);

      tg.clock.advance(3 * DAY_MS);
      const swept = await tg.gateway.sweep();
      expect(swept.periodKeys).toBeGreaterThanOrEqual(1);
      expect(await read(tg.store, tg.vaultStore)).toEqual([]);
      const after = await read(backup, tg.vaultStore);
      expect(after).toHaveLength(2);
      for (const message of after) {
        expect(message.readable).toBe(false);
        expect(message.content).toBeUndefined();
        expect(message.phoneNumber).toBeUndefined();
      }
      // Control: the same copy opens with the vault as it was before expiry.
      const control = await read(backup, vaultBackup);
      expect(control.map((m) => m.readable)).toEqual([true, true]);
    });

    it('erasure deletes everything tied to a phone number at once, and only that', async () => {
      const tg = await gatewayWith();
      await setUpBusiness(tg, 'shop', [SHOP, SHOP_2]);
      await collect(tg, 'shop');
      await tg.network.addPerson(ALICE, [1, 2]);
      await tg.network.addPerson(BOB);
      for (const number of [SHOP, SHOP_2]) {
        await tg.gateway.receiveFrame(await tg.network.personFrame(ALICE, number, 'a'));
        await tg.gateway.receiveFrame(await tg.network.personFrame(BOB, number, 'b'));
      }
      const aliceOut = await tg.gateway.send({ from: SHOP, to: ALICE, content: 'to alice' });
      await tg.gateway.send({ from: SHOP, to: BOB, content: 'to bob' });
      await tg.gateway.idle();
      await tg.network.deliverAll();
      const sessionsBefore = (await tg.store.list('sessions')).length;
      const identitiesBefore = (await tg.store.list('identities')).length;

      await tg.gateway.erase('shop', ALICE);
      const archive = await readMessageArchive({
        store: tg.store,
        vaultStore: tg.vaultStore,
        keyProvider: tg.keyProvider,
        businessId: 'shop',
        crypto: testCrypto(),
      });
      expect(archive.map((m) => m.phoneNumber)).toEqual([BOB, BOB, BOB]);
      // Alice had two devices on two numbers (sessions 4 → 0: SHOP device 1+2 from send, SHOP_2 device 1);
      // her identity key is gone under both numbers.
      expect((await tg.store.list('sessions')).length).toBeLessThan(sessionsBefore);
      expect((await tg.store.list('sessions')).length).toBe(2);
      expect((await tg.store.list('identities')).length).toBe(identitiesBefore - 2);
      await expectCode(tg.gateway.retransmit(aliceOut), 'ERR_NOT_FOUND');

      // Alice writing again is a first contact.
      expect(
        (
          await tg.gateway.receiveFrame(
            await tg.network.personFrame(ALICE, SHOP, 'hello again', { freshBundle: true }),
          )
        ).kind,
      ).toBe('accepted');
    });

    it('protocol state of a person inactive past the limit is deleted', async () => {
      const tg = await gatewayWith({ inactivityMs: 10 * DAY_MS });
      await setUpBusiness(tg, 'shop', [SHOP], { retentionDays: 1 });
      await collect(tg, 'shop');
      await tg.network.addPerson(ALICE);
      await tg.gateway.receiveFrame(await tg.network.personFrame(ALICE, SHOP, 'once'));
      await tg.gateway.idle();
      expect((await tg.store.list('sessions')).length).toBe(1);
      tg.clock.advance(9 * DAY_MS);
      expect((await tg.gateway.sweep()).inactive).toBe(0);
      tg.clock.advance(2 * DAY_MS);
      expect((await tg.gateway.sweep()).inactive).toBe(1);
      expect(await tg.store.list('sessions')).toEqual([]);
      expect(await dumpStore(tg.store, ['identities', 'prekeys'])).not.toMatch(/\/(d|c|seen)\//);
    });
  });

  describe(`gateway prekeys (${factory.kind})`, () => {
    it('one-time prekeys run out, bundles keep working without them, replenishment never re-serves an id', async () => {
      const tg = await gatewayWith({ preKeys: { batchSize: 5, lowWaterMark: 2 } });
      await setUpBusiness(tg, 'shop', [SHOP]);
      const received = await collect(tg, 'shop');
      const people = Array.from({ length: 7 }, (_, i) => `+49151000001${String(i).padStart(2, '0')}`);
      for (const person of people) {
        await tg.network.addPerson(person);
        await tg.gateway.receiveFrame(await tg.network.personFrame(person, SHOP, person));
      }
      await tg.gateway.idle();
      expect(received).toHaveLength(7);
      expect(tg.network.served.get(SHOP)).toEqual([1, 2, 3, 4, 5]);
      expect(await tg.network.availableOneTimePreKeys(SHOP)).toBe(0);

      await tg.gateway.tick();
      expect(await tg.network.availableOneTimePreKeys(SHOP)).toBe(5);
      const more = '+4915100000200';
      await tg.network.addPerson(more);
      await tg.gateway.receiveFrame(await tg.network.personFrame(more, SHOP, 'after top-up'));
      const served = tg.network.served.get(SHOP)!;
      expect(served).toEqual([1, 2, 3, 4, 5, 6]);
      expect(new Set(served).size).toBe(served.length);
      await tg.gateway.idle();
      expect(received.map(text).at(-1)).toBe('after top-up');
      await tg.gateway.tick();
      expect(await tg.network.availableOneTimePreKeys(SHOP)).toBe(4);
    });

    it('signed prekey rotation while sessions are being set up: grace, then a retry request and a fresh bundle', async () => {
      const tg = await gatewayWith({ preKeys: { signedRotationMs: 7 * DAY_MS, signedGraceMs: 2 * DAY_MS } });
      await setUpBusiness(tg, 'shop', [SHOP]);
      const received = await collect(tg, 'shop');
      await tg.network.addPerson(ALICE);
      await tg.network.addPerson(BOB);
      // Both fetch a bundle with signed prekey 1 and encrypt; the frames are still under way.
      const fromAlice = await tg.network.personFrame(ALICE, SHOP, 'in flight during rotation');
      const fromBob = await tg.network.personFrame(BOB, SHOP, 'in flight past the grace');
      tg.clock.advance(7 * DAY_MS);
      await tg.gateway.tick();
      expect(tg.network.published.get(SHOP)!.signedPreKey.id).toBe(2);
      expect((await tg.gateway.receiveFrame(fromAlice)).kind).toBe('accepted');

      tg.clock.advance(2 * DAY_MS);
      await tg.gateway.tick();
      expect(await tg.gateway.receiveFrame(fromBob)).toEqual({
        kind: 'undecryptable',
        reason: 'ERR_PREKEY_NOT_FOUND',
        retryRequested: true,
      });
      const again = await tg.network.personFrame(BOB, SHOP, 'from the new bundle', { freshBundle: true });
      expect((await tg.gateway.receiveFrame(again)).kind).toBe('accepted');
      await tg.gateway.idle();
      expect(byPerson(received)).toEqual({
        [ALICE]: ['in flight during rotation'],
        [BOB]: ['from the new bundle'],
      });
    });
  });

  describe(`gateway PQXDH prekeys (${factory.kind})`, () => {
    it('inbound v4: a real lsc-0.90.0 device starts a PQXDH session with a one-time Kyber prekey of the directory', async () => {
      const tg = await gatewayWith();
      await setUpBusiness(tg, 'shop', [SHOP]);
      const received = await collect(tg, 'shop');
      tg.network.addDevice(ALICE, await allPeers['lsc-0.90.0']!({ name: ALICE, deviceId: 1 }));
      expect(await tg.network.availableOneTimeKyberPreKeys(SHOP)).toBe(4);

      const first = await tg.network.personFrame(ALICE, SHOP, 'post-quantum hello');
      expect([first.type, versionByte(first)]).toEqual([3, 0x44]);
      expect(tg.network.servedKyber.get(SHOP)).toEqual([{ id: 2, lastResort: false }]);
      expect(await kyberRecords(tg.store, 2)).toEqual({ preKey: true, markers: 0 });
      expect((await tg.gateway.receiveFrame(first)).kind).toBe('accepted');
      // The one-time Kyber prekey went with the session: its record is gone.
      expect(await kyberRecords(tg.store, 2)).toEqual({ preKey: false, markers: 0 });
      await tg.gateway.send({ from: SHOP, to: ALICE, content: 'post-quantum reply' });
      await tg.gateway.idle();
      const replies = await tg.network.deliverAll();
      expect(replies.map((d) => [d.frame.type, versionByte(d.frame), d.text])).toEqual([
        [2, 0x44, 'post-quantum reply'],
      ]);
      const next = await tg.network.personFrame(ALICE, SHOP, 'and again');
      expect([next.type, versionByte(next)]).toEqual([2, 0x44]);
      await tg.gateway.receiveFrame(next);
      await tg.gateway.idle();
      expect(received.map(text)).toEqual(['post-quantum hello', 'and again']);
      expect(await tg.network.availableOneTimeKyberPreKeys(SHOP)).toBe(3);
    });

    it('outbound v4 to a real lsc-0.72.1 device whose bundle has Kyber, v3 to the same person’s libsignal-6.0.0 device', async () => {
      const tg = await gatewayWith();
      await setUpBusiness(tg, 'shop', [SHOP]);
      const received = await collect(tg, 'shop');
      tg.network.addDevice(ALICE, await allPeers['lsc-0.72.1']!({ name: ALICE, deviceId: 1 }));
      tg.network.addDevice(ALICE, await allPeers['libsignal-6.0.0']!({ name: ALICE, deviceId: 2 }));

      const id = await tg.gateway.send({ from: SHOP, to: ALICE, content: 'to both of your devices' });
      await tg.gateway.idle();
      expect(statuses(tg.events, id)).toEqual(['accepted', 'sent']);
      expect(tg.network.fetchedBundles.map((b) => [b.deviceId, b.kyber])).toEqual([
        [1, true],
        [2, false],
      ]);
      const delivered = await tg.network.deliverAll();
      expect(delivered.map((d) => [d.frame.deviceId, d.frame.type, versionByte(d.frame), d.text])).toEqual([
        [1, 3, 0x44, 'to both of your devices'],
        [2, 3, 0x33, 'to both of your devices'],
      ]);
      // Both devices answer on their sessions; the gateway's next message is a v4 / v3 whisper.
      for (const deviceId of [1, 2]) {
        const frame = await tg.network.personFrame(ALICE, SHOP, `thanks from ${deviceId}`, { deviceId });
        expect(frame.type).toBe(2);
        await tg.gateway.receiveFrame(frame);
      }
      await tg.gateway.send({ from: SHOP, to: ALICE, content: 'noted' });
      await tg.gateway.idle();
      expect(
        (await tg.network.deliverAll()).map((d) => [d.frame.deviceId, d.frame.type, versionByte(d.frame)]),
      ).toEqual([
        [1, 2, 0x44],
        [2, 2, 0x33],
      ]);
      expect(received.map(text)).toEqual(['thanks from 1', 'thanks from 2']);
      // Neither device took a Kyber prekey from the business's directory (both had sessions).
      expect(tg.network.servedKyber.get(SHOP)).toBeUndefined();
    });

    it('one-time Kyber prekeys run out: the last-resort key serves every later session, then a top-up adds new ids', async () => {
      const tg = await gatewayWith({ preKeys: { kyberBatchSize: 2, kyberLowWaterMark: 1 } });
      await setUpBusiness(tg, 'shop', [SHOP]);
      const received = await collect(tg, 'shop');
      const people = Array.from({ length: 4 }, (_, i) => `+4915100000${300 + i}`);
      for (const person of people) {
        await tg.network.addPerson(person);
        const frame = await tg.network.personFrame(person, SHOP, person);
        expect(versionByte(frame)).toBe(0x44);
        expect((await tg.gateway.receiveFrame(frame)).kind).toBe('accepted');
      }
      // A v3 client in between takes no Kyber prekey.
      tg.network.addDevice(BOB, await allPeers['lsc-0.23.1']!({ name: BOB, deviceId: 1 }));
      const v3 = await tg.network.personFrame(BOB, SHOP, 'classic');
      expect(versionByte(v3)).toBe(0x33);
      expect((await tg.gateway.receiveFrame(v3)).kind).toBe('accepted');
      await tg.gateway.idle();
      expect(byPerson(received)).toEqual({
        ...Object.fromEntries(people.map((person) => [person, [person]])),
        [BOB]: ['classic'],
      });
      expect(tg.network.servedKyber.get(SHOP)).toEqual([
        { id: 2, lastResort: false },
        { id: 3, lastResort: false },
        { id: 1, lastResort: true },
        { id: 1, lastResort: true },
      ]);
      // The last-resort key stays, with the two base keys it served on record.
      expect(await kyberRecords(tg.store, 1)).toEqual({ preKey: true, markers: 2 });

      await tg.gateway.tick();
      expect(await tg.network.availableOneTimeKyberPreKeys(SHOP)).toBe(2);
      const late = '+4915100000399';
      await tg.network.addPerson(late);
      await tg.gateway.receiveFrame(await tg.network.personFrame(late, SHOP, 'after the top-up'));
      const served = tg.network.servedKyber.get(SHOP)!;
      expect(served.at(-1)).toEqual({ id: 4, lastResort: false });
      const oneTime = served.filter((k) => !k.lastResort).map((k) => k.id);
      expect(new Set(oneTime).size).toBe(oneTime.length);
      await tg.gateway.idle();
      expect(received.map(text).at(-1)).toBe('after the top-up');
    });

    it('last-resort Kyber rotation while sessions are being set up: kept for the grace period, then removed with its markers', async () => {
      const tg = await gatewayWith({
        preKeys: {
          signedRotationMs: 7 * DAY_MS,
          signedGraceMs: 2 * DAY_MS,
          kyberBatchSize: 1,
          kyberLowWaterMark: 0,
        },
      });
      await setUpBusiness(tg, 'shop', [SHOP]);
      const received = await collect(tg, 'shop');
      const CAROL = '+4915100000003';
      const DAVE = '+4915100000004';
      for (const person of [CAROL, DAVE, ALICE, BOB]) await tg.network.addPerson(person);
      // Carol takes the only one-time Kyber prekey; Dave completes a session on the last-resort key.
      await tg.gateway.receiveFrame(await tg.network.personFrame(CAROL, SHOP, 'carol'));
      await tg.gateway.receiveFrame(await tg.network.personFrame(DAVE, SHOP, 'dave'));
      // Alice and Bob build sessions on last-resort key 1 too; their frames are still under way.
      const fromAlice = await tg.network.personFrame(ALICE, SHOP, 'in flight during rotation');
      const fromBob = await tg.network.personFrame(BOB, SHOP, 'in flight past the grace');
      expect(tg.network.servedKyber.get(SHOP)!.map((k) => [k.id, k.lastResort])).toEqual([
        [2, false],
        [1, true],
        [1, true],
        [1, true],
      ]);

      tg.clock.advance(7 * DAY_MS);
      await tg.gateway.tick();
      const published = tg.network.published.get(SHOP)!;
      expect([published.signedPreKey.id, published.lastResortKyber.id]).toEqual([2, 3]);
      expect((await tg.gateway.receiveFrame(fromAlice)).kind).toBe('accepted');
      expect(await kyberRecords(tg.store, 1)).toEqual({ preKey: true, markers: 2 });

      tg.clock.advance(2 * DAY_MS);
      await tg.gateway.tick();
      expect(await kyberRecords(tg.store, 1)).toEqual({ preKey: false, markers: 0 });
      expect(await kyberRecords(tg.store, 3)).toEqual({ preKey: true, markers: 0 });
      expect(await tg.gateway.receiveFrame(fromBob)).toEqual({
        kind: 'undecryptable',
        reason: 'ERR_PREKEY_NOT_FOUND',
        retryRequested: true,
      });
      const again = await tg.network.personFrame(BOB, SHOP, 'from the new bundle', { freshBundle: true });
      expect(versionByte(again)).toBe(0x44);
      expect(tg.network.servedKyber.get(SHOP)!.at(-1)).toEqual({ id: 3, lastResort: true });
      expect((await tg.gateway.receiveFrame(again)).kind).toBe('accepted');
      // Sessions built on the removed key live on: they no longer need it.
      expect(
        (await tg.gateway.receiveFrame(await tg.network.personFrame(DAVE, SHOP, 'dave again'))).kind,
      ).toBe('accepted');
      await tg.gateway.idle();
      expect(byPerson(received)).toEqual({
        [CAROL]: ['carol'],
        [DAVE]: ['dave', 'dave again'],
        [ALICE]: ['in flight during rotation'],
        [BOB]: ['from the new bundle'],
      });
    });
  });

  describe(`gateway data in use and lifecycle (${factory.kind})`, () => {
    it('outbound plaintext stuck behind a slow store is zeroed at the TTL and read again from the store', async () => {
      const clock = new FakeClock();
      const stores = await factory.create(clock);
      const store = new GatedStore(stores.store);
      const tg = await gatewayWith({
        clock,
        store,
        vaultStore: stores.vaultStore,
        plaintextTtlMs: 10 * MINUTE,
      });
      await setUpBusiness(tg, 'shop', [SHOP]);
      await tg.network.addPerson(ALICE);
      await tg.gateway.send({ from: SHOP, to: ALICE, content: 'warm-up' });
      await tg.gateway.idle();
      expect((await tg.network.deliverAll()).map((d) => d.text)).toEqual(['warm-up']);
      expect(tg.gateway.plaintextInUse()).toEqual({ buffers: 0, oldestAgeMs: undefined });

      // What the gateway hands to its session manager (the person's client has its own store).
      const encrypted: Uint8Array[] = [];
      const original = SessionManager.prototype.encrypt;
      const capture = vi.spyOn(SessionManager.prototype, 'encrypt').mockImplementation(function (
        this: SessionManager,
        address,
        plaintext,
      ) {
        encrypted.push(plaintext);
        return original.call(this, address, plaintext);
      });
      try {
        const held = store.holdNextCommit('sessions');
        const id = await tg.gateway.send({ from: SHOP, to: ALICE, content: 'canary-in-use' });
        await held.reached;
        expect(tg.gateway.plaintextInUse()).toEqual({ buffers: 1, oldestAgeMs: 0 });
        expect(decodeMessagePlaintext(encrypted[0]!).text).toBe('canary-in-use');

        tg.clock.advance(10 * MINUTE - 1);
        await tg.gateway.tick(); // does not wait for the stuck send
        expect(tg.gateway.plaintextInUse()).toEqual({ buffers: 1, oldestAgeMs: 10 * MINUTE - 1 });
        tg.clock.advance(1);
        await tg.gateway.tick();
        expect(tg.gateway.plaintextInUse()).toEqual({ buffers: 0, oldestAgeMs: undefined });
        expect(encrypted[0]!.every((byte) => byte === 0)).toBe(true);

        const reads = () =>
          store.reads.filter((read) => read.startsWith('messages:') && read.endsWith(id)).length;
        const readsBefore = reads();
        held.release();
        await tg.gateway.idle();
        expect(reads()).toBe(readsBefore + 1);
        expect(encrypted).toHaveLength(2);
        expect(encrypted[1]!.every((byte) => byte === 0)).toBe(true);
        // The ciphertext made while the TTL ran out was discarded: the person gets the message once.
        expect((await tg.network.deliverAll()).map((d) => d.text)).toEqual(['canary-in-use']);
        expect(statuses(tg.events, id)).toEqual(['accepted', 'sent']);
        expect(tg.gateway.plaintextInUse().buffers).toBe(0);
      } finally {
        capture.mockRestore();
      }
    });

    it('a handler still running at the plaintext TTL counts as failed, its content is zeroed, and redelivery reads the store again', async () => {
      const clock = new FakeClock();
      const stores = await factory.create(clock);
      const store = new GatedStore(stores.store);
      const tg = await gatewayWith({
        clock,
        store,
        vaultStore: stores.vaultStore,
        plaintextTtlMs: 10 * MINUTE,
      });
      await setUpBusiness(tg, 'shop', [SHOP]);
      await tg.network.addPerson(ALICE);
      const called = deferred<InboundMessage>();
      const never = deferred();
      const seen: InboundMessage[] = [];
      tg.gateway.onMessage('shop', (message) => {
        seen.push(message);
        if (seen.length > 1) return;
        called.resolve(message);
        return never.promise;
      });
      const outcome = await tg.gateway.receiveFrame(
        await tg.network.personFrame(ALICE, SHOP, 'canary-handler'),
      );
      const first = await called.promise;
      expect(text(first)).toBe('canary-handler');
      expect(tg.gateway.plaintextInUse()).toEqual({ buffers: 1, oldestAgeMs: 0 });

      tg.clock.advance(10 * MINUTE);
      await tg.gateway.tick();
      await tg.gateway.idle();
      expect(tg.gateway.plaintextInUse()).toEqual({ buffers: 0, oldestAgeMs: undefined });
      expect(first.content.every((byte) => byte === 0)).toBe(true);

      const reads = () =>
        store.reads.filter((read) => read.startsWith('messages:') && read.endsWith(first.id)).length;
      const readsBefore = reads();
      await run(tg, MINUTE, 5_000);
      expect(reads()).toBeGreaterThan(readsBefore);
      expect(seen.map((message) => [message.id, message.attempt, text(message)])).toEqual([
        [first.id, 1, '\0'.repeat('canary-handler'.length)],
        [first.id, 2, 'canary-handler'],
      ]);
      expect(outcome).toEqual({ kind: 'accepted', messageId: first.id });
      never.resolve();
      await run(tg, 10 * MINUTE, MINUTE);
      expect(seen).toHaveLength(2);
      expect(tg.events.filter((event) => event.type === 'dropped')).toEqual([]);
    });

    it('erasure during a send waits for it: no session is rebuilt after erase', async () => {
      const clock = new FakeClock();
      const stores = await factory.create(clock);
      const store = new GatedStore(stores.store);
      const tg = await gatewayWith({ clock, store, vaultStore: stores.vaultStore });
      await setUpBusiness(tg, 'shop', [SHOP]);
      await tg.network.addPerson(ALICE);
      await tg.network.addPerson(BOB);
      await tg.gateway.send({ from: SHOP, to: BOB, content: 'bob stays' });
      await tg.gateway.idle();

      // The send to Alice is building her session when the erasure comes in.
      const held = store.holdNextCommit('sessions');
      const id = await tg.gateway.send({ from: SHOP, to: ALICE, content: 'before erasure' });
      await held.reached;
      const erasure = tg.gateway.erase('shop', ALICE);
      held.release();
      await erasure;
      await tg.gateway.idle();
      await run(tg, 10 * MINUTE, MINUTE);

      expect(await tg.store.list('sessions')).toHaveLength(1); // Bob's
      expect(tg.network.sent.filter((frame) => frame.to === ALICE)).toHaveLength(1);
      await expectCode(tg.gateway.retransmit(id), 'ERR_NOT_FOUND');
      expect(tg.errors).toEqual([]);
    });

    it('tick reads the time index of due work, not the whole outbox; an early frame waits for its handler', async () => {
      const clock = new FakeClock();
      const stores = await factory.create(clock);
      const store = new GatedStore(stores.store);
      const tg = await gatewayWith({
        clock,
        store,
        vaultStore: stores.vaultStore,
        sending: { maxAttempts: 3, backoff: { initialMs: 60 * MINUTE, maxMs: 60 * MINUTE } },
      });
      await setUpBusiness(tg, 'shop', [SHOP]);
      await tg.network.addPerson(ALICE);
      tg.network.down = true;
      const waiting: string[] = [];
      for (let i = 0; i < 20; i++)
        waiting.push(await tg.gateway.send({ from: SHOP, to: ALICE, content: `m${i}` }));
      await tg.gateway.idle();
      expect(tg.network.sendAttempts).toBe(20);
      // A frame arrives before the business registered a handler: due, but not deliverable yet.
      const early = await tg.gateway.receiveFrame(await tg.network.personFrame(ALICE, SHOP, 'early'));

      tg.clock.advance(30 * MINUTE);
      store.reads.length = 0;
      store.lists.length = 0;
      await tg.gateway.tick();
      await tg.gateway.idle();
      // Outbox lists: the due-time index (by page), and the business's undelivered events.
      const outboxLists = store.lists.filter((list) => list.namespace === 'outbox');
      expect(outboxLists.filter((list) => list.prefix === 'gw/due/').length).toBeGreaterThan(0);
      for (const list of outboxLists) {
        if (list.prefix === 'gw/due/') expect(list).toMatchObject({ limit: expect.any(Number) });
        else expect(list).toMatchObject({ prefix: 'gw/b/shop/ev/' });
      }
      // None of the 20 waiting messages was looked at.
      expect(store.reads.filter((read) => waiting.some((id) => read.endsWith(id)))).toEqual([]);
      expect(tg.network.sendAttempts).toBe(20);

      const received = await collect(tg, 'shop');
      expect(received.map((message) => [message.id, text(message)])).toEqual([
        [early.kind === 'accepted' ? early.messageId : '', 'early'],
      ]);
      tg.network.down = false;
      tg.clock.advance(30 * MINUTE);
      await tg.gateway.tick();
      await tg.gateway.idle();
      expect(tg.network.sent).toHaveLength(20);
      for (const id of waiting) expect(statuses(tg.events, id)).toEqual(['accepted', 'sent']);
      // Spent hints are gone: the index holds nothing due any more.
      expect((await tg.store.list('outbox', { prefix: 'gw/due/' })).length).toBe(0);
    });

    it('after close() every call is refused with ERR_CLOSED; tick is a no-op', async () => {
      const tg = await gatewayWith();
      await setUpBusiness(tg, 'shop', [SHOP]);
      await tg.network.addPerson(ALICE);
      const id = await tg.gateway.send({ from: SHOP, to: ALICE, content: 'last words' });
      await tg.gateway.close();
      expect(statuses(tg.events, id)).toEqual(['accepted', 'sent']);
      await tg.gateway.close(); // idempotent
      const frame: InboundFrame = await tg.network.personFrame(ALICE, SHOP, 'too late');
      await expectCode(tg.gateway.send({ from: SHOP, to: ALICE, content: 'x' }), 'ERR_CLOSED');
      await expectCode(tg.gateway.receiveFrame(frame), 'ERR_CLOSED');
      await expectCode(tg.gateway.registerBusiness({ businessId: 'other' }), 'ERR_CLOSED');
      await expectCode(tg.gateway.addNumber('shop', SHOP_2), 'ERR_CLOSED');
      await expectCode(tg.gateway.retransmit(id), 'ERR_CLOSED');
      await expectCode(tg.gateway.receiveReceipt({ frameId: `${id}.1.1` }), 'ERR_CLOSED');
      await expectCode(tg.gateway.erase('shop', ALICE), 'ERR_CLOSED');
      await expectCode(tg.gateway.setDevices(ALICE, [1]), 'ERR_CLOSED');
      await expectCode(tg.gateway.sweep(), 'ERR_CLOSED');
      await expectCode(tg.gateway.maintainPreKeys(), 'ERR_CLOSED');
      await expectCode(tg.gateway.runDue(), 'ERR_CLOSED');
      await expectCode(tg.gateway.numbers('shop'), 'ERR_CLOSED');
      await expectCode((async () => tg.gateway.onMessage('shop', () => undefined))(), 'ERR_CLOSED');
      await tg.gateway.tick();
      expect(tg.errors).toEqual([]);
    });
  });
}
