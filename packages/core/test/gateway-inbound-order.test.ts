/**
 * Messages from one person reach the business's handler in the order the gateway received them
 * (first attempts, one instance), even when the first one's delivery is slower than the second's.
 */
import { describe, expect, it } from 'vitest';
import { createPortableCrypto } from '../src/crypto/portable.js';
import { createDeterministicRandom } from '../src/crypto/random.js';
import { createGateway } from '../src/gateway/gateway.js';
import { createLocalKeyProvider } from '../src/gateway/key-provider.js';
import type { Store } from '../src/storage/contract.js';
import { createMemoryStore } from '../src/storage/memory.js';
import { ManualClock } from '../src/testing/manual-clock.js';
import { createSimulatedPerson } from '../src/testing/simulated-person.js';
import { TestNetwork } from '../src/testing/test-network.js';

const NUMBER = '+15550100';
const ALICE = '+15550200001';
const crypto = createPortableCrypto();

describe('inbound order', () => {
  it('a slow first delivery does not let the second message reach the handler first', async () => {
    const clock = new ManualClock();
    const inner = createMemoryStore({ clock });
    let slowOnce = true;
    const store: Store = Object.create(inner, {
      get: {
        value: async (...args: Parameters<Store['get']>) => {
          const result = await inner.get(...args);
          // The first delivery's read of its outbox entry answers late.
          if (slowOnce && args[0] === 'outbox') {
            slowOnce = false;
            await new Promise((resolve) => setTimeout(resolve, 30));
          }
          return result;
        },
      },
    });
    const network = new TestNetwork({ random: createDeterministicRandom('net') });
    const gateway = createGateway({
      store,
      vaultStore: createMemoryStore({ clock }),
      keyProvider: createLocalKeyProvider({ kek: new Uint8Array(32).fill(3), crypto }),
      transport: network,
      directory: network,
      crypto,
      random: createDeterministicRandom('gw'),
      clock,
      timer: false,
    });
    await gateway.registerBusiness({ businessId: 'acme' });
    await gateway.addNumber('acme', NUMBER);
    network.connect(gateway);
    const received: string[] = [];
    gateway.onMessage('acme', (message) => {
      received.push(message.text ?? '');
    });
    const alice = network.addPerson(
      await createSimulatedPerson({
        phoneNumber: ALICE,
        crypto,
        clock,
        random: createDeterministicRandom('a'),
      }),
    );
    await alice.startSession(NUMBER, network.businessBundle(NUMBER));
    const texts = ['one', 'two', 'three'];
    const frames = [];
    for (const text of texts) frames.push(await alice.encrypt(NUMBER, text));
    for (const frame of frames) expect((await gateway.receiveFrame(frame)).kind).toBe('accepted');
    await gateway.idle();
    expect(received).toEqual(texts);
    await gateway.close();
  });
});
