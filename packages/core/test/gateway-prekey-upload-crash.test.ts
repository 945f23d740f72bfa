/**
 * Found by `pnpm crash-test` on the main branch: a gateway killed after its prekey upload
 * reached the directory but before it recorded the upload repeats it after the restart (the
 * schedule still lists the keys as unpublished). The directory then holds every one-time
 * prekey twice, hands one out to two people, and the second person's first message fails
 * with ERR_PREKEY_NOT_FOUND — a lost message and a session that has to start over.
 */
import { describe, expect, it } from 'vitest';
import { createDeterministicRandom } from '../src/crypto/random.js';
import { createLocalKeyProvider } from '../src/gateway/key-provider.js';
import { createMemoryStore } from '../src/storage/memory.js';
import { ManualClock } from '../src/testing/manual-clock.js';
import { createSimulatedPerson } from '../src/testing/simulated-person.js';
import { TestNetwork } from '../src/testing/test-network.js';
import { startLife } from './support/crashable-gateway.js';
import { testCrypto } from './support/parties.js';

const NUMBER = '+15550100';

describe('a prekey upload repeated after a crash', () => {
  // A regression of ec17fe1 (before it, a repeated upload carried no one-time prekeys; passes
  // on d283280, fails on 7ddf6fa): a commit now takes the one-time keys off the schedule's
  // unpublished lists before the upload, so a repeated upload goes without them.
  it('does not hand the same one-time prekey to two people', async () => {
    const crypto = testCrypto();
    const clock = new ManualClock();
    const network = new TestNetwork();
    const options = {
      store: createMemoryStore({ clock }),
      vaultStore: createMemoryStore({ clock }),
      keyProvider: createLocalKeyProvider({ kek: new Uint8Array(32).fill(5), crypto }),
      network,
      crypto,
      clock,
      random: (life: number) => createDeterministicRandom(`upload/${life}`),
      onEvent: () => undefined,
      onError: () => undefined,
      businesses: ['acme'],
    };
    const first = startLife(options, 0);
    await first.gateway.registerBusiness({ businessId: 'acme' });
    // The upload reaches the directory; the process dies at its next commit (recording it).
    const publish = network.publish.bind(network);
    let uploads = 0;
    network.publish = async (upload) => {
      await publish(upload);
      if (uploads++ === 0) first.arm(1, 'before');
    };
    await first.gateway.addNumber('acme', NUMBER).catch(() => undefined);
    expect(first.dead).toBe(true);
    expect(await network.availableOneTimePreKeys(NUMBER)).toBeGreaterThan(0);

    const second = startLife(options, 1);
    await second.gateway.tick();
    const received: string[] = [];
    second.gateway.onMessage(
      'acme',
      (message) => void received.push(new TextDecoder().decode(message.content)),
    );
    const available = await network.availableOneTimePreKeys(NUMBER);
    for (let i = 0; i < available; i++) {
      const person = network.addPerson(
        await createSimulatedPerson({ phoneNumber: `+1555020${String(i).padStart(4, '0')}`, crypto, clock }),
      );
      await person.send(NUMBER, `hello ${i}`);
    }
    await network.flush();
    await second.gateway.idle();
    expect(network.retryRequests, 'no message refused').toEqual([]);
    expect(received).toHaveLength(available);
  });
});
