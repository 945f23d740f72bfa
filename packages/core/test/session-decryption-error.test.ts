/**
 * Session recovery on a decryption-error message: a real libsignal-client device that lost its
 * session answers Parley's message with a decryption error (built by libsignal itself), and
 * Parley archives the session only when the error names the ratchet key it sends on now —
 * the check libsignal's clients make. Forged, stale, replayed and other-device errors change
 * no stored byte; with SPQR off, an error from a peer that requires SPQR is
 * ERR_PEER_REQUIRES_SPQR.
 */
import fc from 'fast-check';
import * as lsc90 from 'lsc-0-90';
import * as lsc103 from 'lsc-0-103';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { isParleyError } from '../src/errors.js';
import { SessionManager } from '../src/session/session-manager.js';
import { acceptIdentityChanges } from '../src/session/trust.js';
import type { SpqrMode } from '../src/spqr/pq-ratchet.js';
import { decodeDecryptionErrorContent } from '../src/wire/plaintext-content.js';
import { decodePreKeySignalMessage } from '../src/wire/prekey-signal-message.js';
import { decodeSignalMessage } from '../src/wire/signal-message.js';
import { createLscPeer, type LscKind, type LscPeer, type PeerMessage } from './peers/index.js';
import { createParleyPeer, type ParleyPeer } from './peers/parley.js';
import { snapshot } from './support/parties.js';

beforeAll(() => {
  // libsignal-client logs every message it refuses.
  for (const level of ['log', 'info', 'warn', 'error', 'debug'] as const)
    vi.spyOn(console, level).mockImplementation(() => {});
});
afterAll(() => vi.restoreAllMocks());

const text = (value: string) => new TextEncoder().encode(value);
const buf = (bytes: Uint8Array) => Buffer.from(bytes);

interface LscDemApi {
  DecryptionErrorMessage: {
    forOriginal(bytes: Uint8Array, type: number, timestamp: number, deviceId: number): object;
  };
  PlaintextContent: { from(message: object): { serialize(): Uint8Array } };
}
const apis: Partial<Record<LscKind, LscDemApi>> = {
  'lsc-0.90.0': lsc90 as unknown as LscDemApi,
  'lsc-0.103.0': lsc103 as unknown as LscDemApi,
};

/** The type-8 body a libsignal client sends for a message it could not decrypt. */
function libsignalDecryptionError(kind: LscKind, failed: PeerMessage, timestamp: number): Uint8Array {
  const api = apis[kind]!;
  const message = api.DecryptionErrorMessage.forOriginal(buf(failed.body), failed.type, timestamp, 1);
  return Uint8Array.from(api.PlaintextContent.from(message).serialize());
}

function ratchetKeyOf(message: PeerMessage): Uint8Array {
  const signal = message.type === 2 ? message.body : decodePreKeySignalMessage(message.body).message;
  return decodeSignalMessage(signal).ratchetKey;
}

async function errorOf(work: () => Promise<unknown>): Promise<unknown> {
  try {
    await work();
  } catch (error) {
    return error;
  }
  return undefined;
}

/** Parley (the business, device 1) and a person's device with a session both ways. */
async function conversation(kind: LscKind, spqr: SpqrMode = 'offer') {
  const parley = await createParleyPeer({ name: 'business', deviceId: 1 }, { spqr, trust: 'always' });
  const person = await createLscPeer(kind, { name: 'person', deviceId: 2 }, { trust: 'always' });
  await parley.processBundle(person.address, await person.createBundle());
  await person.decrypt(parley.address, await parley.encrypt(person.address, text('hello')));
  await parley.decrypt(person.address, await person.encrypt(parley.address, text('hi')));
  return { parley, person };
}

/** The same device with everything but its sessions (a restored backup: keys yes, sessions no). */
async function withoutSessions(kind: LscKind, person: LscPeer): Promise<LscPeer> {
  const state = person.saveState();
  return createLscPeer(kind, person.address, { restore: { ...state, sessions: new Map() }, trust: 'always' });
}

