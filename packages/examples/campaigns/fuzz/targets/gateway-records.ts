import {
  createLocalKeyProvider,
  isParleyError,
  type ListedRecord,
  type MessageId,
  type Namespace,
  readMessageArchive,
} from '@parley/core';
import { createDeterministicRandom } from '@parley/core/testing';
import { businessKey } from '../../../../core/src/gateway/durable/layout.js';
import { decodeBusinessConfig } from '../../../../core/src/gateway/durable/records.js';
import { derivePseudonym } from '../../../../core/src/gateway/pseudonym.js';
import type { RecordSealer } from '../../../../core/src/session/record-sealer.js';
import type { Rng } from '../../rng.js';
import { diffSnapshots, type StoreSnapshot, snapshotStore } from '../../store-snapshot.js';
import { codeOf, untypedViolation, violation } from '../classify.js';
import { hex } from '../engine.js';
import {
  buildGatewayFixture,
  type GatewayFixture,
  type GatewayWorld,
  N1,
  N3,
  P1,
  P2,
  P3,
  P4,
  P5,
  P6,
} from '../gateway-fixture.js';
import { mutate, mutateBytes } from '../mutate.js';
import type { Execution, FuzzTarget, Violation } from '../target.js';
import { family as familyOf, RETRY_MARKER } from '../world-keeper.js';

const DAY = 24 * 60 * 60 * 1000;

/** One stored record of the fixture and how it is protected. */
interface StoredEntry {
  readonly store: 'store' | 'vault';
  readonly namespace: Namespace;
  readonly record: ListedRecord;
  readonly family: string;
  /** The business whose record key seals it (open → mutate → seal reaches the decoder behind the seal). */
  readonly sealedBy?: string;
  readonly sealer?: RecordSealer;
}

type Corruption = 'plaintext' | 'raw' | 'delete' | 'swap' | 'truncate-to-empty';

interface RecordInput {
  readonly entry: StoredEntry;
  readonly corruption: Corruption;
  readonly steps: readonly string[];
  /** New stored bytes (undefined: the record is deleted). */
  readonly value: Uint8Array | undefined;
}

/** An operation that reads records; each input runs the ones that reach its record's family. */
interface Probe {
  readonly name: string;
  readonly allowed?: RegExp;
  run(world: GatewayWorld, fixture: GatewayFixture): Promise<unknown>;
}

function probesFor(
  entry: StoredEntry,
  people: ReadonlyMap<string, string>,
  fixture: GatewayFixture,
): Probe[] {
  const key = entry.record.key;
  const biz =
    /^gw\/b\/([^/]+)\//.exec(key)?.[1] ??
    /^gw%2F([^%]+)%2F/.exec(key)?.[1] ??
    /^gw\/business\/(.+)$/.exec(key)?.[1];
  const id = /(m[0-9a-f]{32})/.exec(key)?.[1] as MessageId | undefined;
  const pseud = /([0-9a-f]{64})/.exec(key)?.[1];
  const person = (pseud && people.get(pseud)) ?? P1;
  const numberOfScope = /%2B(\d+)/.exec(key)?.[1];
  const number = numberOfScope ? `+${numberOfScope}` : (/\+\d+/.exec(key)?.[0] ?? (biz === 'beta' ? N3 : N1));
  const business = biz ?? 'acme';
  const frameTo = (to: string) =>
    fixture.frames.find((f) => f.frame.to === to && f.label.startsWith('prekey'))?.frame;
  const probes: Probe[] = [
    { name: 'numbers (loads the business)', run: (w) => w.gateway.numbers(business) },
    { name: 'send', run: (w) => w.gateway.send({ from: number, to: person, content: 'probe' }) },
  ];
  const frame = frameTo(number) ?? fixture.frames[0]!.frame;
  probes.push({
    name: 'receiveFrame',
    allowed: RETRY_MARKER,
    run: (w) => w.gateway.receiveFrame({ ...frame, frameId: `probe-${key.length}` }),
  });
  const whisper = fixture.frames.find((f) => f.label.startsWith('whisper p1'))?.frame;
  if (whisper && business === 'acme')
    probes.push({
      name: 'receiveFrame (whisper)',
      allowed: RETRY_MARKER,
      run: (w) => w.gateway.receiveFrame(whisper),
    });
  if (id) {
    probes.push(
      { name: 'retransmit', run: (w) => w.gateway.retransmit(id) },
      { name: 'receiveReceipt', run: (w) => w.gateway.receiveReceipt({ frameId: `${id}.1.1` }) },
      {
        name: 'receiveSpamReport',
        run: (w) => w.gateway.receiveSpamReport({ reporter: person, to: business, messageId: id }),
      },
    );
  }
  if (pseud) probes.push({ name: 'setDevices', run: (w) => w.gateway.setDevices(person, [1]) });
  probes.push(
    {
      name: 'readMessageArchive',
      run: (w) =>
        readMessageArchive({
          store: w.store,
          vaultStore: w.vault,
          keyProvider: w.keyProvider,
          businessId: business,
        }),
    },
    { name: 'erase', run: (w) => w.gateway.erase(business, person) },
    {
      name: 'addNumber (again)',
      run: (w) => w.gateway.addNumber(business, number),
    },
    {
      name: 'advance 1 min, runDue()',
      run: async (w) => {
        w.clock.advance(60_000);
        await w.gateway.runDue();
      },
    },
    {
      name: 'advance 8 days, tick()',
      run: async (w) => {
        w.clock.advance(8 * DAY);
        await w.gateway.tick();
      },
    },
  );
  return probes;
}

