import { describe, expect, it } from 'vitest';
import { ByteWriter } from '../src/binary.js';
import { utf8 } from '../src/bytes.js';
import { padContent, unpadContent } from '../src/content/padding.js';
import { createDeterministicRandom } from '../src/crypto/random.js';
import { isParleyError } from '../src/errors.js';
import { PlaintextLeases } from '../src/gateway/cache/plaintext-leases.js';
import { createAesGcmSealer } from '../src/gateway/durable/record-sealer.js';
import { decodeNumberKeys, encodeNumberKeys, type NumberKeys } from '../src/gateway/durable/records.js';
import { createLocalKeyProvider } from '../src/gateway/key-provider.js';
import { derivePseudonym } from '../src/gateway/pseudonym.js';
import { FakeClock, testCrypto } from './support/parties.js';

const crypto = testCrypto();

function code(operation: () => unknown): string | undefined {
  try {
    operation();
  } catch (error) {
    return isParleyError(error) ? error.code : 'not a ParleyError';
  }
  return undefined;
}

describe('padding', () => {
  it('pads to the next multiple of 160 with 0x80 then zeros, and strips it back', () => {
    for (const length of [0, 1, 158, 159, 160, 161, 319, 320, 1000]) {
      const content = new Uint8Array(length).fill(0xaa);
      const padded = padContent(content);
      expect(padded.length % 160).toBe(0);
      expect(padded.length).toBeGreaterThan(length);
      expect(padded.length - length).toBeLessThanOrEqual(160);
      expect(padded[length]).toBe(0x80);
      expect(unpadContent(padded)).toEqual(content);
    }
  });

  it('keeps content ending in zeros or 0x80 intact, and leaves unpadded content alone', () => {
    for (const content of [Uint8Array.of(1, 0, 0), Uint8Array.of(0x80), Uint8Array.of(0x80, 0)]) {
      expect(unpadContent(padContent(content))).toEqual(content);
    }
    expect(unpadContent(Uint8Array.of(1, 2, 3))).toEqual(Uint8Array.of(1, 2, 3));
  });

  it('does not mutate its input and refuses a bad block size', () => {
    const content = Uint8Array.of(1, 2, 3);
    padContent(content, 16);
    expect(content).toEqual(Uint8Array.of(1, 2, 3));
    for (const block of [0, -1, 1.5, Number.NaN, 1 << 20])
      expect(code(() => padContent(content, block))).toBe('ERR_INVALID_ARGUMENT');
  });
});

