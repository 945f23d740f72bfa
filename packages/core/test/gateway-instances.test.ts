/**
 * Several gateway instances over one store: due work is claimed by exactly one instance, an
 * instance that dies holding a claim loses it after the lease, and every retry — by the same
 * instance or another — resends the ciphertext stored with the session update, so a device never
 * gets two different ciphertexts of one message.
 */
import { describe, expect, it } from 'vitest';
import { createPortableCrypto } from '../src/crypto/portable.js';
import { createDeterministicRandom } from '../src/crypto/random.js';
import { frameKey } from '../src/gateway/durable/layout.js';
import { createGateway, type Gateway } from '../src/gateway/gateway.js';
import { createLocalKeyProvider } from '../src/gateway/key-provider.js';
import type { OutboundFrame } from '../src/gateway/types.js';
import type { Store } from '../src/storage/contract.js';
import { createMemoryStore } from '../src/storage/memory.js';
import { ManualClock } from '../src/testing/manual-clock.js';
import { createSimulatedPerson } from '../src/testing/simulated-person.js';
import { TestNetwork } from '../src/testing/test-network.js';
import { cuttingStore, SimulatedCrash } from './support/cutting-store.js';

const NUMBER = '+15550100';
const PERSON = '+15550123';
const LEASE_MS = 30_000;
const crypto = createPortableCrypto();
const kek = new Uint8Array(32).fill(4);

/** A network whose `send` is recorded per gateway instance. */
class CountingNetwork extends TestNetwork {
  readonly sends: { instance: string; frame: OutboundFrame }[] = [];
  instance = '';
  override async send(frame: OutboundFrame): Promise<void> {
    this.sends.push({ instance: this.instance, frame });
    return super.send(frame);
  }
}

async function setUp() {
  const clock = new ManualClock();
  const store = createMemoryStore({ clock });
  const vaultStore = createMemoryStore({ clock });
  const network = new CountingNetwork({ random: createDeterministicRandom('net') });
  const instance = (name: string, over: Store = store): Gateway => {
    const gateway = createGateway({
      store: over,
      vaultStore,
      keyProvider: createLocalKeyProvider({ kek, crypto }),
      transport: {
        send: (frame) => {
          network.instance = name;
          return network.send(frame);
        },
        requestRetry: (request) => network.requestRetry(request),
        acknowledge: (frameId) => network.acknowledge(frameId),
      },
      directory: network,
      crypto,
      random: createDeterministicRandom(`gateway-${name}`),
      clock,
      timer: false,
      claims: { leaseMs: LEASE_MS },
      preKeys: { batchSize: 4, kyberBatchSize: 2, lowWaterMark: 1, kyberLowWaterMark: 1 },
    });
    return gateway;
  };
  const a = instance('a');
  await a.registerBusiness({ businessId: 'acme' });
  await a.addNumber('acme', NUMBER);
  network.connect(a);
  const person = network.addPerson(
    await createSimulatedPerson({
      phoneNumber: PERSON,
      crypto,
      clock,
      random: createDeterministicRandom('p'),
    }),
  );
  await person.send(NUMBER, 'hello');
  await network.flush();
  return { clock, store, vaultStore, network, instance, a, person };
}

