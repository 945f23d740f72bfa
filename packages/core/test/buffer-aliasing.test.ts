/**
 * Node `Buffer`s passed in are copied, never kept as views: `Buffer.prototype.slice` returns a
 * view of the same memory, so code that "copied" with `.slice()` kept aliases of the caller's
 * bytes — a KEK the caller then wiped (as the docs allow) broke every later unwrap, content
 * handed to `send` was zeroed in the caller's buffer, and a memory store kept bytes the caller
 * could still change.
 */
import { describe, expect, it } from 'vitest';
import { createPortableCrypto } from '../src/crypto/portable.js';
import { createDeterministicRandom } from '../src/crypto/random.js';
import { createAesGcmSealer } from '../src/gateway/durable/record-sealer.js';
import { createLocalKeyProvider } from '../src/gateway/key-provider.js';
import { createMemoryStore } from '../src/storage/memory.js';
import { createTestWorld } from '../src/testing/test-world.js';

describe('Buffers from callers are copied', () => {
  it('a KEK Buffer the caller wipes after createLocalKeyProvider leaves the provider working', async () => {
    const kek = Buffer.alloc(32, 7);
    const provider = createLocalKeyProvider({ kek, crypto: createPortableCrypto() });
    const wrapped = await provider.wrapKey(new Uint8Array(32).fill(1), 'ctx');
    kek.fill(0);
    expect(await provider.unwrapKey(wrapped, 'ctx')).toEqual(new Uint8Array(32).fill(1));
  });

  it('a data-key Buffer the caller wipes after creating a sealer leaves it able to open its records', () => {
    const key = Buffer.alloc(32, 9);
    const sealer = createAesGcmSealer(createPortableCrypto(), createDeterministicRandom('s'), key);
    const sealed = sealer.seal('meta', 'k', Uint8Array.of(1, 2, 3));
    key.fill(0);
    expect(sealer.open('meta', 'k', sealed)).toEqual(Uint8Array.of(1, 2, 3));
  });

  it('content given to send as a Buffer is left as the caller gave it', async () => {
    const world = await createTestWorld();
    const content = Buffer.from('keep me');
    await world.business.send(world.person.phoneNumber, content);
    await world.network.flush();
    expect(content.toString()).toBe('keep me');
    expect(world.person.received.map((m) => m.text)).toEqual(['keep me']);
    await world.close();
  });

  it('the memory store keeps a copy of a Buffer value and returns copies', async () => {
    const store = createMemoryStore();
    const value = Buffer.from([1, 2, 3]);
    await store.commit([{ type: 'put', namespace: 'meta', key: 'k', value }]);
    value.fill(0);
    const stored = await store.get('meta', 'k');
    expect([...stored!.value]).toEqual([1, 2, 3]);
  });
});
