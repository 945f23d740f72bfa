/**
 * Node 20.20 deadlocks when keys from `generateKeyPairSync('x25519')` are exported in a loop
 * (DESIGN.md). Parley's key generation never uses that call; this keeps it that way by
 * generating 100 000 keys with the Node provider. No timing assertion: a hang fails by timeout.
 */
import { describe, expect, it } from 'vitest';
import { toHex } from '../src/bytes.js';
import { createNodeCrypto } from '../src/crypto/node.js';
import { createPortableCrypto } from '../src/crypto/portable.js';
import { defaultRandom } from '../src/crypto/random.js';
import { agree, generateKeyPair } from '../src/keys/curve.js';

const KEYS = 100_000;

describe('key generation under load', () => {
  it(`generates ${KEYS} key pairs with the node provider, all distinct and well-formed`, () => {
    const ctx = { crypto: createNodeCrypto(), random: defaultRandom };
    const portable = createPortableCrypto();
    const seen = new Set<string>();
    let previous = generateKeyPair(ctx);
    for (let i = 0; i < KEYS; i++) {
      const pair = generateKeyPair(ctx);
      expect(pair.publicKey.length).toBe(33);
      expect(pair.publicKey[0]).toBe(0x05);
      expect(pair.privateKey[0]! & 7).toBe(0);
      seen.add(toHex(pair.publicKey));
      if (i % 10_000 === 0) {
        // Spot-check against the portable provider and exercise agreement on the fresh keys.
        expect(portable.x25519PublicKey(pair.privateKey)).toEqual(pair.publicKey.subarray(1));
        expect(agree(ctx.crypto, pair.privateKey, previous.publicKey)).toEqual(
          agree(ctx.crypto, previous.privateKey, pair.publicKey),
        );
        previous = pair;
      }
    }
    expect(seen.size).toBe(KEYS);
  });
});
