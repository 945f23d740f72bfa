/**
 * Found by `pnpm crash-test` on main after e25353c: the gateway handed a frame to the transport
 * and died before it recorded the attempt. The device got the frame and sent its receipt to
 * the restarted gateway, which did not know the device yet (the record lists a message's
 * devices only from that last commit) and dropped the receipt while reporting success. The
 * retry then resent the very same ciphertext, which the device refused as a duplicate, so no
 * second receipt came: the message stayed `sent` for good and `delivered` was never reported.
 */
import { describe, expect, it } from 'vitest';
import { createDeterministicRandom } from '../src/crypto/random.js';
import { createLocalKeyProvider } from '../src/gateway/key-provider.js';
import type { GatewayEvent } from '../src/gateway/types.js';
import { createMemoryStore } from '../src/storage/memory.js';
import { ManualClock } from '../src/testing/manual-clock.js';
import { createSimulatedPerson } from '../src/testing/simulated-person.js';
import { TestNetwork } from '../src/testing/test-network.js';
import { startLife } from './support/crashable-gateway.js';
import { testCrypto } from './support/parties.js';

const NUMBER = '+15550100';
const PERSON = '+15550123';
const HOUR = 60 * 60 * 1000;

describe('a receipt for a frame the gateway sent just before it died', () => {
  // A regression of e25353c (passes on d283280, fails on 7ddf6fa): the receipt now counts when
  // it names the frame stored for a device the record did not list yet.
  it('still makes the message delivered, and says so', async () => {
    const crypto = testCrypto();
    const clock = new ManualClock();
    const network = new TestNetwork();
    const events: GatewayEvent[] = [];
    const options = {
      store: createMemoryStore({ clock }),
      vaultStore: createMemoryStore({ clock }),
      keyProvider: createLocalKeyProvider({ kek: new Uint8Array(32).fill(9), crypto }),
      network,
      crypto,
      clock,
      random: (life: number) => createDeterministicRandom(`receipt/${life}`),
      onEvent: (event: GatewayEvent) => void events.push(event),
      onError: () => undefined,
      businesses: ['acme'],
    };
    const first = startLife(options, 0);
    await first.gateway.registerBusiness({ businessId: 'acme' });
    await first.gateway.addNumber('acme', NUMBER);
    network.addPerson(await createSimulatedPerson({ phoneNumber: PERSON, crypto, clock }));
    // The transport takes the frame; the process dies at its next commit (recording the attempt).
    const send = network.send.bind(network);
    let sends = 0;
    network.send = async (frame) => {
      await send(frame);
      if (sends++ === 0) first.arm(1, 'before');
    };
    const id = await first.gateway.send({ from: NUMBER, to: PERSON, content: 'hello' });
    await first.gateway.idle();
    expect(first.dead).toBe(true);

    const second = startLife(options, 1);
    await network.flush(); // the device decrypts and receipts; the new gateway takes the receipt
    for (let i = 0; i < 6; i++) {
      clock.advance(HOUR);
      await second.gateway.tick();
      await second.gateway.idle();
      await network.flush();
    }
    const statuses = events
      .filter((e) => e.type === 'status' && e.messageId === id)
      .map((e) => (e as { status: string }).status);
    expect(statuses).toContain('delivered');
    const query = (second.gateway as unknown as { status?: (m: string) => Promise<{ status: string }> })
      .status;
    if (query) expect((await query.call(second.gateway, id)).status).toBe('delivered');
  });
});
