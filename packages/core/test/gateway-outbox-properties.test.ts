/**
 * The outbox state machine against a simple model, under random traffic, network faults,
 * receipts (lost, repeated), retransmissions, clock jumps and crashes (a life of the gateway
 * killed at once or at a chosen commit, then a new gateway over the same stores).
 *
 * Model: accepted → sent → delivered, with failed (sending attempts exhausted) and expired
 * (deadline passed before it was handed over) as the other ends; a retransmission starts
 * again from accepted, a late receipt turns failed into delivered. What the model checks
 * after every step: each message's statuses follow those edges; `delivered` only after a
 * receipt for that message reached the gateway; `failed` only after the last attempt was
 * tried; no frame leaves after the deadline. After a final drain on a healthy network: no
 * message is left without a final status (none lost in a crash), and the status query (where
 * the gateway has one) agrees with the events.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createDeterministicRandom } from '../src/crypto/random.js';
import { isParleyError } from '../src/errors.js';
import { createLocalKeyProvider } from '../src/gateway/key-provider.js';
import type { GatewayEvent, MessageId, OutboundFrame } from '../src/gateway/types.js';
import { createMemoryStore } from '../src/storage/memory.js';
import { ManualClock } from '../src/testing/manual-clock.js';
import { createSimulatedPerson, type SimulatedPerson } from '../src/testing/simulated-person.js';
import { TestNetwork } from '../src/testing/test-network.js';
import { type Life, startLife } from './support/crashable-gateway.js';
import { testCrypto } from './support/parties.js';

/** Fixed so CI runs are reproducible; PARLEY_FC_SEED explores others. */
const SEED = Number(process.env.PARLEY_FC_SEED ?? 1_115);
const NUMBER = '+15550100';
const MAX_ATTEMPTS = 4;
const RETENTION_DAYS = 2;
const DAY = 24 * 60 * 60 * 1000;
const MINUTE = 60_000;

type Command =
  | { kind: 'send'; person: number }
  | { kind: 'deliver' }
  | { kind: 'dropNext'; what: 'frame' | 'receipt' }
  | { kind: 'duplicateNext'; what: 'frame' | 'receipt' }
  | { kind: 'refuse'; count: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'retransmit'; pick: number }
  | { kind: 'crash' }
  | { kind: 'crashAt'; commits: number; when: 'before' | 'after' }
  /** Armed, then the network delivers: a kill among the commits of receiveFrame/receiveReceipt. */
  | { kind: 'crashInDelivery'; commits: number; when: 'before' | 'after' };

const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('send' as const), person: fc.nat(1) }) },
  { weight: 5, arbitrary: fc.constant({ kind: 'deliver' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('dropNext' as const),
      what: fc.constantFrom('frame' as const, 'receipt' as const),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('duplicateNext' as const),
      what: fc.constantFrom('frame' as const, 'receipt' as const),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('refuse' as const), count: fc.integer({ min: 1, max: 6 }) }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      // Up to three days between ticks: longer than the retention, so a message may see its
      // deadline pass with no tick in between (its expiry is still reported).
      ms: fc.constantFrom(
        5_000,
        30_000,
        2 * MINUTE,
        10 * MINUTE,
        3 * 60 * MINUTE,
        12 * 60 * MINUTE,
        DAY,
        3 * DAY + 1,
      ),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('retransmit' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'crash' as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('crashAt' as const),
      commits: fc.integer({ min: 1, max: 6 }),
      when: fc.constantFrom('before' as const, 'after' as const),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('crashInDelivery' as const),
      commits: fc.integer({ min: 1, max: 3 }),
      when: fc.constantFrom('before' as const, 'after' as const),
    }),
  },
);

const CRASHES: readonly Command['kind'][] = ['crash', 'crashAt', 'crashInDelivery'];

/** Allowed status edges (a repeated status is allowed too: events are at least once). */
const EDGES: Record<string, readonly string[]> = {
  accepted: ['sent', 'delivered', 'failed', 'expired', 'accepted'],
  sent: ['delivered', 'accepted'],
  delivered: ['delivered'],
  failed: ['delivered', 'accepted'],
  expired: [],
};

interface Sent {
  readonly id: MessageId;
  readonly createdAt: number;
  readonly deadline: number;
}

