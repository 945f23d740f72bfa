/**
 * The bugs WIRE.md measured in the JS peers, each shown absent from Parley — with real peer
 * bytes where a peer can produce the situation.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { constantTimeEqual } from '../src/crypto/constant-time.js';
import { isParleyError } from '../src/errors.js';
import { MAX_MESSAGE_KEYS } from '../src/ratchet/limits.js';
import { decodeSessionRecord } from '../src/ratchet/session-record.js';
import type { TrustPolicy } from '../src/session/trust.js';
import { allPeers } from './peers/index.js';
import { createParleyPeer } from './peers/parley.js';
import { snapshot } from './support/parties.js';

beforeAll(() => {
  for (const level of ['log', 'info', 'warn', 'error', 'debug'] as const)
    vi.spyOn(console, level).mockImplementation(() => {});
});
afterAll(() => vi.restoreAllMocks());

const text = (value: string) => new TextEncoder().encode(value);
const str = (value: Uint8Array) => new TextDecoder().decode(value);

describe('bugs of the JS peers that Parley does not have', () => {
  it('libsignal@6.0.0 accepts a flipped signed-prekey signature bit; Parley refuses its bundle', async () => {
    const peer = await allPeers['libsignal-6.0.0']!({ name: 'peer', deviceId: 1 });
    const parley = await createParleyPeer({ name: 'parley', deviceId: 1 });
    const bundle = await peer.createBundle();
    for (const bit of [0, 100, 255, 300, 511]) {
      const signature = bundle.signedPreKeySignature.slice();
      signature[bit >> 3]! ^= 1 << (bit & 7);
      const before = await snapshot(parley.store);
      const error = await parley
        .processBundle(peer.address, { ...bundle, signedPreKeySignature: signature })
        .catch((e) => e);
      expect(isParleyError(error, 'ERR_INVALID_SIGNATURE')).toBe(true);
      expect(await snapshot(parley.store)).toEqual(before);
    }
    await parley.processBundle(peer.address, bundle);
    expect(await parley.hasSession(peer.address)).toBe(true);
  });

  it('libsignal@6.0.0 never prunes skipped keys; Parley keeps at most 2 000 per chain after six 2 000-jumps', async () => {
    const peer = await allPeers['lsc-0.23.1']!({ name: 'peer', deviceId: 1 });
    const parley = await createParleyPeer({ name: 'parley', deviceId: 1 });
    await peer.processBundle(parley.address, await parley.createBundle());
    await parley.decrypt(peer.address, await peer.encrypt(parley.address, text('hello')));
    await peer.decrypt(parley.address, await parley.encrypt(peer.address, text('hi')));
    for (let jump = 0; jump < 6; jump++) {
      for (let i = 0; i < 1_999; i++) await peer.encrypt(parley.address, text('skipped'));
      expect(
        str(await parley.decrypt(peer.address, await peer.encrypt(parley.address, text(`jump ${jump}`)))),
      ).toBe(`jump ${jump}`);
    }
    const stored = await parley.store.get('sessions', parley.sessions.records.sessionKey(peer.address));
    const record = decodeSessionRecord(stored!.value);
    const skipped = record.current!.receivers.reduce((n, chain) => n + chain.skipped.size, 0);
    expect(skipped).toBe(MAX_MESSAGE_KEYS);
    expect(stored!.value.length).toBeLessThan(MAX_MESSAGE_KEYS * 36 + 1_000);
  }, 60_000);

  it.each(['libsignal-6.0.0', 'privacyresearch-0.0.16', 'lsc-0.23.1'])(
    'a late message from a previous %s session opens without breaking the current one',
    async (kind) => {
      const peer = await allPeers[kind]!({ name: 'peer', deviceId: 1 });
      const parley = await createParleyPeer({ name: 'parley', deviceId: 1 });
      await peer.processBundle(parley.address, await parley.createBundle());
      await parley.decrypt(peer.address, await peer.encrypt(parley.address, text('first session')));
      await peer.decrypt(parley.address, await parley.encrypt(peer.address, text('ack')));
      const late = await peer.encrypt(parley.address, text('late from the first session'));

      await peer.processBundle(parley.address, await parley.createBundle());
      expect(
        str(await parley.decrypt(peer.address, await peer.encrypt(parley.address, text('second session')))),
      ).toBe('second session');
      const tampered = { ...late, body: late.body.slice() };
      tampered.body[tampered.body.length - 1]! ^= 1;
      const before = await snapshot(parley.store);
      expect(
        isParleyError(await parley.decrypt(peer.address, tampered).catch((e) => e), 'ERR_INVALID_MAC'),
      ).toBe(true);
      expect(await snapshot(parley.store)).toEqual(before);

      expect(str(await parley.decrypt(peer.address, late))).toBe('late from the first session');
      expect(
        str(await parley.decrypt(peer.address, await peer.encrypt(parley.address, text('onwards')))),
      ).toBe('onwards');
      expect(str(await peer.decrypt(parley.address, await parley.encrypt(peer.address, text('reply'))))).toBe(
        'reply',
      );
    },
  );

  it('privacyresearch never awaits its trust check; Parley awaits an asynchronous policy that says no', async () => {
    const peer = await allPeers['privacyresearch-0.0.16']!({ name: 'peer', deviceId: 1 });
    let asked = 0;
    const slowNo: TrustPolicy = {
      name: 'slow-no',
      isTrusted: () =>
        new Promise((resolve) => {
          asked++;
          setTimeout(() => resolve(false), 5);
        }),
    };
    const parley = await createParleyPeer({ name: 'parley', deviceId: 1 });
    const guarded = new (await import('../src/session/session-manager.js')).SessionManager({
      store: parley.store,
      crypto: (await import('./support/parties.js')).testCrypto(),
      scope: 'parley.1',
      trust: slowNo,
    });
    await peer.processBundle(parley.address, await parley.createBundle());
    const message = await peer.encrypt(parley.address, text('should not open'));
    const before = await snapshot(parley.store);
    const error = await guarded.decrypt(peer.address, message).catch((e) => e);
    expect(asked).toBe(1);
    expect(isParleyError(error, 'ERR_UNTRUSTED_IDENTITY')).toBe(true);
    expect(await snapshot(parley.store)).toEqual(before);
  });

  it('libsignal@6.0.0 compares MACs with ===; Parley reads every byte whatever the first difference', () => {
    const reads = (a: Uint8Array, b: Uint8Array) => {
      let count = 0;
      const counting = (bytes: Uint8Array) =>
        new Proxy(bytes, {
          get(target, property) {
            if (typeof property === 'string' && /^\d+$/.test(property)) count++;
            const value = Reflect.get(target, property, target);
            return typeof value === 'function' ? value.bind(target) : value;
          },
          getPrototypeOf: (target) => Object.getPrototypeOf(target),
        });
      constantTimeEqual(counting(a), counting(b));
      return count;
    };
    const mac = Uint8Array.from({ length: 8 }, (_, i) => i * 31);
    const early = mac.slice();
    early[0]! ^= 0xff;
    const late = mac.slice();
    late[7]! ^= 0xff;
    expect(reads(mac, early)).toBe(16);
    expect(reads(mac, late)).toBe(16);
    expect(reads(mac, mac.slice())).toBe(16);

    // And every MAC or tag check in the sources goes through that helper.
    const srcDir = fileURLToPath(new URL('../src/', import.meta.url));
    const files = readdirSync(srcDir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
    const offenders = files.filter((file) => {
      const source = readFileSync(srcDir + file, 'utf8');
      return /bytesEqual\([^)]*(mac|tag)/i.test(source) || /(mac|tag)\w*\s*===/i.test(source);
    });
    expect(offenders).toEqual([]);
    const ratchet = readFileSync(`${srcDir}ratchet/double-ratchet.ts`, 'utf8');
    expect(ratchet).toMatch(/constantTimeEqual\(expected, message\.mac\)/);
  });
});