/**
 * Every kind of record the gateway and its SessionManagers keep, corrupted one at a time in
 * the store (behind the seal where there is one: opened with the business's record key,
 * mutated, sealed again, so the decoder behind it runs), then the operations that read it.
 */
export const gatewayRecordsTarget: FuzzTarget<RecordInput> = {
  name: 'gateway.storedRecords',
  depths: ['refused by the seal', 'decoder or later', 'operation went on'],
  inputs: { quick: 500, full: 12_000 },
  async setup(seed) {
    const fixture = await buildGatewayFixture(seed);
    const sealers = new Map<string, RecordSealer>();
    for (const { id } of fixture.businesses) sealers.set(id, await fixture.sealer(id));
    const entries: StoredEntry[] = [];
    for (const [which, snapshot] of [
      ['store', fixture.store],
      ['vault', fixture.vault],
    ] as const) {
      for (const [namespace, records] of snapshot) {
        for (const record of records) {
          let sealedBy: string | undefined;
          for (const [biz, sealer] of sealers) {
            try {
              sealer.open(namespace, record.key, record.value);
              sealedBy = biz;
              break;
            } catch {
              // not sealed by this business
            }
          }
          entries.push({
            store: which,
            namespace,
            record,
            family: `${which === 'vault' ? 'vault ' : ''}${namespace}:${familyOf(`x ${namespace}:${record.key}`).slice(2 + namespace.length + 1)}${sealedBy ? ' (sealed)' : ''}`,
            sealedBy,
            sealer: sealedBy ? sealers.get(sealedBy) : undefined,
          });
        }
      }
    }
    const families = [...new Set(entries.map((e) => e.family))].sort();
    // Pseudonym → phone number, per business (to aim person-related probes at the right person).
    const people = new Map<string, string>();
    for (const { id } of fixture.businesses) {
      const config = decodeBusinessConfig(
        fixture.store.get('meta')!.find((r) => r.key === businessKey(id))!.value,
      );
      const provider = createLocalKeyProvider({ kek: fixture.kek, crypto: fixture.crypto });
      const key = await provider.unwrapKey(config.wrappedPseudonymKey, `parley/pseudonym/${id}`);
      for (const phone of [P1, P2, P3, P4, P5, P6])
        people.set(derivePseudonym(fixture.crypto, key, phone), phone);
    }
    const baselines = new Map<string, string[]>();
    return {
      generate(rng: Rng): RecordInput {
        const family = rng.pick(families);
        const entry = rng.pick(entries.filter((e) => e.family === family));
        const corruption = rng.weighted<Corruption>([
          ['plaintext', entry.sealer ? 8 : 0],
          ['raw', entry.sealer ? 2 : 8],
          ['delete', 1],
          ['swap', 1],
          ['truncate-to-empty', 0.5],
        ]);
        const original = entry.record.value;
        switch (corruption) {
          case 'delete':
            return { entry, corruption, steps: ['deleted'], value: undefined };
          case 'truncate-to-empty':
            return { entry, corruption, steps: ['emptied'], value: new Uint8Array(0) };
          case 'swap': {
            const other = rng.pick(
              entries.filter((e) => e.family === family || e.namespace === entry.namespace),
            );
            return { entry, corruption, steps: [`value of ${other.record.key}`], value: other.record.value };
          }
          case 'raw': {
            const mutated =
              original.length > 0
                ? mutate(rng, original, 'record')
                : { bytes: rng.bytes(4), steps: ['filled'] };
            return { entry, corruption, steps: mutated.steps, value: mutated.bytes };
          }
          case 'plaintext': {
            const sealer = entry.sealer!;
            const plain = sealer.open(entry.namespace, entry.record.key, original);
            const mutated =
              plain.length > 0
                ? mutate(rng, plain, 'record')
                : { bytes: mutateBytes(rng, plain, 0, []).bytes, steps: ['filled'] };
            return {
              entry,
              corruption,
              steps: [...mutated.steps, `plaintext ${hex(mutated.bytes, 96)}`],
              value: sealer.seal(entry.namespace, entry.record.key, mutated.bytes),
            };
          }
        }
      },
      describe: (input) =>
        `${input.corruption} of ${input.entry.store === 'vault' ? 'vault ' : ''}${input.entry.namespace}:${input.entry.record.key} [${input.steps.join(', ')}]${
          input.value ? ` → stored ${input.value.length} bytes: ${hex(input.value, 256)}` : ''
        }`,
      async execute(input, index): Promise<Execution> {
        const { entry } = input;
        const modified = (snapshot: StoreSnapshot): StoreSnapshot => {
          const out = new Map(snapshot);
          const records = (out.get(entry.namespace) ?? []).filter((r) => r.key !== entry.record.key);
          if (input.value) records.push({ ...entry.record, value: input.value });
          out.set(entry.namespace, records);
          return out;
        };
        const probes = probesFor(entry, people, fixture);
        let expected = baselines.get(entry.record.key);
        if (!expected) {
          expected = (
            await runProbes(
              fixture,
              probes,
              { store: fixture.store, vault: fixture.vault },
              `${seed}/baseline`,
              entry.family,
            )
          ).codes;
          baselines.set(entry.record.key, expected);
        }
        const stores = {
          store: entry.store === 'store' ? modified(fixture.store) : fixture.store,
          vault: entry.store === 'vault' ? modified(fixture.vault) : fixture.vault,
        };
        const result = await runProbes(fixture, probes, stores, `${seed}/records/${index}`, entry.family);
        // What the corruption changed: probes that answered otherwise than over the intact store.
        const differing = probes
          .map((probe, i) => ({ probe: probe.name, code: result.codes[i]!, intact: expected[i] }))
          .filter((p) => p.code !== p.intact);
        const depth =
          differing.length === 0 ? 2 : differing.every((d) => d.code === 'ERR_INVALID_RECORD (seal)') ? 0 : 1;
        const outcome =
          differing.length === 0
            ? 'no probe noticed'
            : [...new Set(differing.map((d) => d.code))].sort().join(' + ');
        return { outcome, depth, violation: result.violation, backgroundCodes: result.background };
      },
    };
  },
};

