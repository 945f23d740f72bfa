import { describe, expect, it } from 'vitest';
import { defaultCrypto } from '../src/crypto/default.js';
import { SessionManager } from '../src/session/session-manager.js';
import { createMemoryStore } from '../src/storage/memory.js';

describe('default crypto provider', () => {
  it('is the node:crypto provider on Node, shared, and used when none is passed', async () => {
    expect(defaultCrypto().name).toBe('node');
    expect(defaultCrypto()).toBe(defaultCrypto());
    const sessions = new SessionManager({ store: createMemoryStore() });
    const identity = await sessions.initializeIdentity();
    expect(identity.identityKeyPair.publicKey).toHaveLength(33);
  });
});