describe.each(['lsc-0.90.0', 'lsc-0.103.0'] as const)('a %s device that lost its session', (kind) => {
  it('names the failed message; Parley archives, starts afresh, and the device reads the next message', async () => {
    const { parley, person } = await conversation(kind);
    const restored = await withoutSessions(kind, person);
    const failed = await parley.encrypt(person.address, text('lost'));
    expect(await errorOf(() => restored.decrypt(parley.address, failed))).toBeInstanceOf(Error);

    const error = decodeDecryptionErrorContent(libsignalDecryptionError(kind, failed, 1234));
    expect(error).toEqual({ ratchetKey: ratchetKeyOf(failed), timestamp: 1234, deviceId: 1 });
    expect(await parley.sessions.currentRatchetKeyMatches(person.address, error.ratchetKey!)).toBe(true);
    expect(await parley.sessions.archiveSession(person.address, { ifRatchetKey: error.ratchetKey })).toBe(
      true,
    );
    expect(await parley.hasSession(person.address)).toBe(false);

    // The next message starts a new session from a fresh bundle, and both directions work on.
    await parley.processBundle(person.address, await restored.createBundle());
    const resent = await parley.encrypt(person.address, text('lost, again'));
    expect(resent.type).toBe(3);
    expect(new TextDecoder().decode(await restored.decrypt(parley.address, resent))).toBe('lost, again');
    const reply = await restored.encrypt(parley.address, text('got it'));
    expect(new TextDecoder().decode(await parley.decrypt(person.address, reply))).toBe('got it');

    // The same error again (a replay) names a ratchet key no longer in use: nothing changes.
    const before = await snapshot(parley.store);
    expect(await parley.sessions.archiveSession(person.address, { ifRatchetKey: error.ratchetKey })).toBe(
      false,
    );
    expect(await snapshot(parley.store)).toEqual(before);
  });
});

describe('decryption errors that must change nothing', () => {
  it('a forged ratchet key, a stale one, another device’s: no stored byte changes', async () => {
    const { parley, person } = await conversation('lsc-0.90.0');
    const second = await createLscPeer('lsc-0.90.0', { name: 'person', deviceId: 3 }, { trust: 'always' });
    await parley.processBundle(second.address, await second.createBundle());
    const toSecond = await parley.encrypt(second.address, text('to device 3'));

    const stale = await parley.encrypt(person.address, text('first chain'));
    await person.decrypt(parley.address, stale);
    // The device answers: Parley's next message is on a new sending ratchet key.
    await parley.decrypt(person.address, await person.encrypt(parley.address, text('answer')));
    const current = await parley.encrypt(person.address, text('second chain'));
    expect(ratchetKeyOf(current)).not.toEqual(ratchetKeyOf(stale));

    const forged = Uint8Array.of(5, ...new Uint8Array(32).fill(0x42));
    const before = await snapshot(parley.store);
    for (const [name, key] of [
      ['forged', forged],
      ['stale', ratchetKeyOf(stale)],
      ['another device’s', ratchetKeyOf(toSecond)],
    ] as const) {
      expect(await parley.sessions.currentRatchetKeyMatches(person.address, key), name).toBe(false);
      expect(await parley.sessions.archiveSession(person.address, { ifRatchetKey: key }), name).toBe(false);
    }
    expect(await snapshot(parley.store)).toEqual(before);
    // The current key is the one that matches, and the session still runs.
    expect(await parley.sessions.currentRatchetKeyMatches(person.address, ratchetKeyOf(current))).toBe(true);
    await person.decrypt(parley.address, current);
  });

  it('what an archive commits with it is written only when it archives; a conflict writes nothing', async () => {
    const { parley, person } = await conversation('lsc-0.90.0');
    const message = await parley.encrypt(person.address, text('x'));
    const marker = { type: 'put', namespace: 'meta', key: 'test/marker', value: new Uint8Array(1) } as const;
    expect(
      await parley.sessions.archiveSession(person.address, {
        ifRatchetKey: Uint8Array.of(5, ...new Uint8Array(32)),
        alsoWrite: [marker],
      }),
    ).toBe(false);
    expect(await parley.store.get('meta', 'test/marker')).toBeUndefined();

    await parley.store.commit([{ ...marker, value: new Uint8Array(2) }]);
    const before = await snapshot(parley.store);
    // A second manager over the same records that gives up at the first conflict.
    const impatient = new SessionManager({
      store: parley.store,
      scope: 'business.1',
      trust: acceptIdentityChanges,
      retry: { budgetMs: 0 },
    });
    const conflict = await errorOf(() =>
      impatient.archiveSession(person.address, {
        ifRatchetKey: ratchetKeyOf(message),
        alsoWrite: [marker],
        alsoExpect: [{ namespace: 'meta', key: 'test/marker', version: 0 }],
      }),
    );
    expect(isParleyError(conflict, 'ERR_STORE_CONFLICT')).toBe(true);
    expect(await snapshot(parley.store)).toEqual(before);
    expect(await parley.hasSession(person.address)).toBe(true);
  });

  it('bad arguments are ERR_INVALID_ARGUMENT or ERR_INVALID_KEY and change nothing', async () => {
    const { parley, person } = await conversation('lsc-0.90.0');
    const before = await snapshot(parley.store);
    const attempts: [() => Promise<unknown>, string][] = [
      [
        () => parley.sessions.archiveSession(person.address, { ifRatchetKey: new Uint8Array(32) }),
        'ERR_INVALID_KEY',
      ],
      [
        () => parley.sessions.archiveSession(person.address, { ifRatchetKey: 'key' as never }),
        'ERR_INVALID_ARGUMENT',
      ],
      [() => parley.sessions.archiveSession(person.address, null as never), 'ERR_INVALID_ARGUMENT'],
      [
        () => parley.sessions.archiveSession(person.address, { alsoWrite: {} as never }),
        'ERR_INVALID_ARGUMENT',
      ],
      [() => parley.sessions.archiveSession({ name: '', deviceId: 1 }), 'ERR_INVALID_ARGUMENT'],
      [
        () => parley.sessions.currentRatchetKeyMatches(person.address, undefined as never),
        'ERR_INVALID_ARGUMENT',
      ],
    ];
    for (const [attempt, code] of attempts) {
      const error = await errorOf(attempt);
      expect((error as { code?: string }).code).toBe(code);
    }
    expect(await snapshot(parley.store)).toEqual(before);
  });
});