describe('due work across instances', () => {
  it('a retry due on two instances at once is sent by exactly one of them', async () => {
    const w = await setUp();
    const b = w.instance('b');
    w.network.refuseNextSends(1);
    const id = await w.a.send({ from: NUMBER, to: PERSON, content: 'retry me' });
    await w.a.idle();
    expect(w.network.sends.filter((s) => s.frame.frameId.startsWith(id))).toHaveLength(1);
    w.clock.advance(10 * 60_000);
    await Promise.all([w.a.runDue(), b.runDue()]);
    await Promise.all([w.a.idle(), b.idle()]);
    const attempts = w.network.sends.filter((s) => s.frame.frameId.startsWith(id));
    expect(attempts).toHaveLength(2);
    await w.network.flush();
    expect(w.person.received.map((m) => m.text)).toEqual(['retry me']);
    expect((await w.a.status(id)).status).toBe('delivered');
  });

  it('a retry resends the bytes stored with the session update, under the same frame id', async () => {
    const w = await setUp();
    w.network.refuseNextSends(1);
    const id = await w.a.send({ from: NUMBER, to: PERSON, content: 'same bytes' });
    await w.a.idle();
    w.clock.advance(10 * 60_000);
    await w.a.runDue();
    await w.a.idle();
    const [first, second] = w.network.sends.filter((s) => s.frame.frameId.startsWith(id));
    expect(second!.frame.frameId).toBe(first!.frame.frameId);
    expect(Buffer.from(second!.frame.body).equals(Buffer.from(first!.frame.body))).toBe(true);
    // The transport lost the refusal's copy; the retry's copy opens once, and a repeat of it is
    // recognised by the device as a duplicate.
    await w.network.flush();
    expect(w.person.received.map((m) => m.text)).toEqual(['same bytes']);
    await expect(w.person.decrypt(second!.frame)).rejects.toMatchObject({ code: 'ERR_DUPLICATE_MESSAGE' });
  });

  it('an instance that dies holding a claim loses it after the lease; another finishes the work', async () => {
    const w = await setUp();
    // Instance c dies right after the commit that stored the message and its claim.
    const cut = cuttingStore(w.store, 1, 'after');
    const c = w.instance('c', cut.store);
    cut.arm();
    await expect(c.send({ from: NUMBER, to: PERSON, content: 'orphaned' })).rejects.toBeInstanceOf(
      SimulatedCrash,
    );
    const b = w.instance('b');
    await b.runDue();
    await b.idle();
    expect(w.network.sends.filter((s) => s.instance === 'b')).toHaveLength(0); // still c's
    w.clock.advance(LEASE_MS);
    await b.runDue();
    await b.idle();
    expect(w.network.sends.filter((s) => s.instance === 'b')).toHaveLength(1);
    await w.network.flush();
    expect(w.person.received.map((m) => m.text)).toEqual(['orphaned']);
  });

  it('an instance that dies after encrypting, before sending, leaves the frame another instance resends', async () => {
    const w = await setUp();
    // Instance c dies right after the commit that advanced the session and stored the frame,
    // before the transport sees anything.
    const storesFrame = (mutation: Parameters<Store['commit']>[0]) =>
      mutation.some((op) => op.type === 'put' && op.key.startsWith('gw/b/acme/f/'));
    const cut = cuttingStore(w.store, storesFrame, 'after');
    const c = w.instance('c', cut.store);
    cut.arm();
    await c.send({ from: NUMBER, to: PERSON, content: 'stored frame' }).catch(() => undefined);
    await c.idle();
    expect(cut.cut()).toBe(true);
    expect(w.network.sends).toHaveLength(0);
    // c's ciphertext is kept (sealed) beside the session it advanced.
    expect(await w.store.list('outbox', { prefix: 'gw/b/acme/f/' })).toHaveLength(1);
    const b = w.instance('b');
    w.clock.advance(LEASE_MS);
    await b.runDue();
    await b.idle();
    expect(w.network.sends.map((s) => s.instance)).toEqual(['b']);
    await w.network.flush();
    expect(w.person.received.map((m) => m.text)).toEqual(['stored frame']);
    // Confirmed by the device: the stored frame is gone.
    expect(await w.store.list('outbox', { prefix: 'gw/b/acme/f/' })).toHaveLength(0);
  });

  it('a receipt taken by another instance before the sender recorded its attempt: delivered, and the claim ends at once', async () => {
    const w = await setUp();
    const b = w.instance('b');
    w.person.autoReceipts = false;
    let receipt: Promise<void> | undefined;
    const send = w.network.send.bind(w.network);
    // The device confirms at once, through instance b, while a has not recorded the attempt.
    w.network.send = async (frame) => {
      await send(frame);
      receipt = b.receiveReceipt({ frameId: frame.frameId });
      await receipt;
    };
    const id = await w.a.send({ from: NUMBER, to: PERSON, content: 'quick reader' });
    await w.a.idle();
    await receipt;
    const status = await w.a.status(id);
    expect(status.status).toBe('delivered');
    expect(status.devices).toEqual([{ deviceId: 1, state: 'delivered' }]);
    // a merged its attempt into the record b changed: no entry left for a lease to run out on.
    expect(
      (await w.store.list('outbox')).map((entry) => entry.key).filter((key) => key.includes(id)),
    ).toEqual([]);
  });

  it('a receipt while another instance retries from an older read: the retry resends the stored bytes', async () => {
    const w = await setUp();
    const b = w.instance('b');
    // The network reports the first send as failed although it delivered it (a timeout).
    w.network.refuseNextSends(1);
    const id = await w.a.send({ from: NUMBER, to: PERSON, content: 'late receipt' });
    await w.a.idle();
    // Instance c retries; right after it read the record (the device still pending there),
    // the device's receipt for the first frame reaches instance b.
    let receipt: Promise<void> | undefined;
    const racing: Store = Object.create(w.store, {
      get: {
        value: async (...args: Parameters<Store['get']>) => {
          if (!receipt && args[0] === 'outbox' && args[1] === frameKey('acme', id, 1)) {
            receipt = b.receiveReceipt({ frameId: `${id}.1.1` });
            await receipt;
          }
          return w.store.get(...args);
        },
      },
    });
    const c = w.instance('c', racing);
    w.clock.advance(10 * 60_000);
    await c.runDue();
    await c.idle();
    expect(receipt).toBeDefined();
    const frames = w.network.sends.filter((s) => s.frame.frameId.startsWith(id)).map((s) => s.frame);
    expect(frames.length).toBeGreaterThan(1);
    // One ciphertext for the device, however many times it went out.
    for (const frame of frames) {
      expect(frame.frameId).toBe(frames[0]!.frameId);
      expect(Buffer.from(frame.body).equals(Buffer.from(frames[0]!.body))).toBe(true);
    }
    const status = await c.status(id);
    expect(status.status).toBe('delivered');
    // c's attempt ended its claim and dropped the confirmed device's frame with it.
    const left = (await w.store.list('outbox')).map((entry) => entry.key).filter((key) => key.includes(id));
    expect(left).toEqual([]);
  });

  it('64 sends to one person at once from one instance: all accepted, each with a timestamp of its own', async () => {
    const w = await setUp();
    const results = await Promise.allSettled(
      Array.from({ length: 64 }, (_, i) => w.a.send({ from: NUMBER, to: PERSON, content: `burst ${i}` })),
    );
    expect(results.filter((result) => result.status === 'rejected')).toEqual([]);
    await w.a.idle();
    const ids = new Set(results.map((result) => (result as PromiseFulfilledResult<string>).value));
    const stamps = w.network.sends
      .filter((sent) => ids.has(sent.frame.frameId.split('.')[0]!))
      .map((sent) => sent.frame.timestamp);
    expect(stamps).toHaveLength(64);
    expect(new Set(stamps).size).toBe(64);
  });

  it('an attempt that overran its lease does not encrypt again once another instance finished the message', async () => {
    const w = await setUp();
    const b = w.instance('b');
    const c = w.instance('c');
    w.person.autoReceipts = false;
    let stalled = false;
    // Instance s stalls right before it looks for the device's stored frame: meanwhile its
    // lease runs out, c takes the message over and sends it, and the device's receipt reaches b.
    const stalling: Store = Object.create(w.store, {
      get: {
        value: async (...args: Parameters<Store['get']>) => {
          const [namespace, key] = args;
          if (!stalled && namespace === 'outbox' && /^gw\/b\/acme\/f\//.test(key)) {
            stalled = true;
            const id = key.split('/')[4]!;
            w.clock.advance(LEASE_MS + 1);
            await c.runDue();
            await c.idle();
            await b.receiveReceipt({ frameId: `${id}.1.1` });
          }
          return w.store.get(...args);
        },
      },
    });
    const s = w.instance('s', stalling);
    const id = await s.send({ from: NUMBER, to: PERSON, content: 'once' });
    await s.idle();
    expect(stalled).toBe(true);
    const bodies = new Set(
      w.network.sends
        .filter((sent) => sent.frame.frameId.startsWith(id))
        .map((sent) => Buffer.from(sent.frame.body).toString('hex')),
    );
    // One ciphertext of the message for the device, whoever sent it.
    expect(bodies.size).toBe(1);
    expect((await b.status(id)).status).toBe('delivered');
  });
});
