/**
 * Session recovery through decryption-error messages with a real libsignal-client device as
 * the person (0.103.0, which requires SPQR, and 0.90.0): libsignal builds and reads every
 * decryption error on the person's side, the gateway every one on the business's side.
 * - The device loses its session state mid-conversation (a restored backup): the business's
 *   next message fails there, the device's error comes back, and the gateway sends the message
 *   again from a new session — one round trip.
 * - The business number cannot decrypt the device's frame (its signed prekey was reset, or its
 *   store was restored from before the session): the gateway's error makes the device archive
 *   its session and resend from a fresh bundle.
 * Each way, every message is seen once by the business and once by the person.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Store } from '../src/storage/contract.js';
import { createMemoryStore } from '../src/storage/memory.js';
import { ManualClock } from '../src/testing/manual-clock.js';
import type { Delivery } from '../src/testing/test-network.js';
import { createTestWorld, type TestWorld } from '../src/testing/test-world.js';
import { decodeDecryptionErrorContent } from '../src/wire/plaintext-content.js';
import { LscRetryingPerson, type RetryingPersonKind } from './support/lsc-retrying-person.js';
import { testCrypto } from './support/parties.js';

beforeAll(() => {
  // libsignal-client logs every message it cannot decrypt.
  for (const level of ['log', 'info', 'warn', 'error', 'debug'] as const)
    vi.spyOn(console, level).mockImplementation(() => {});
});
afterAll(() => vi.restoreAllMocks());

const DAY = 24 * 60 * 60 * 1000;

interface Setup {
  readonly w: TestWorld;
  readonly store: Store;
  readonly person: LscRetryingPerson;
}

async function setUp(kind: RetryingPersonKind, seed: string, rotation = false): Promise<Setup> {
  const clock = new ManualClock();
  const store = createMemoryStore({ clock });
  const w = await createTestWorld({
    seed,
    clock,
    crypto: testCrypto(),
    stores: { store, vaultStore: createMemoryStore({ clock }) },
    gateway: {
      preKeys: {
        batchSize: 10,
        lowWaterMark: 2,
        kyberBatchSize: 2,
        kyberLowWaterMark: 1,
        ...(rotation ? { signedRotationMs: 7 * DAY, signedGraceMs: DAY } : {}),
      },
    },
  });
  const person = w.network.addPerson(new LscRetryingPerson(kind, '+15550142', clock));
  return { w, store, person };
}

/** What each delivery was: a frame's type and what became of it. */
function summary(deliveries: readonly Delivery[]): string[] {
  return deliveries.map((d) => {
    const type = d.packet.kind === 'frame' ? d.packet.frame.type : 'receipt';
    const what = d.result === 'accepted' ? d.outcome.kind : d.result;
    return `${d.packet.direction} ${type}: ${what}`;
  });
}

async function chat(s: Setup, rounds: number): Promise<void> {
  const number = s.w.business.number;
  for (let i = 0; i < rounds; i++) {
    await s.person.send(number, `person ${i}`);
    await s.w.network.flush();
    await s.w.business.send(s.person.phoneNumber, `business ${i}`);
    await s.w.network.flush();
  }
}