describe('pseudonyms', () => {
  it('are stable per business key, differ across businesses and never contain the number', () => {
    const a = new Uint8Array(32).fill(1);
    const b = new Uint8Array(32).fill(2);
    const phone = '+4915100000001';
    expect(derivePseudonym(crypto, a, phone)).toBe(derivePseudonym(crypto, a, phone));
    expect(derivePseudonym(crypto, a, phone)).not.toBe(derivePseudonym(crypto, b, phone));
    expect(derivePseudonym(crypto, a, phone)).not.toBe(derivePseudonym(crypto, a, '+4915100000002'));
    expect(derivePseudonym(crypto, a, phone)).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('local key provider', () => {
  const provider = createLocalKeyProvider({ kek: new Uint8Array(32).fill(9), region: 'eu', crypto });

  it('wraps and unwraps a data key bound to its context', async () => {
    const dataKey = new Uint8Array(32).fill(5);
    const wrapped = await provider.wrapKey(dataKey, 'ctx/a');
    expect(await provider.unwrapKey(wrapped, 'ctx/a')).toEqual(dataKey);
    await expect(provider.unwrapKey(wrapped, 'ctx/b')).rejects.toMatchObject({
      code: 'ERR_DECRYPTION_FAILED',
    });
    const other = createLocalKeyProvider({ kek: new Uint8Array(32).fill(8), crypto });
    await expect(other.unwrapKey(wrapped, 'ctx/a')).rejects.toMatchObject({ code: 'ERR_DECRYPTION_FAILED' });
    const tampered = wrapped.slice();
    tampered[tampered.length - 1]! ^= 1;
    await expect(provider.unwrapKey(tampered, 'ctx/a')).rejects.toMatchObject({
      code: 'ERR_DECRYPTION_FAILED',
    });
    await expect(provider.unwrapKey(wrapped.subarray(0, 5), 'ctx/a')).rejects.toMatchObject({
      code: 'ERR_DECRYPTION_FAILED',
    });
    expect(provider.region).toBe('eu');
  });

  it('refuses a key-encryption key that is not 32 bytes', () => {
    for (const kek of [new Uint8Array(16), new Uint8Array(33), 'key' as unknown as Uint8Array]) {
      expect(code(() => createLocalKeyProvider({ kek }))).toBe('ERR_INVALID_ARGUMENT');
    }
  });
});

describe('record sealer', () => {
  const sealer = createAesGcmSealer(crypto, createDeterministicRandom('sealer'), new Uint8Array(32).fill(3));

  it('opens only under the namespace and key it was sealed for', () => {
    const plaintext = utf8('chain keys');
    const sealed = sealer.seal('sessions', 'a/1', plaintext);
    expect(Buffer.from(sealed).includes(Buffer.from(plaintext))).toBe(false);
    expect(sealer.open('sessions', 'a/1', sealed)).toEqual(plaintext);
    expect(code(() => sealer.open('sessions', 'a/2', sealed))).toBe('ERR_INVALID_RECORD');
    expect(code(() => sealer.open('identities', 'a/1', sealed))).toBe('ERR_INVALID_RECORD');
    expect(code(() => sealer.open('sessions', 'a/1', sealed.subarray(0, 10)))).toBe('ERR_INVALID_RECORD');
    const other = createAesGcmSealer(crypto, createDeterministicRandom('x'), new Uint8Array(32).fill(4));
    expect(code(() => other.open('sessions', 'a/1', sealed))).toBe('ERR_INVALID_RECORD');
  });

  it('uses a fresh nonce for every seal', () => {
    const plaintext = utf8('same');
    expect(sealer.seal('meta', 'k', plaintext)).not.toEqual(sealer.seal('meta', 'k', plaintext));
  });
});

describe('number keys record', () => {
  it('round-trips the Kyber schedule and unpublished keys, and reads a pre-Kyber (format 1) record as "no last-resort key yet"', () => {
    const keys: NumberKeys = {
      signedPreKeyId: 3,
      signedPreKeyCreatedAt: 1_700_000_000_000,
      previousSignedPreKeys: [{ id: 2, removeAt: 1_700_100_000_000 }],
      nextSignedPreKeyId: 4,
      nextOneTimePreKeyId: 201,
      lastResortKyberPreKeyId: 7,
      previousKyberPreKeys: [{ id: 1, removeAt: 1_700_100_000_000 }],
      nextKyberPreKeyId: 8,
      published: false,
      unpublishedOneTime: [101, 102],
      unpublishedKyber: [7],
    };
    expect(decodeNumberKeys(encodeNumberKeys(keys))).toEqual(keys);
    const legacy = new ByteWriter()
      .u8(1)
      .u32(3)
      .u64(1_700_000_000_000)
      .u32(4)
      .u32(201)
      .u32(1)
      .u32(2)
      .u64(1_700_100_000_000)
      .finish();
    expect(decodeNumberKeys(legacy)).toEqual({
      ...keys,
      lastResortKyberPreKeyId: 0,
      previousKyberPreKeys: [],
      nextKyberPreKeyId: 1,
      published: true,
      unpublishedOneTime: [],
      unpublishedKyber: [],
    });
  });
});

describe('plaintext leases', () => {
  it('zero their buffers when released or when the TTL runs out; a hand-over keeps them', () => {
    const clock = new FakeClock();
    const leases = new PlaintextLeases(clock, 1_000);
    const released = Uint8Array.of(1, 2, 3);
    const expiring = Uint8Array.of(4, 5, 6);
    const handed = Uint8Array.of(7, 8, 9);
    leases.acquire(released).release();
    const old = leases.acquire(expiring);
    clock.advance(500);
    const young = leases.acquire(handed);
    expect(leases.stats()).toEqual({ leases: 2, oldestAgeMs: 500 });
    clock.advance(500);
    expect(leases.expire()).toBe(1);
    expect([old.revoked, young.revoked]).toEqual([true, false]);
    young.handOver();
    expect(leases.stats()).toEqual({ leases: 0, oldestAgeMs: undefined });
    expect([...released, ...expiring, ...handed]).toEqual([0, 0, 0, 0, 0, 0, 7, 8, 9]);
    // A buffer added to a revoked lease is zeroed at once.
    expect(old.add(Uint8Array.of(1))).toEqual(Uint8Array.of(0));
  });
});
