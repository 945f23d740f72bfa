/**
 * Regression tests for the gateway defects the fault campaigns found (issue 15): replies that
 * skipped a person's other devices, empty content accepted, status events lost in a crash,
 * untyped errors from bad arguments and corrupted records. Each failed before its fix.
 */
import { describe, expect, it } from 'vitest';
import { createPortableCrypto } from '../src/crypto/portable.js';
import { createDeterministicRandom } from '../src/crypto/random.js';
import { isParleyError } from '../src/errors.js';
import { createGateway, type Gateway, type GatewayOptions } from '../src/gateway/gateway.js';
import { createLocalKeyProvider } from '../src/gateway/key-provider.js';
import type { GatewayEvent, MessageId } from '../src/gateway/types.js';
import type { Store } from '../src/storage/contract.js';
import { createMemoryStore } from '../src/storage/memory.js';
import { ManualClock } from '../src/testing/manual-clock.js';
import { createSimulatedPerson, type SimulatedPerson } from '../src/testing/simulated-person.js';
import { TestNetwork } from '../src/testing/test-network.js';
import { cuttingStore, SimulatedCrash } from './support/cutting-store.js';

const NUMBER = '+15550100';
const PERSON = '+15550123';
const DAY = 24 * 60 * 60 * 1000;
const crypto = createPortableCrypto();
const kek = new Uint8Array(32).fill(5);

interface World {
  readonly gateway: Gateway;
  readonly network: TestNetwork;
  readonly clock: ManualClock;
  readonly store: Store;
  readonly vaultStore: Store;
  readonly events: GatewayEvent[];
  readonly errors: unknown[];
  person(devices?: number[]): Promise<SimulatedPerson>;
  restart(store?: Store): Promise<World>;
}

async function world(
  options: {
    store?: Store;
    vaultStore?: Store;
    clock?: ManualClock;
    network?: TestNetwork;
    fresh?: boolean;
  } & Partial<GatewayOptions> = {},
): Promise<World> {
  const clock = options.clock ?? new ManualClock();
  const store = options.store ?? createMemoryStore({ clock });
  const vaultStore = options.vaultStore ?? createMemoryStore({ clock });
  const network = options.network ?? new TestNetwork({ random: createDeterministicRandom('net') });
  const { store: _s, vaultStore: _v, clock: _c, network: _n, fresh, ...rest } = options;
  const gateway = createGateway({
    store,
    vaultStore,
    keyProvider: createLocalKeyProvider({ kek, crypto }),
    transport: network,
    directory: network,
    crypto,
    random: createDeterministicRandom(`gw-${Math.random()}`),
    clock,
    timer: false,
    preKeys: { batchSize: 4, kyberBatchSize: 2, lowWaterMark: 1, kyberLowWaterMark: 1 },
    ...rest,
  });
  network.connect(gateway);
  const events: GatewayEvent[] = [];
  const errors: unknown[] = [];
  gateway.onError((error) => errors.push(error));
  if (fresh !== false) {
    await gateway.registerBusiness({ businessId: 'acme' });
    await gateway.addNumber('acme', NUMBER);
  }
  gateway.onMessage('acme', () => undefined);
  gateway.onEvent('acme', (event) => {
    events.push(event);
  });
  let people = 0;
  const self: World = {
    gateway,
    network,
    clock,
    store,
    vaultStore,
    events,
    errors,
    person: async (devices = [1]) =>
      network.addPerson(
        await createSimulatedPerson({
          phoneNumber: PERSON,
          devices,
          crypto,
          clock,
          random: createDeterministicRandom(`person-${people++}`),
        }),
      ),
    async restart(next = store) {
      await gateway.close().catch(() => undefined);
      return world({ ...rest, store: next, vaultStore, clock, network, fresh: false });
    },
  };
  return self;
}

const statusesOf = (events: readonly GatewayEvent[], id: MessageId) =>
  events.flatMap((event) => (event.type === 'status' && event.messageId === id ? [event.status] : []));