describe.each(['lsc-0.103.0', 'lsc-0.90.0'] as const)('recovery with a real %s device', (kind) => {
  it('the device loses its session mid-conversation and recovers through its decryption error', async () => {
    const s = await setUp(kind, `${kind}/device-lost`);
    const number = s.w.business.number;
    await chat(s, 3);

    s.person.loseSessions();
    const id = await s.w.business.send(s.person.phoneNumber, 'after the restore');
    const first = await s.w.network.step();
    expect(summary(first)).toEqual(['to-person 2: refused']);
    const second = await s.w.network.step();
    expect(summary(second)).toEqual(['to-gateway 8: decryption-error']);
    expect(second[0]).toMatchObject({ outcome: { resent: true, sessionArchived: true } });
    const third = await s.w.network.step();
    expect(summary(third)).toEqual(['to-person 3: received']);
    await s.w.network.flush();
    expect((await s.w.gateway.status(id)).status).toBe('delivered');

    // The conversation goes on, both ways, on the new session.
    await chat(s, 2);
    const businessSaw = s.w.business.messages.map((m) => m.text);
    expect(businessSaw).toEqual(['person 0', 'person 1', 'person 2', 'person 0', 'person 1']);
    expect(new Set(s.w.business.messages.map((m) => m.id)).size).toBe(5);
    expect(s.person.textsFrom(number)).toEqual([
      'business 0',
      'business 1',
      'business 2',
      'after the restore',
      'business 0',
      'business 1',
    ]);
    expect(s.person.failures).toHaveLength(1);
    expect(s.w.errors).toEqual([]);
  }, 60_000);

  it('the device loses its session and writes first: a new session from the directory, no error needed', async () => {
    const s = await setUp(kind, `${kind}/device-writes`);
    await chat(s, 1);
    s.person.loseSessions();
    await s.person.send(s.w.business.number, 'I am back');
    const { deliveries } = await s.w.network.flush();
    expect(summary(deliveries)).toEqual(['to-gateway 3: accepted']);
    await s.w.business.send(s.person.phoneNumber, 'welcome back');
    await s.w.network.flush();
    expect(s.w.business.messages.map((m) => m.text)).toEqual(['person 0', 'I am back']);
    expect(s.person.textsFrom(s.w.business.number)).toEqual(['business 0', 'welcome back']);
    expect(s.person.failures).toEqual([]);
  }, 60_000);

  it('the business number’s signed prekey was reset: its error makes the device resend from a fresh bundle', async () => {
    const s = await setUp(kind, `${kind}/prekeys-reset`, true);
    const held = await s.person.encryptOnly(s.w.business.number, 'sent before the reset');
    expect(held.type).toBe(3);
    s.w.clock.advance(7 * DAY + 1);
    await s.w.gateway.tick();
    s.w.clock.advance(DAY + 1);
    await s.w.gateway.tick();

    expect(await s.w.gateway.receiveFrame(held)).toEqual({
      kind: 'undecryptable',
      reason: 'ERR_PREKEY_NOT_FOUND',
      retryRequested: true,
    });
    const errors = s.w.network.sent.filter((frame) => frame.type === 8);
    expect(errors.map((frame) => decodeDecryptionErrorContent(frame.body).timestamp)).toEqual([
      held.timestamp,
    ]);
    const { deliveries } = await s.w.network.flush();
    expect(summary(deliveries)).toEqual(['to-person 8: answered', 'to-gateway 3: accepted']);
    expect(deliveries[0]).toMatchObject({ answer: { resent: true, sessionArchived: true } });
    expect(s.w.business.messages.map((m) => m.text)).toEqual(['sent before the reset']);

    await s.w.business.send(s.person.phoneNumber, 'got it');
    await s.w.network.flush();
    expect(s.person.textsFrom(s.w.business.number)).toEqual(['got it']);
  }, 60_000);

  it('the business number lost its sessions (a store restored from before them): the device resends on a new session', async () => {
    const s = await setUp(kind, `${kind}/business-lost`);
    await chat(s, 2);
    for (const record of await s.store.list('sessions'))
      await s.store.commit([{ type: 'delete', namespace: 'sessions', key: record.key }]);

    await s.person.send(s.w.business.number, 'are you there');
    const { deliveries } = await s.w.network.flush();
    expect(summary(deliveries)).toEqual([
      'to-gateway 2: undecryptable',
      'to-person 8: answered',
      'to-gateway 3: accepted',
    ]);
    await chat(s, 1);
    expect(s.w.business.messages.map((m) => m.text)).toEqual([
      'person 0',
      'person 1',
      'are you there',
      'person 0',
    ]);
    expect(s.person.textsFrom(s.w.business.number)).toEqual(['business 0', 'business 1', 'business 0']);
  }, 60_000);
});