describe('SPQR: a peer that requires it, and Parley with it off', () => {
  it('lsc-0.103.0 drops a new session without SPQR and says so; the error maps to ERR_PEER_REQUIRES_SPQR and nothing is archived', async () => {
    const parley: ParleyPeer = await createParleyPeer({ name: 'business', deviceId: 1 }, { spqr: 'off' });
    const person = await createLscPeer('lsc-0.103.0', { name: 'person', deviceId: 2 }, { trust: 'always' });
    await parley.processBundle(person.address, await person.createBundle());
    const first = await parley.encrypt(person.address, text('no SPQR'));
    expect(await errorOf(() => person.decrypt(parley.address, first))).toBeInstanceOf(Error);

    const error = decodeDecryptionErrorContent(libsignalDecryptionError('lsc-0.103.0', first, 77));
    const before = await snapshot(parley.store);
    const refused = await errorOf(() =>
      parley.sessions.archiveSession(person.address, { ifRatchetKey: error.ratchetKey }),
    );
    expect(isParleyError(refused, 'ERR_PEER_REQUIRES_SPQR')).toBe(true);
    expect(await snapshot(parley.store)).toEqual(before);

    // With SPQR offered the same peer reads the first message: no error to answer.
    const offering = await createParleyPeer({ name: 'business', deviceId: 1 }, { spqr: 'offer' });
    await offering.processBundle(person.address, await person.createBundle());
    await person.decrypt(offering.address, await offering.encrypt(person.address, text('with SPQR')));
  });

  it('with SPQR off, an error about an answered session without SPQR is a lost session: archived', async () => {
    const { parley, person } = await conversation('lsc-0.90.0', 'off');
    expect((await parley.spqr(person.address))?.on).toBe(false);
    const failed = await parley.encrypt(person.address, text('lost'));
    expect(await parley.sessions.archiveSession(person.address, { ifRatchetKey: ratchetKeyOf(failed) })).toBe(
      true,
    );
  });
});

describe('property: an error archives exactly when it names the current sending ratchet key', () => {
  it('over random conversations, nothing else ever changes the store', async () => {
    const parley = await createParleyPeer({ name: 'business', deviceId: 1 }, { trust: 'always' });
    const person = await createParleyPeer({ name: 'person', deviceId: 2 }, { trust: 'always' });
    await parley.processBundle(person.address, await person.createBundle());
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom('send', 'reply', 'current', 'earlier', 'forged', 'restart'), {
          minLength: 1,
          maxLength: 12,
        }),
        async (steps) => {
          const seen: Uint8Array[] = [];
          let current: Uint8Array | undefined;
          for (const step of steps) {
            if (!(await parley.hasSession(person.address))) {
              await parley.processBundle(person.address, await person.createBundle());
              current = undefined;
            }
            if (step === 'send' || step === 'restart') {
              const message = await parley.encrypt(person.address, text(step));
              await person.decrypt(parley.address, message);
              current = ratchetKeyOf(message);
              seen.push(current);
              if (step === 'restart') await person.sessions.archiveSession(parley.address);
              continue;
            }
            if (step === 'reply') {
              if (!(await person.hasSession(parley.address))) continue;
              await parley.decrypt(person.address, await person.encrypt(parley.address, text('reply')));
              current = undefined; // Parley's next message steps its ratchet
              continue;
            }
            const key =
              step === 'current'
                ? current
                : step === 'earlier'
                  ? seen[0]
                  : Uint8Array.of(5, ...new Uint8Array(32).fill(seen.length));
            if (!key) continue;
            const expected = current !== undefined && Buffer.compare(key, current) === 0;
            const before = await snapshot(parley.store);
            const archived = await parley.sessions.archiveSession(person.address, { ifRatchetKey: key });
            expect(archived).toBe(expected);
            if (!archived) expect(await snapshot(parley.store)).toEqual(before);
            else current = undefined;
          }
        },
      ),
      { numRuns: 25 },
    );
  }, 60_000);
});
