/**
 * Integrity, statistics and billing over all traffic, whichever instance carried it: every
 * counted event is committed with its change (the tally journal) and folded into shared state,
 * so two instances decide and count exactly as one, an instance killed right after a commit
 * still has its share counted, a spam report counts once, and a throttled business gets one
 * rate across instances.
 */
import { describe, expect, it } from 'vitest';
import { createPortableCrypto } from '../src/crypto/portable.js';
import { createDeterministicRandom } from '../src/crypto/random.js';
import { isParleyError } from '../src/errors.js';
import { createGateway, type Gateway } from '../src/gateway/gateway.js';
import { createLocalKeyProvider } from '../src/gateway/key-provider.js';
import { dayOf } from '../src/stats/day.js';
import type { Store } from '../src/storage/contract.js';
import { createMemoryStore } from '../src/storage/memory.js';
import { ManualClock } from '../src/testing/manual-clock.js';
import { createSimulatedPerson, type SimulatedPerson } from '../src/testing/simulated-person.js';
import { TestNetwork } from '../src/testing/test-network.js';
import { cuttingStore, SimulatedCrash } from './support/cutting-store.js';
import { snapshot } from './support/parties.js';

const NUMBER = '+15550100';
const crypto = createPortableCrypto();
const kek = new Uint8Array(32).fill(6);
const person = (i: number) => `+1555020${String(i).padStart(4, '0')}`;
const THRESHOLDS = { newRecipients: { warn: undefined, throttle: 3, block: 6 } };

async function world(instances: number, people = 8, thresholds: object = THRESHOLDS) {
  const clock = new ManualClock();
  const store = createMemoryStore({ clock });
  const vaultStore = createMemoryStore({ clock });
  const network = new TestNetwork({ random: createDeterministicRandom('net') });
  const make = (name: string, over: Store = store): Gateway =>
    createGateway({
      store: over,
      vaultStore,
      keyProvider: createLocalKeyProvider({ kek, crypto }),
      transport: network,
      directory: network,
      crypto,
      random: createDeterministicRandom(`gw-${name}`),
      clock,
      timer: false,
      integrity: { thresholds },
      preKeys: { batchSize: 20, kyberBatchSize: 2, lowWaterMark: 1, kyberLowWaterMark: 1 },
    });
  const gateways = Array.from({ length: instances }, (_, i) => make(String(i)));
  await gateways[0]!.registerBusiness({ businessId: 'acme' });
  await gateways[0]!.addNumber('acme', NUMBER);
  network.connect(gateways[0]!);
  const persons: SimulatedPerson[] = [];
  for (let i = 0; i < people; i++) {
    persons.push(
      network.addPerson(
        await createSimulatedPerson({
          phoneNumber: person(i),
          crypto,
          clock,
          random: createDeterministicRandom(`p${i}`),
        }),
      ),
    );
  }
  return { clock, store, vaultStore, network, gateways, persons, make };
}

/** Sends to every person in turn, through the instances round-robin; what each send did. */
async function blast(w: Awaited<ReturnType<typeof world>>): Promise<string[]> {
  const outcomes: string[] = [];
  for (let i = 0; i < w.persons.length; i++) {
    const gateway = w.gateways[i % w.gateways.length]!;
    try {
      const id = await gateway.send({ from: NUMBER, to: person(i), content: `offer ${i}` });
      await gateway.idle();
      outcomes.push((await gateway.status(id)).status);
    } catch (error) {
      outcomes.push(isParleyError(error) ? error.code : String(error));
    }
  }
  return outcomes;
}