describe('replies reach every device of a person (the directory is the truth)', () => {
  it('a person who wrote from device 2 gets the reply on devices 1 and 2, and the status says which got it', async () => {
    const w = await world();
    const person = await w.person([1, 2]);
    await person.send(NUMBER, 'from my laptop', { deviceId: 2 });
    await w.network.flush();
    const id = await w.gateway.send({ from: NUMBER, to: PERSON, content: 'reply' });
    await w.network.flush();
    expect(person.received.map((m) => [m.deviceId, m.text])).toEqual([
      [1, 'reply'],
      [2, 'reply'],
    ]);
    expect(statusesOf(w.events, id)).toEqual(['accepted', 'sent', 'delivered']);
    const status = await w.gateway.status(id);
    expect(status.status).toBe('delivered');
    expect(status.devices).toEqual([
      { deviceId: 1, state: 'delivered' },
      { deviceId: 2, state: 'delivered' },
    ]);
    const delivered = w.events.find((e) => e.type === 'status' && e.status === 'delivered');
    expect(delivered?.type === 'status' && delivered.devices.some((d) => d.state === 'delivered')).toBe(true);
  });

  it('a device linked later is asked of the directory once the list is a day old, and setDevices applies at once', async () => {
    const w = await world();
    const person = await w.person([1, 3]);
    // Until the person links the tablet (device 3), the directory knows device 1 only.
    const directory = w.network.fetchDevices.bind(w.network);
    w.network.fetchDevices = async () => [1];
    await person.send(NUMBER, 'hello');
    await w.network.flush();
    await w.gateway.send({ from: NUMBER, to: PERSON, content: 'one' });
    await w.network.flush();
    w.network.fetchDevices = directory;
    // Within a day the stored list is used as it is; a day later it is asked for again.
    await w.gateway.send({ from: NUMBER, to: PERSON, content: 'two' });
    await w.network.flush();
    w.clock.advance(DAY + 1);
    await w.gateway.send({ from: NUMBER, to: PERSON, content: 'three' });
    await w.network.flush();
    expect(person.received.map((m) => [m.deviceId, m.text])).toEqual([
      [1, 'one'],
      [1, 'two'],
      [1, 'three'],
      [3, 'three'],
    ]);
    // The transport says device 3 is gone: the next message goes to device 1 only.
    await w.gateway.setDevices(PERSON, [1]);
    const four = await w.gateway.send({ from: NUMBER, to: PERSON, content: 'four' });
    await w.network.flush();
    expect((await w.gateway.status(four)).devices.map((d) => d.deviceId)).toEqual([1]);
  });
});

describe('send refuses empty content', () => {
  it('"" and an empty Uint8Array are ERR_INVALID_ARGUMENT and store nothing', async () => {
    const w = await world();
    await w.person();
    const before = await w.store.list('messages');
    for (const content of ['', new Uint8Array(0)]) {
      await expect(w.gateway.send({ from: NUMBER, to: PERSON, content })).rejects.toMatchObject({
        code: 'ERR_INVALID_ARGUMENT',
        details: { field: 'content' },
      });
    }
    expect(await w.store.list('messages')).toEqual(before);
    expect(w.network.sent).toEqual([]);
  });
});

