import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../src/bytes.js';
import { createDeterministicRandom } from '../src/crypto/random.js';
import { initiateSession, respondSession } from '../src/handshake/x3dh.js';
import { testCrypto } from './support/parties.js';
import { readVectorJson } from './support/vectors.js';

interface X3dhVector {
  bob: Record<'identityPublic' | 'identityPrivate' | 'signedPreKeyPublic' | 'signedPreKeyPrivate', string>;
  alice: Record<'identityPublic' | 'identityPrivate' | 'basePublic' | 'basePrivate', string>;
  expectedChainKey: string;
}

const vector = readVectorJson<X3dhVector>('libsignal/x3dh-v3.json');
const pair = (publicHex: string, privateHex: string) => ({
  publicKey: fromHex(publicHex),
  privateKey: fromHex(privateHex),
});

describe.each(['node', 'portable'] as const)(
  'X3DH v3 known answer (libsignal ratchet.rs), %s provider',
  (kind) => {
    const ctx = { crypto: testCrypto(kind), random: createDeterministicRandom('x3dh') };

    it("gives Bob libsignal's first sending chain key", () => {
      const state = respondSession(ctx, {
        version: 3,
        localIdentity: pair(vector.bob.identityPublic, vector.bob.identityPrivate),
        localRegistrationId: 1,
        localSignedPreKey: pair(vector.bob.signedPreKeyPublic, vector.bob.signedPreKeyPrivate),
        remoteIdentityKey: fromHex(vector.alice.identityPublic),
        remoteRegistrationId: 2,
        remoteBaseKey: fromHex(vector.alice.basePublic),
      });
      expect(toHex(state.sender.chainKey.key)).toBe(vector.expectedChainKey);
      expect(state.sender.chainKey.index).toBe(0);
    });

    it("gives Alice libsignal's first receiving chain key", () => {
      const state = initiateSession(ctx, {
        version: 3,
        localIdentity: pair(vector.alice.identityPublic, vector.alice.identityPrivate),
        localRegistrationId: 2,
        localBaseKey: pair(vector.alice.basePublic, vector.alice.basePrivate),
        remoteIdentityKey: fromHex(vector.bob.identityPublic),
        remoteRegistrationId: 1,
        remoteSignedPreKey: fromHex(vector.bob.signedPreKeyPublic),
        remoteSignedPreKeyId: 1,
        now: 0,
      });
      expect(state.receivers).toHaveLength(1);
      expect(toHex(state.receivers[0]!.chainKey.key)).toBe(vector.expectedChainKey);
      expect(toHex(state.baseKey)).toBe(vector.alice.basePublic);
      expect(state.pendingPreKey?.signedPreKeyId).toBe(1);
    });

    it('a different base key gives a different chain key', () => {
      const state = respondSession(ctx, {
        version: 3,
        localIdentity: pair(vector.bob.identityPublic, vector.bob.identityPrivate),
        localRegistrationId: 1,
        localSignedPreKey: pair(vector.bob.signedPreKeyPublic, vector.bob.signedPreKeyPrivate),
        remoteIdentityKey: fromHex(vector.alice.identityPublic),
        remoteRegistrationId: 2,
        remoteBaseKey: fromHex(vector.bob.signedPreKeyPublic),
      });
      expect(toHex(state.sender.chainKey.key)).not.toBe(vector.expectedChainKey);
    });
  },
);
