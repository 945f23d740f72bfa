import { isParleyError, type ListedRecord, type Namespace, type SessionManager } from '@parley/core';
import { createDeterministicRandom } from '@parley/core/testing';
import type { Rng } from '../../rng.js';
import { diffSnapshots, type StoreSnapshot, snapshotStore, trackWrites } from '../../store-snapshot.js';
import { codeOf, untypedViolation, violation } from '../classify.js';
import { hex } from '../engine.js';
import { mutate } from '../mutate.js';
import { buildSessionFixture, type SessionFixture } from '../session-fixture.js';
import type { Execution, FuzzTarget, Violation } from '../target.js';
import { family as familyOf } from '../world-keeper.js';

interface Entry {
  readonly namespace: Namespace;
  readonly record: ListedRecord;
  readonly family: string;
}

interface RecordInput {
  readonly entry: Entry;
  readonly steps: readonly string[];
  readonly value: Uint8Array | undefined;
}

/** SessionManager operations that read the receiver's records. */
function probes(fixture: SessionFixture): { name: string; run(s: SessionManager): Promise<unknown> }[] {
  const text = new TextEncoder().encode('probe');
  return [
    { name: 'localIdentity', run: (s) => s.localIdentity() },
    { name: 'hasSession(carol)', run: (s) => s.hasSession({ name: 'carol', deviceId: 1 }) },
    {
      name: 'createBundle',
      run: (s) => s.createBundle({ deviceId: 1, signedPreKeyId: 1, preKeyId: 4, kyberPreKeyId: 1 }),
    },
    ...fixture.seeds.map((seed) => ({
      name: `decrypt(${seed.label})`,
      run: (s: SessionManager) => s.decrypt(seed.sender, { type: seed.type, body: seed.body }),
    })),
    { name: 'encrypt(carol)', run: (s) => s.encrypt({ name: 'carol', deviceId: 1 }, text) },
    { name: 'encrypt(dave)', run: (s) => s.encrypt({ name: 'dave', deviceId: 1 }, text) },
    {
      name: 'processBundle(self)',
      run: (s) => s.processBundle({ name: 'self', deviceId: 1 }, fixture.bundles[1]!),
    },
  ];
}

/**
 * Every record a SessionManager keeps (own identity, remote identities, sessions with current
 * and archived states, one-time, signed and Kyber prekeys, Kyber base-key markers), corrupted
 * one at a time, then every operation that reads it — each on a fresh manager, so nothing
 * comes from its cache.
 */
export const sessionRecordsTarget: FuzzTarget<RecordInput> = {
  name: 'session.storedRecords',
  depths: ['no operation reached it', 'refused by a decoder or check', 'operations went on'],
  inputs: { quick: 400, full: 10_000 },
  async setup(seed) {
    const fixture = await buildSessionFixture(seed);
    const entries: Entry[] = [];
    for (const [namespace, records] of fixture.receiver) {
      for (const record of records)
        entries.push({
          namespace,
          record,
          family: `${namespace}:${familyOf(`x ${namespace}:${record.key}`).slice(namespace.length + 3)}`,
        });
    }
    const families = [...new Set(entries.map((e) => e.family))].sort();
    const list = probes(fixture);
    const run = async (snapshot: StoreSnapshot, randomSeed: string) => {
      const opened = await fixture.open(
        snapshot,
        fixture.receiverScope,
        createDeterministicRandom(randomSeed),
      );
      const store = trackWrites(opened.store);
      const { SessionManager: Manager } = await import('@parley/core');
      const codes: string[] = [];
      let found: Violation | undefined;
      for (const probe of list) {
        // A fresh manager per probe: each reads the corrupted record from the store.
        const sessions = new Manager({
          store,
          crypto: fixture.crypto,
          clock: { now: () => fixture.time },
          random: createDeterministicRandom(`${randomSeed}/${probe.name}`),
          scope: fixture.receiverScope,
        });
        const before = await snapshotStore(store);
        const writes = store.writes;
        try {
          await probe.run(sessions);
          codes.push('ok');
        } catch (error) {
          codes.push(codeOf(error));
          if (!isParleyError(error))
            found ??= untypedViolation(error, `${probe.name} over a corrupted record`);
          if (store.writes !== writes) {
            const changes = diffSnapshots(before, await snapshotStore(store));
            if (changes.length > 0)
              found ??= violation(
                'state-changed',
                new Error(`${probe.name} refused but changed ${changes[0]}`),
                probe.name,
              );
          }
        }
      }
      return { codes, violation: found };
    };
    const baseline = (await run(fixture.receiver, `${seed}/session-records/baseline`)).codes;
    return {
      generate(rng: Rng): RecordInput {
        const family = rng.pick(families);
        const entry = rng.pick(entries.filter((e) => e.family === family));
        if (rng.chance(0.08)) return { entry, steps: ['deleted'], value: undefined };
        if (entry.record.value.length === 0)
          return { entry, steps: ['filled'], value: rng.bytes(rng.between(1, 40)) };
        const mutated = mutate(rng, entry.record.value, 'record');
        return { entry, steps: mutated.steps, value: mutated.bytes };
      },
      describe: (input) =>
        `${input.entry.namespace}:${input.entry.record.key} [${input.steps.join(', ')}]${
          input.value ? ` → ${input.value.length} bytes: ${hex(input.value, 512)}` : ''
        }`,
      async execute(input, index): Promise<Execution> {
        const out = new Map(fixture.receiver);
        const records = (out.get(input.entry.namespace) ?? []).filter(
          (r) => r.key !== input.entry.record.key,
        );
        if (input.value) records.push({ ...input.entry.record, value: input.value });
        out.set(input.entry.namespace, records);
        const result = await run(out, `${seed}/session-records/${index}`);
        const differing = result.codes
          .map((code, i) => ({ probe: list[i]!.name, code, intact: baseline[i] }))
          .filter((d) => d.code !== d.intact);
        const depth = differing.length === 0 ? 2 : 1;
        const outcome =
          differing.length === 0
            ? 'no probe noticed'
            : [...new Set(differing.map((d) => d.code))].sort().join(' + ');
        return { outcome: `${input.entry.family}: ${outcome}`, depth, violation: result.violation };
      },
    };
  },
};