describe('status events are durable and can be asked for', () => {
  it('a crash right after the receipt is committed still reports `delivered`, with the same event id on a repeat', async () => {
    const clock = new ManualClock();
    const raw = createMemoryStore({ clock });
    const w = await world({ store: raw, clock });
    const person = await w.person([1]);
    person.autoReceipts = false;
    await person.send(NUMBER, 'hi');
    await w.network.flush();
    const id = await w.gateway.send({ from: NUMBER, to: PERSON, content: 'your order' });
    await w.network.flush();
    expect(statusesOf(w.events, id)).toEqual(['accepted', 'sent']);
    const frame = w.network.sent.at(-1)!;

    // The receipt's commit lands, then the process dies before any handler runs.
    const cutting = cuttingStore(raw, 1, 'after');
    const dying = await w.restart(cutting.store);
    cutting.arm();
    await expect(dying.gateway.receiveReceipt({ frameId: frame.frameId })).rejects.toBeInstanceOf(
      SimulatedCrash,
    );
    expect(dying.events.filter((e) => e.type === 'status' && e.status === 'delivered')).toEqual([]);

    const restarted = await w.restart(raw);
    // A repeated receipt changes nothing more; the stored event reaches the new handler.
    await restarted.gateway.receiveReceipt({ frameId: frame.frameId });
    await restarted.gateway.tick();
    const delivered = restarted.events.filter((e) => e.type === 'status' && e.status === 'delivered');
    expect(delivered).toHaveLength(1);
    expect((await restarted.gateway.status(id)).status).toBe('delivered');
    // Handed over and forgotten: a further restart does not repeat it.
    await restarted.gateway.tick();
    const again = await restarted.restart(raw);
    await again.gateway.tick();
    expect(again.events.filter((e) => e.type === 'status')).toEqual([]);
  });

  it('an event handler that throws gets the same event (same id) again at the next tick', async () => {
    const w = await world();
    await w.person();
    let failures = 1;
    const seen: string[] = [];
    w.gateway.onEvent('acme', (event) => {
      seen.push(event.eventId);
      if (failures-- > 0) throw new Error('webhook down');
    });
    const id = await w.gateway.send({ from: NUMBER, to: PERSON, content: 'x' });
    await w.gateway.idle();
    await w.gateway.tick();
    const accepted = w.events.filter(
      (e) => e.type === 'status' && e.messageId === id && e.status === 'accepted',
    );
    expect(accepted.length).toBeGreaterThanOrEqual(2);
    expect(new Set(accepted.map((e) => e.eventId)).size).toBe(1);
    expect(seen.filter((eventId) => eventId === accepted[0]!.eventId).length).toBe(2);
  });

  it('status(): unknown ids are ERR_NOT_FOUND, malformed ones ERR_INVALID_ARGUMENT, expired ones ERR_RETENTION_EXPIRED', async () => {
    const w = await world();
    await w.person();
    const id = await w.gateway.send({ from: NUMBER, to: PERSON, content: 'x' });
    expect((await w.gateway.status(id)).status).toBe('accepted');
    await expect(w.gateway.status(`m${'0'.repeat(32)}`)).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
    await expect(w.gateway.status(42 as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    w.clock.advance(31 * DAY);
    await expect(w.gateway.status(id)).rejects.toMatchObject({ code: 'ERR_RETENTION_EXPIRED' });
  });
});

describe('bad arguments and corrupted records are typed errors', () => {
  it('registerBusiness(undefined), setDevices(n, null), send(null), receiveReceipt(undefined), onMessage(id, 5)', async () => {
    const w = await world();
    const calls: [string, () => Promise<unknown> | unknown][] = [
      ['registerBusiness', () => w.gateway.registerBusiness(undefined as never)],
      ['setDevices', () => w.gateway.setDevices(PERSON, null as never)],
      ['send', () => w.gateway.send(null as never)],
      ['receiveReceipt', () => w.gateway.receiveReceipt(undefined as never)],
      ['receiveFrame', () => w.gateway.receiveFrame(null as never)],
      ['receiveSpamReport', () => w.gateway.receiveSpamReport(undefined as never)],
      ['onMessage', () => w.gateway.onMessage('acme', 5 as never)],
      ['onEvent', () => w.gateway.onEvent(undefined as never, () => undefined)],
    ];
    for (const [name, call] of calls) {
      let caught: unknown;
      try {
        await call();
      } catch (error) {
        caught = error;
      }
      expect(isParleyError(caught, 'ERR_INVALID_ARGUMENT'), `${name}: ${String(caught)}`).toBe(true);
    }
  });

  it('records with malformed UTF-8 (message index, business config, number index) are ERR_INVALID_RECORD', async () => {
    const w = await world();
    await w.person();
    const id = await w.gateway.send({ from: NUMBER, to: PERSON, content: 'x' });
    await w.gateway.idle();
    const badText = Uint8Array.of(1, 0, 0, 0, 2, 0xff, 0xfe, 0, 0, 0, 0, 0, 0, 0, 0);
    await w.store.commit([
      { type: 'put', namespace: 'meta', key: `gw/id/${id}`, value: badText },
      { type: 'put', namespace: 'meta', key: 'gw/number/+15550100', value: Uint8Array.of(0xc3, 0x28) },
    ]);
    await expect(w.gateway.retransmit(id)).rejects.toMatchObject({ code: 'ERR_INVALID_RECORD' });
    await expect(w.gateway.send({ from: NUMBER, to: PERSON, content: 'y' })).rejects.toMatchObject({
      code: 'ERR_INVALID_RECORD',
    });
    const config = await w.store.get('meta', 'gw/business/acme');
    const corrupt = Uint8Array.from(config!.value);
    corrupt.set([0, 0, 0, 2, 0xff, 0xff], 5);
    await w.store.commit([{ type: 'put', namespace: 'meta', key: 'gw/business/acme', value: corrupt }]);
    const next = await w.restart();
    await expect(next.gateway.numbers('acme')).rejects.toMatchObject({ code: 'ERR_INVALID_RECORD' });
  });
});