async function runScenario(commands: readonly Command[], seed: number): Promise<void> {
  const crypto = testCrypto();
  const clock = new ManualClock();
  const network = new TestNetwork({ random: createDeterministicRandom(`outbox/${seed}/network`) });
  const store = createMemoryStore({ clock });
  const vaultStore = createMemoryStore({ clock });
  const statuses = new Map<string, string[]>();
  const eventIds = new Set<string>();
  const errors: unknown[] = [];
  /** Message id → clock times at which the gateway took a receipt for one of its frames. */
  const receipts = new Map<string, number[]>();
  /** Messages with a receipt handed to the gateway (taken or not: the process may have died in it). */
  const offered = new Set<string>();
  const onEvent = (event: GatewayEvent) => {
    const eventId = (event as { eventId?: string }).eventId;
    if (eventId !== undefined) {
      if (eventIds.has(eventId)) return;
      eventIds.add(eventId);
    }
    if (event.type !== 'status') return;
    const list = statuses.get(event.messageId) ?? [];
    list.push(event.status);
    statuses.set(event.messageId, list);
  };
  const options = {
    store,
    vaultStore,
    keyProvider: createLocalKeyProvider({ kek: new Uint8Array(32).fill(7), crypto }),
    network,
    crypto,
    clock,
    random: (life: number) => createDeterministicRandom(`outbox/${seed}/life/${life}`),
    onEvent,
    onError: (error: unknown) => errors.push(error),
    businesses: ['acme'],
    onReceipt: (frameId: string, taken: boolean) => {
      const id = frameId.split('.')[0]!;
      offered.add(id);
      if (taken) receipts.set(id, [...(receipts.get(id) ?? []), clock.now()]);
    },
    extra: { sending: { maxAttempts: MAX_ATTEMPTS } },
  };
  let lives = 0;
  let life: Life = startLife(options, lives++);
  await life.gateway.registerBusiness({ businessId: 'acme', retentionDays: RETENTION_DAYS });
  await life.gateway.addNumber('acme', NUMBER);
  const people: SimulatedPerson[] = [];
  for (const [phoneNumber, devices] of [
    ['+15550123', 2],
    ['+15550124', 1],
  ] as const) {
    people.push(
      network.addPerson(
        await createSimulatedPerson({
          phoneNumber,
          devices,
          crypto,
          clock,
          random: createDeterministicRandom(`outbox/${seed}/${phoneNumber}`),
        }),
      ),
    );
  }
  // Every call to the transport, refused or not, with the clock time it happened at.
  const attempts: { frame: OutboundFrame; at: number }[] = [];
  const send = network.send.bind(network);
  network.send = async (frame) => {
    attempts.push({ frame, at: clock.now() });
    return send(frame);
  };
  const sent: Sent[] = [];
  /** Messages with a receipt the gateway took before their deadline. */
  const receipted = () => {
    const ids = new Set<string>();
    for (const message of sent)
      if ((receipts.get(message.id) ?? []).some((at) => at < message.deadline)) ids.add(message.id);
    return ids;
  };
  const restartIfDead = async () => {
    if (!life.dead) return;
    life = startLife(options, lives++);
    await life.gateway.tick();
  };

  const check = () => {
    for (const [id, list] of statuses) {
      for (let i = 1; i < list.length; i++) {
        expect(EDGES[list[i - 1]!], `${id}: ${list.join(' → ')}`).toContain(list[i]);
      }
      if (list.includes('delivered')) expect(offered.has(id), `${id} delivered without a receipt`).toBe(true);
      if (list.includes('failed')) {
        // Each attempt hands every device still pending to the transport (refused here): some
        // device of a failed message was tried at least MAX_ATTEMPTS times. Frame ids name the
        // attempt that encrypted them and a retry may resend the same frame: count the calls.
        const calls = new Map<string, number>();
        for (const a of attempts) {
          const [messageId, deviceId] = a.frame.frameId.split('.');
          if (messageId === id) calls.set(deviceId!, (calls.get(deviceId!) ?? 0) + 1);
        }
        expect(Math.max(0, ...calls.values()), `${id} failed before its last attempt`).toBeGreaterThanOrEqual(
          MAX_ATTEMPTS,
        );
      }
    }
    for (const message of sent) {
      for (const attempt of attempts) {
        if (attempt.frame.frameId.startsWith(`${message.id}.`))
          expect(attempt.at, `${message.id}: a frame left after the deadline`).toBeLessThan(message.deadline);
      }
    }
    for (const error of errors)
      expect(isParleyError(error), `untyped background error: ${String(error)}`).toBe(true);
  };

  for (const c of commands) {
    await restartIfDead();
    try {
      switch (c.kind) {
        case 'send': {
          const createdAt = clock.now();
          const id = await life.gateway.send({
            from: NUMBER,
            to: people[c.person]!.phoneNumber,
            content: `m${sent.length}`,
          });
          sent.push({ id, createdAt, deadline: createdAt + RETENTION_DAYS * DAY });
          break;
        }
        case 'deliver':
          await network.step();
          break;
        case 'dropNext':
          network.dropNext(1, c.what === 'frame' ? { direction: 'to-person' } : { kind: 'receipt' });
          break;
        case 'duplicateNext':
          network.duplicateNext(1, c.what === 'frame' ? { direction: 'to-person' } : { kind: 'receipt' });
          break;
        case 'refuse':
          network.refuseNextSends(c.count);
          break;
        case 'advance':
          clock.advance(c.ms);
          await life.gateway.tick();
          break;
        case 'retransmit': {
          const target = sent[c.pick % Math.max(sent.length, 1)];
          if (!target) break;
          try {
            await life.gateway.retransmit(target.id);
            expect(clock.now(), `${target.id}: retransmitted after its deadline`).toBeLessThan(
              target.deadline,
            );
          } catch (error) {
            expect(isParleyError(error), String(error)).toBe(true);
            if (isParleyError(error, 'ERR_RETENTION_EXPIRED'))
              expect(clock.now()).toBeGreaterThanOrEqual(target.deadline);
            else if (!isParleyError(error, 'ERR_CLOSED')) throw error;
          }
          break;
        }
        case 'crash':
          life.kill();
          break;
        case 'crashAt':
          life.arm(c.commits, c.when);
          break;
        case 'crashInDelivery':
          life.arm(c.commits, c.when);
          await network.step();
          break;
      }
      if (!life.dead) await life.gateway.idle();
    } catch (error) {
      // A call into a gateway that died under it fails like a request to a killed process.
      if (!life.dead || !isParleyError(error, 'ERR_CLOSED')) throw error;
    }
    check();
  }

  // Drain on a healthy network with a live gateway: long enough for every retry to be tried.
  life.arm(Number.POSITIVE_INFINITY, 'before');
  await restartIfDead();
  for (let round = 0; round < 12; round++) {
    clock.advance(10 * MINUTE);
    await life.gateway.tick();
    await life.gateway.idle();
    await network.flush();
  }
  check();
  const query = (life.gateway as unknown as { status?: (id: string) => Promise<{ status: string }> }).status;
  const withReceipt = receipted();
  for (const message of sent) {
    const list = statuses.get(message.id) ?? [];
    const last = list.at(-1);
    expect(last, `${message.id} has no final status (events: ${list.join(' → ') || 'none'})`).toBeDefined();
    expect(['sent', 'delivered', 'failed', 'expired'], `${message.id}: ${list.join(' → ')}`).toContain(last);
    // A receipt the gateway took (its receiveReceipt resolved) must have been reported.
    if (withReceipt.has(message.id))
      expect(last, `${message.id}: receipted, but the events say ${list.join(' → ')}`).toBe('delivered');
    if (query && clock.now() < message.deadline) {
      const status = await query.call(life.gateway, message.id);
      expect(status.status, `${message.id}: status() disagrees with the events ${list.join(' → ')}`).toBe(
        last,
      );
    }
  }
}

describe('outbox state machine (fast-check, against a model)', () => {
  // Found by the property below with clock jumps longer than a day (failed on 7ddf6fa): the
  // outbox entry was kept only a day past the deadline (a store expiry), so after a longer
  // silence (a gateway down, no tick) the message expired with no `expired` status, and its
  // status stayed `accepted` for good. The entry now goes only with the commit that reports.
  it('a message that could not be sent gets its expired status even when the next tick comes days after the deadline', async () => {
    await runScenario(
      [
        { kind: 'refuse', count: 1 },
        { kind: 'send', person: 0 },
        { kind: 'advance', ms: 3 * DAY + 1 },
      ],
      0,
    );
  });

  it('statuses follow the model through faults, receipts, retransmissions and clock jumps', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          command.filter((c) => !CRASHES.includes(c.kind)),
          { minLength: 4, maxLength: 24 },
        ),
        fc.nat(),
        (commands, seed) => runScenario(commands, seed),
      ),
      { seed: SEED, numRuns: 25 },
    );
  });

  it('a crash at any point loses no message and no final status', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 4, maxLength: 24 }), fc.nat(), (commands, seed) =>
        runScenario(commands, seed),
      ),
      { seed: SEED, numRuns: 80 },
    );
  });
});