/**
 * Runs the probes in order over a world restored from `stores`; for each, its code (`ok`, or
 * what it threw), and the first violation: an untyped throw (direct or in the background), or
 * a refused probe that changed stored records.
 */
async function runProbes(
  fixture: GatewayFixture,
  probes: readonly Probe[],
  stores: { store: StoreSnapshot; vault: StoreSnapshot },
  randomSeed: string,
  family: string,
): Promise<{ codes: string[]; violation?: Violation; background: string[] }> {
  const world = await fixture.open(createDeterministicRandom(randomSeed), stores, { warm: false });
  let found: Violation | undefined;
  const codes: string[] = [];
  const background: string[] = [];
  try {
    for (const probe of probes) {
      const before = await snapshots(world);
      const writes = world.store.writes + world.vault.writes;
      let refused = false;
      try {
        await probe.run(world, fixture);
        codes.push('ok');
      } catch (error) {
        refused = true;
        const sealed = isParleyError(error) && /sealed record/.test(error.message);
        codes.push(sealed ? 'ERR_INVALID_RECORD (seal)' : codeOf(error));
        if (!isParleyError(error))
          found ??= untypedViolation(error, `${probe.name} over a corrupted ${family}`);
      }
      await world.gateway.idle();
      for (const error of world.takeErrors()) {
        if (isParleyError(error)) background.push(error.code);
        else found ??= untypedViolation(error, `${probe.name} over a corrupted ${family} (background)`);
      }
      if (refused && world.store.writes + world.vault.writes !== writes) {
        const after = await snapshots(world);
        const changes = [
          ...diffSnapshots(before.store, after.store),
          ...diffSnapshots(before.vault, after.vault),
        ].filter((c) => !probe.allowed?.test(c));
        if (changes.length > 0)
          found ??= violation(
            'state-changed',
            new Error(`${probe.name} was refused but changed ${changes.slice(0, 3).join(', ')}`),
            `${probe.name} over a corrupted ${family}: ${[...new Set(changes.map(familyOf))].join(', ')}`,
          );
      }
    }
  } finally {
    await world.gateway.close().catch(() => undefined);
  }
  return { codes, violation: found, background };
}

async function snapshots(world: GatewayWorld): Promise<{ store: StoreSnapshot; vault: StoreSnapshot }> {
  return { store: await snapshotStore(world.store), vault: await snapshotStore(world.vault) };
}
