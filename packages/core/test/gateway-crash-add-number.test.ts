/**
 * Registering a business number survives a crash at every commit: cut before and after each
 * commit `addNumber` makes, restart (a new gateway on the same stores), call `addNumber` again
 * if the first call did not finish, run upkeep — and the number works: its keys are in the
 * directory and a person's first message opens. Before the fix the number index was written
 * first and the key schedule last, in separate commits: 9 of 13 cut points left a number that
 * `addNumber` refused ("already registered") and upkeep skipped forever.
 */
import { describe, expect, it } from 'vitest';
import { createPortableCrypto } from '../src/crypto/portable.js';
import { createDeterministicRandom } from '../src/crypto/random.js';
import { isParleyError } from '../src/errors.js';
import { createGateway, type Gateway } from '../src/gateway/gateway.js';
import { createLocalKeyProvider } from '../src/gateway/key-provider.js';
import type { Store } from '../src/storage/contract.js';
import { createMemoryStore } from '../src/storage/memory.js';
import { ManualClock } from '../src/testing/manual-clock.js';
import { createSimulatedPerson } from '../src/testing/simulated-person.js';
import { TestNetwork } from '../src/testing/test-network.js';
import { type CutMode, cuttingStore, SimulatedCrash } from './support/cutting-store.js';

const NUMBER = '+15550100';
const PERSON = '+15550123';
const crypto = createPortableCrypto();
const kek = new Uint8Array(32).fill(9);

function gatewayOn(store: Store, vaultStore: Store, network: TestNetwork, clock: ManualClock): Gateway {
  const gateway = createGateway({
    store,
    vaultStore,
    keyProvider: createLocalKeyProvider({ kek, crypto }),
    transport: network,
    directory: network,
    crypto,
    random: createDeterministicRandom(`gateway-${Math.random()}`),
    clock,
    timer: false,
    preKeys: { batchSize: 5, kyberBatchSize: 3, lowWaterMark: 2, kyberLowWaterMark: 1 },
  });
  network.connect(gateway);
  return gateway;
}

/** Runs addNumber with a cut at commit `cutAt`; false when addNumber made fewer commits. */
async function crashAndRecover(cutAt: number, mode: CutMode): Promise<boolean> {
  const clock = new ManualClock();
  const raw = createMemoryStore({ clock });
  const vault = createMemoryStore({ clock });
  const network = new TestNetwork({ random: createDeterministicRandom('network') });
  const first = gatewayOn(raw, vault, network, clock);
  await first.registerBusiness({ businessId: 'acme' });
  const cutting = cuttingStore(raw, cutAt, mode);
  const crashing = gatewayOn(cutting.store, vault, network, clock);
  await crashing.registerBusiness({ businessId: 'acme' });
  cutting.arm();
  let finished = false;
  try {
    await crashing.addNumber('acme', NUMBER);
    finished = !cutting.cut();
  } catch (error) {
    if (!(error instanceof SimulatedCrash)) throw error;
  }
  if (finished) return false;

  // Restart: a new gateway on the same stores. The operator repeats the call that did not
  // return; "already registered" means the registration had completed.
  const restarted = gatewayOn(raw, vault, network, clock);
  try {
    await restarted.addNumber('acme', NUMBER);
  } catch (error) {
    expect(isParleyError(error, 'ERR_CONFIGURATION'), String(error)).toBe(true);
  }
  await restarted.maintainPreKeys();
  expect(await restarted.numbers('acme')).toEqual([NUMBER]);

  const inbox: string[] = [];
  restarted.onMessage('acme', (message) => {
    inbox.push(new TextDecoder().decode(message.content));
  });
  const person = network.addPerson(
    await createSimulatedPerson({
      phoneNumber: PERSON,
      crypto,
      clock,
      random: createDeterministicRandom(`person-${cutAt}-${mode}`),
    }),
  );
  await person.send(NUMBER, `after a cut ${mode} commit ${cutAt}`);
  await network.flush();
  await restarted.idle();
  expect(inbox).toEqual([`after a cut ${mode} commit ${cutAt}`]);
  await restarted.close();
  return true;
}

describe('addNumber is crash-safe at every commit', () => {
  for (const mode of ['before', 'after'] as const) {
    it(`a cut ${mode} any commit leaves a number that works after a restart`, async () => {
      let points = 0;
      for (let cutAt = 1; cutAt <= 50; cutAt++) {
        if (!(await crashAndRecover(cutAt, mode))) break;
        points += 1;
      }
      // addNumber commits: the identity, the registration, the "published" mark.
      expect(points).toBeGreaterThanOrEqual(3);
    });
  }
});
