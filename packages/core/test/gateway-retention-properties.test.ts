/**
 * Retention against a simple model: messages both ways, erasure, restarts, sweeps and ticks at
 * random times with clock jumps from an hour to 40 days, and a backup copy of the message store
 * taken along the way. The model is a list of messages with their deadlines. After every step:
 * the store holds exactly the messages the model says are alive (not erased, before their
 * deadline), each readable; the backup's messages are readable only while their period key
 * lives (crypto-shredding); retransmitting an expired message says so, an erased one is not
 * found; and the gateway's background work reports no error — with a second business that
 * stays idle, so its statistics age out while the other's go on.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createDeterministicRandom } from '../src/crypto/random.js';
import { isParleyError } from '../src/errors.js';
import { readMessageArchive } from '../src/gateway/archive.js';
import { INDEX_GRACE_MS } from '../src/gateway/durable/message-store.js';
import { createGateway, type Gateway } from '../src/gateway/gateway.js';
import { createLocalKeyProvider } from '../src/gateway/key-provider.js';
import type { MessageId } from '../src/gateway/types.js';
import { NAMESPACES, type Store } from '../src/storage/contract.js';
import { createMemoryStore } from '../src/storage/memory.js';
import { ManualClock } from '../src/testing/manual-clock.js';
import { createSimulatedPerson } from '../src/testing/simulated-person.js';
import { TestNetwork } from '../src/testing/test-network.js';
import { testCrypto } from './support/parties.js';

const SEED = Number(process.env.PARLEY_FC_SEED ?? 1_115);
const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;
const ACME = { id: 'acme', number: '+15550100', retentionDays: 3 };
const BETA = { id: 'beta', number: '+15550200', retentionDays: 1 };
const PERSON = '+15550123';

type Command =
  | { kind: 'inbound' }
  | { kind: 'outbound' }
  | { kind: 'advance'; ms: number }
  | { kind: 'sweep' }
  | { kind: 'erase' }
  | { kind: 'backup' }
  | { kind: 'restart' }
  | { kind: 'retransmit'; pick: number };

const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ kind: 'inbound' as const }) },
  { weight: 4, arbitrary: fc.constant({ kind: 'outbound' as const }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      ms: fc.constantFrom(HOUR, 6 * HOUR, DAY, 2 * DAY, 4 * DAY, 40 * DAY, 70 * DAY),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'sweep' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'erase' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'backup' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'restart' as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('retransmit' as const), pick: fc.nat() }) },
);

interface Modelled {
  readonly id: MessageId;
  readonly direction: 'inbound' | 'outbound';
  readonly deadline: number;
  erased: boolean;
}

async function copyOf(store: Store, clock: ManualClock): Promise<Store> {
  const copy = createMemoryStore({ clock });
  for (const namespace of NAMESPACES) {
    const records = await store.list(namespace);
    if (records.length > 0)
      await copy.commit(
        records.map((r) => ({
          type: 'put' as const,
          namespace,
          key: r.key,
          value: r.value,
          expiresAt: r.expiresAt,
        })),
      );
  }
  return copy;
}

async function runScenario(commands: readonly Command[], seed: number): Promise<void> {
  const crypto = testCrypto();
  const clock = new ManualClock();
  const network = new TestNetwork();
  const store = createMemoryStore({ clock });
  const vaultStore = createMemoryStore({ clock });
  const keyProvider = createLocalKeyProvider({ kek: new Uint8Array(32).fill(3), crypto });
  const errors: unknown[] = [];
  const inbound: MessageId[] = [];
  let lives = 0;
  const start = (): Gateway => {
    const gateway = createGateway({
      store,
      vaultStore,
      keyProvider,
      transport: network,
      directory: network,
      crypto,
      clock,
      random: createDeterministicRandom(`retention/${seed}/${lives++}`),
      timer: false,
      preKeys: { batchSize: 5, kyberBatchSize: 2 },
      // Longer than any run: inactivity cleanup is not what this property models.
      inactivityMs: 10_000 * DAY,
    });
    gateway.onError((error) => errors.push(error));
    for (const id of [ACME.id, BETA.id]) gateway.onMessage(id, (message) => void inbound.push(message.id));
    network.connect(gateway);
    return gateway;
  };
  let gateway = start();
  for (const b of [ACME, BETA]) {
    await gateway.registerBusiness({ businessId: b.id, retentionDays: b.retentionDays });
    await gateway.addNumber(b.id, b.number);
  }
  const person = network.addPerson(
    await createSimulatedPerson({
      phoneNumber: PERSON,
      crypto,
      clock,
      random: createDeterministicRandom(`retention/${seed}/person`),
    }),
  );
  // beta hears from the person once, on day one, and never again.
  await person.send(BETA.number, 'hello beta');
  await network.flush();
  const model: Modelled[] = [];
  let backup: { store: Store; at: number } | undefined;

  const check = async () => {
    const now = clock.now();
    const archive = await readMessageArchive({ store, vaultStore, keyProvider, businessId: ACME.id, crypto });
    const alive = model
      .filter((m) => !m.erased && m.deadline > now)
      .map((m) => m.id)
      .sort();
    expect(archive.map((m) => m.id).sort(), 'stored messages are the ones alive in the model').toEqual(alive);
    for (const message of archive)
      expect(message.readable, `${message.id} unreadable before its deadline`).toBe(true);
    if (backup) {
      // A copy of the message store outlives nothing: once a period key is gone, so is its content.
      const copied = await readMessageArchive({
        store: backup.store,
        vaultStore,
        keyProvider,
        businessId: ACME.id,
        crypto,
      });
      for (const message of copied) {
        const periodEnd = (Math.floor(message.deadline / DAY) + 1) * DAY;
        if (periodEnd <= now)
          expect(message.readable, `${message.id} readable from a backup after its period`).toBe(false);
      }
    }
    expect(errors.map(String), 'background work reported errors').toEqual([]);
  };

  for (const c of commands) {
    switch (c.kind) {
      case 'inbound': {
        const before = inbound.length;
        await person.send(ACME.number, `in ${model.length}`);
        await network.flush();
        await gateway.idle();
        const id = inbound.at(-1);
        expect(inbound.length, 'the business got the message').toBe(before + 1);
        model.push({
          id: id!,
          direction: 'inbound',
          deadline: clock.now() + ACME.retentionDays * DAY,
          erased: false,
        });
        break;
      }
      case 'outbound': {
        const id = await gateway.send({ from: ACME.number, to: PERSON, content: `out ${model.length}` });
        model.push({
          id,
          direction: 'outbound',
          deadline: clock.now() + ACME.retentionDays * DAY,
          erased: false,
        });
        await gateway.idle();
        await network.flush();
        break;
      }
      case 'advance':
        clock.advance(c.ms);
        await gateway.tick();
        await network.flush();
        break;
      case 'sweep':
        await gateway.sweep();
        break;
      case 'erase':
        await gateway.erase(ACME.id, PERSON);
        // What had already expired stays "expired" for a late retransmit; the rest is gone.
        for (const m of model) if (m.deadline > clock.now()) m.erased = true;
        // The person's client starts over, as after the business forgot it.
        for (const device of person.devices)
          await device.sessions.deleteSession({ name: ACME.number, deviceId: 1 });
        break;
      case 'backup':
        backup = { store: await copyOf(store, clock), at: clock.now() };
        break;
      case 'restart':
        await gateway.close();
        gateway = start();
        break;
      case 'retransmit': {
        const target = model.filter((m) => m.direction === 'outbound')[c.pick % Math.max(model.length, 1)];
        if (!target) break;
        const outcome = await gateway.retransmit(target.id).then(
          () => 'ok',
          (error: unknown) => (isParleyError(error) ? error.code : `untyped: ${String(error)}`),
        );
        const now = clock.now();
        const expected = target.erased
          ? 'ERR_NOT_FOUND'
          : now < target.deadline
            ? 'ok'
            : now < target.deadline + INDEX_GRACE_MS
              ? 'ERR_RETENTION_EXPIRED'
              : 'ERR_NOT_FOUND';
        expect(
          outcome,
          `retransmit ${target.id} (deadline ${target.deadline - now} ms from now, erased ${target.erased})`,
        ).toBe(expected);
        await gateway.idle();
        await network.flush();
        break;
      }
    }
    await check();
  }
  await gateway.close();
}

describe('retention (fast-check, against a model)', () => {
  it('the store holds what is alive, backups shred with their period keys, and upkeep never fails', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 3, maxLength: 20 }), fc.nat(), (commands, seed) =>
        runScenario(commands, seed),
      ),
      { seed: SEED, numRuns: 30 },
    );
  });
});