describe('counts over all instances', () => {
  it('a business that messages everyone through two instances is throttled and blocked exactly as through one', async () => {
    const one = await world(1);
    const two = await world(2);
    const alone = await blast(one);
    const shared = await blast(two);
    expect(shared).toEqual(alone);
    expect(alone).toContain('ERR_INTEGRITY_BLOCKED');
    expect(alone.filter((outcome) => outcome === 'sent').length).toBeGreaterThan(0);
    for (const w of [one, two]) for (const gateway of w.gateways) await gateway.tick();
    const signal = (w: typeof one) => w.gateways[0]!.integritySignals().signal('acme');
    expect(signal(two).level).toBe(signal(one).level);
    expect(signal(two).snapshot.sent).toBe(signal(one).snapshot.sent);
    expect(signal(two).snapshot.newRecipients).toBe(signal(one).snapshot.newRecipients);
    // Every instance reads the same figures once it folded and refreshed.
    expect(two.gateways[1]!.integritySignals().signal('acme').snapshot).toEqual(signal(two).snapshot);
  });

  it('the share of an instance killed right after its commit is counted (statistics and billing)', async () => {
    const w = await world(1, 3);
    await w.gateways[0]!.send({ from: NUMBER, to: person(1), content: 'hello' });
    await w.gateways[0]!.idle();
    // The other instance dies right after the commit that stored its message (and its count).
    const journals = (mutation: Parameters<Store['commit']>[0]) =>
      mutation.some((op) => op.type === 'put' && op.key.startsWith('gw/j/'));
    const cut = cuttingStore(w.store, journals, 'after');
    const dying = w.make('dying', cut.store);
    cut.arm();
    await expect(dying.send({ from: NUMBER, to: person(0), content: 'last words' })).rejects.toBeInstanceOf(
      SimulatedCrash,
    );
    await w.gateways[0]!.tick();
    const day = dayOf(w.clock.now());
    const row = w.gateways[0]!.statisticsExport().statistics.snapshot(day).businesses[0];
    expect(row?.messagesOut).toBe(2);
    // Folded: the journal is empty, the state holds both.
    expect(await w.store.list('counters', { prefix: 'gw/j/' })).toEqual([]);
  });

  it('a spam report relayed to two instances counts once', async () => {
    const w = await world(2, 1);
    const id = await w.gateways[0]!.send({ from: NUMBER, to: person(0), content: 'buy now' });
    await w.network.flush();
    await w.gateways[0]!.idle();
    const report = { reporter: person(0), to: NUMBER, messageId: id };
    const outcomes = await Promise.all(w.gateways.map((gateway) => gateway.receiveSpamReport(report)));
    expect(outcomes.sort()).toEqual(['counted', 'duplicate']);
    for (const gateway of w.gateways) await gateway.tick();
    expect(w.gateways[1]!.integritySignals().signal('acme').snapshot.spamReports).toBe(1);
  });

  it('a throttled business gets one rate across instances: the slots are shared', async () => {
    const w = await world(2, 6, { newRecipients: { warn: undefined, throttle: 3, block: 100 } });
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const gateway = w.gateways[i % 2]!;
      ids.push(await gateway.send({ from: NUMBER, to: person(i), content: `m${i}` }));
      await gateway.idle();
    }
    const statuses = async () => Promise.all(ids.map(async (id) => (await w.gateways[0]!.status(id)).status));
    // From the 4th send the business is throttled: 20 a minute, one slot every 3 s, whichever
    // instance took the send — the 4th goes now, the 5th and 6th wait for theirs.
    expect(await statuses()).toEqual(['sent', 'sent', 'sent', 'sent', 'accepted', 'accepted']);
    w.clock.advance(3_000);
    for (const gateway of w.gateways) {
      await gateway.runDue();
      await gateway.idle();
    }
    expect(await statuses()).toEqual(['sent', 'sent', 'sent', 'sent', 'sent', 'accepted']);
  });

  it('an event whose commit landed but has not answered yet is counted once by a refresh meanwhile', async () => {
    const w = await world(1, 3);
    // The store commits the first send (and its count) at once but answers late: a database
    // whose reply is still on the wire while another request of this instance reads the journal.
    let hold = true;
    let landed!: () => void;
    let answer!: () => void;
    const hasLanded = new Promise<void>((resolve) => {
      landed = resolve;
    });
    const slow: Store = Object.create(w.store, {
      commit: {
        value: async (...args: Parameters<Store['commit']>) => {
          const result = await w.store.commit(...args);
          if (hold && args[0].some((op) => op.type === 'put' && op.key.startsWith('gw/j/'))) {
            hold = false;
            landed();
            await new Promise<void>((resolve) => {
              answer = resolve;
            });
          }
          return result;
        },
      },
    });
    const gateway = w.make('slow', slow);
    const first = gateway.send({ from: NUMBER, to: person(0), content: 'first' });
    await hasLanded;
    // This send refreshes the view from the store (its integrity check) and finds the first
    // send's event in the journal, already applied to the view ahead of its commit.
    await gateway.send({ from: NUMBER, to: person(1), content: 'second' });
    answer();
    await first;
    await gateway.idle();
    await gateway.tick();
    const day = dayOf(w.clock.now());
    expect(gateway.statisticsExport().statistics.snapshot(day).businesses[0]?.messagesOut).toBe(2);
    expect(gateway.integritySignals().signal('acme').snapshot.sent).toBe(2);
    // The other instance reads the store's truth: the same.
    await w.gateways[0]!.tick();
    expect(w.gateways[0]!.statisticsExport().statistics.snapshot(day).businesses[0]?.messagesOut).toBe(2);
  });

  it('receipts of two devices taken by two instances at once both count (the loser reads again)', async () => {
    const w = await world(2, 0);
    const twoDevices = w.network.addPerson(
      await createSimulatedPerson({
        phoneNumber: person(9),
        devices: [1, 2],
        crypto,
        clock: w.clock,
        random: createDeterministicRandom('p9'),
        autoReceipts: false,
      }),
    );
    const id = await w.gateways[0]!.send({ from: NUMBER, to: twoDevices.phoneNumber, content: 'to both' });
    await w.gateways[0]!.idle();
    const sent = await w.gateways[0]!.status(id);
    expect(sent.devices.map((device) => device.state)).toEqual(['sent', 'sent']);
    await Promise.all([
      w.gateways[0]!.receiveReceipt({ frameId: `${id}.1.1` }),
      w.gateways[1]!.receiveReceipt({ frameId: `${id}.2.1` }),
    ]);
    const after = await w.gateways[1]!.status(id);
    expect(after.status).toBe('delivered');
    expect(after.devices.map((device) => device.state)).toEqual(['delivered', 'delivered']);
  });

  /** A store whose first listing of the tally journal answers only when the test says so. */
  function heldJournalListing(inner: Store) {
    let held = false;
    let listed!: () => void;
    let answer!: () => void;
    let lists = 0;
    const hasListed = new Promise<void>((resolve) => {
      listed = resolve;
    });
    const store: Store = Object.create(inner, {
      list: {
        value: async (...args: Parameters<Store['list']>) => {
          const journal = args[0] === 'counters' && args[1]?.prefix?.startsWith('gw/j/');
          if (journal) lists += 1;
          const result = await inner.list(...args);
          if (!held && journal) {
            held = true;
            listed();
            await new Promise<void>((resolve) => {
              answer = resolve;
            });
          }
          return result;
        },
      },
    });
    return { store, hasListed, answer: () => answer(), lists: () => lists };
  }

  it('a refresh that listed the journal before another event committed does not make that event count twice', async () => {
    const w = await world(1, 4);
    const sender = w.persons[3]!;
    await sender.startSession(NUMBER, w.network.businessBundle(NUMBER));
    const frame = await sender.encrypt(NUMBER, 'in between');
    // The first send's refresh lists the journal, and its answer arrives late: meanwhile an
    // inbound message (no refresh of its own) commits its count and settles it.
    const slow = heldJournalListing(w.store);
    const gateway = w.make('slow', slow.store);
    const first = gateway.send({ from: NUMBER, to: person(0), content: 'first' });
    await slow.hasListed;
    await gateway.receiveFrame(frame);
    slow.answer();
    await first;
    // A third send refreshes from the store before the fold.
    await gateway.send({ from: NUMBER, to: person(2), content: 'third' });
    await gateway.idle();
    await gateway.tick();
    const day = dayOf(w.clock.now());
    const counted = gateway.statisticsExport().statistics.snapshot(day).businesses[0];
    expect(counted?.messagesOut).toBe(2);
    expect(counted?.messagesIn).toBe(1);
    expect(gateway.integritySignals().signal('acme').snapshot.sent).toBe(2);
  });

  it('sends that arrive during a refresh share the next one, which sees what another instance committed meanwhile', async () => {
    const w = await world(2, 8);
    const slow = heldJournalListing(w.store);
    const a = w.make('slow', slow.store);
    const b = w.gateways[1]!;
    const first = a.send({ from: NUMBER, to: person(0), content: 'first' });
    await slow.hasListed;
    // Committed by another instance after the held refresh listed the journal.
    await b.send({ from: NUMBER, to: person(1), content: 'from b' });
    // Arrive while the refresh is held: they wait for the next one instead of starting their own.
    const more = [2, 3, 4, 5].map((i) => a.send({ from: NUMBER, to: person(i), content: `more ${i}` }));
    const listsWhileHeld = slow.lists();
    slow.answer();
    await Promise.all([first, ...more]);
    expect(listsWhileHeld).toBe(1);
    expect(slow.lists()).toBe(2);
    // Before any tick: the shared refresh began after the four asked, so it saw b's send.
    expect(a.integritySignals().signal('acme').snapshot.sent).toBe(6);
  });

  it('two instances sending at once to a person without a session start one session, counted once', async () => {
    const w = await world(2, 1);
    const [a, b] = w.gateways as [Gateway, Gateway];
    await Promise.all([
      a.send({ from: NUMBER, to: person(0), content: 'one' }),
      b.send({ from: NUMBER, to: person(0), content: 'two' }),
    ]);
    await Promise.all([a.idle(), b.idle()]);
    await w.network.flush();
    expect(w.persons[0]!.received.map((message) => message.text).sort()).toEqual(['one', 'two']);
    await a.tick();
    const day = dayOf(w.clock.now());
    expect(a.statisticsExport().statistics.snapshot(day).businesses[0]?.sessionsEstablished).toBe(1);
  });

  it('an unreadable counter key refuses an inbound frame before anything is stored (found by pnpm fuzz)', async () => {
    const w = await world(1, 2);
    // The keys exist once the gateway has counted something.
    await w.gateways[0]!.send({ from: NUMBER, to: person(1), content: 'hello' });
    await w.gateways[0]!.idle();
    const sender = w.persons[0]!;
    await sender.startSession(NUMBER, w.network.businessBundle(NUMBER));
    const frame = await sender.encrypt(NUMBER, 'a first message');
    for (const name of ['gw/integrity/key', 'gw/statistics/key']) {
      const stored = await w.store.get('meta', name);
      expect(stored, name).toBeDefined();
      const flipped = stored!.value.slice();
      flipped[flipped.length - 1]! ^= 1;
      await w.store.commit([{ type: 'put', namespace: 'meta', key: name, value: flipped }]);
      // A fresh instance: it has not loaded the key yet.
      const fresh = w.make(`fresh-${name}`);
      const before = await snapshot(w.store);
      await expect(fresh.receiveFrame(frame)).rejects.toSatisfy((error: unknown) => isParleyError(error));
      expect(await snapshot(w.store)).toEqual(before);
      await fresh.close();
      await w.store.commit([{ type: 'put', namespace: 'meta', key: name, value: stored!.value }]);
    }
  });

  it('setDevices over an unreadable device list of one business changes no other business (found by pnpm fuzz)', async () => {
    const w = await world(1, 1);
    const gateway = w.gateways[0]!;
    await gateway.registerBusiness({ businessId: 'beta' });
    await gateway.addNumber('beta', '+15550199');
    const someone = w.persons[0]!;
    // The person writes to both businesses from two devices' worth of lists.
    await someone.send(NUMBER, 'to acme');
    await someone.send('+15550199', 'to beta');
    await w.network.flush();
    await gateway.idle();
    const lists = (await w.store.list('meta')).filter((entry) => /^gw\/b\/[^/]+\/d\//.test(entry.key));
    expect(lists.map((entry) => entry.key.split('/')[2]).sort()).toEqual(['acme', 'beta']);
    const beta = lists.find((entry) => entry.key.startsWith('gw/b/beta/'))!;
    await w.store.commit([{ type: 'put', namespace: 'meta', key: beta.key, value: new Uint8Array(0) }]);
    const before = await snapshot(w.store);
    await expect(gateway.setDevices(someone.phoneNumber, [2])).rejects.toSatisfy((error: unknown) =>
      isParleyError(error),
    );
    expect(await snapshot(w.store)).toEqual(before);
  });
});
