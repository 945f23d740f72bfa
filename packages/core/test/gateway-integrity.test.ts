/**
 * Integrity, statistics and logging wired into the gateway (memory stores, fake clock).
 * The SQLite canary proof and the issue's scenarios at default thresholds live in
 * packages/examples/test/canary.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { RandomSource } from '../src/crypto/provider.js';
import { createDeterministicRandom } from '../src/crypto/random.js';
import { isParleyError } from '../src/errors.js';
import type { GatewayLogger } from '../src/gateway/logger.js';
import type { GatewayEvent, MessageId } from '../src/gateway/types.js';
import type { IntegrityConfigInput } from '../src/integrity/thresholds.js';
import { dayOf } from '../src/stats/day.js';
import { createTestWorld } from '../src/testing/test-world.js';
import {
  createTestGateway,
  memoryStores,
  recordingLogger,
  setUpBusiness,
  type TestGateway,
} from './support/gateway-network.js';
import { DAY_MS } from './support/parties.js';

const SHOP = '+15550000001';
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

const person = (i: number) => `+49151${String(1000000 + i)}`;

async function codeOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => 'resolved',
    (error: unknown) => (isParleyError(error) ? error.code : error),
  );
}

function statuses(events: readonly GatewayEvent[], id: MessageId): string[] {
  return events.flatMap((event) =>
    event.type === 'status' && event.messageId === id
      ? [`${event.status}${event.reason ? `:${event.reason}` : ''}`]
      : [],
  );
}

async function world(
  options: {
    integrity?: IntegrityConfigInput | false;
    statistics?: false;
    people?: number;
    random?: RandomSource;
  } = {},
): Promise<TestGateway & { logger: ReturnType<typeof recordingLogger> }> {
  const logger = recordingLogger();
  const tg = await createTestGateway(memoryStores, {
    logger,
    random: options.random,
    integrity: options.integrity,
    statistics: options.statistics,
  });
  await setUpBusiness(tg, 'shop', [SHOP]);
  tg.gateway.onMessage('shop', () => undefined);
  for (let i = 0; i < (options.people ?? 0); i++) await tg.network.addPerson(person(i));
  return Object.assign(tg, { logger });
}

/** Hands every frame on the network to its device and returns the receipts to the gateway. */
async function deliverWithReceipts(tg: TestGateway): Promise<void> {
  await tg.gateway.idle();
  for (const { frame } of await tg.network.deliverAll())
    await tg.gateway.receiveReceipt({ frameId: frame.frameId });
}

describe('gateway integrity: throttle and block', () => {
  beforeAll(() => {
    // The JS peers log whole session objects to the console.
    for (const level of ['log', 'info', 'warn', 'error', 'debug'] as const)
      vi.spyOn(console, level).mockImplementation(() => {});
  });
  afterAll(() => vi.restoreAllMocks());

  it('throttle spaces new messages on the injected clock; the due-time index releases them', async () => {
    const tg = await world({
      integrity: { thresholds: { newRecipients: { warn: 2, throttle: 3, block: undefined } } },
      people: 6,
    });
    const ids: MessageId[] = [];
    for (let i = 0; i < 6; i++)
      ids.push(await tg.gateway.send({ from: SHOP, to: person(i), content: `hi ${i}` }));
    await tg.gateway.idle();
    // Sends 1–3 were checked at ok/ok/warn, the 4th at throttle (first slot: now), the 5th
    // and 6th wait 3 s each (20 a minute).
    const sentTo = () => new Set(tg.network.sent.map((frame) => frame.to)).size;
    expect(sentTo()).toBe(4);
    expect(statuses(tg.events, ids[4]!)).toEqual(['accepted']);
    tg.clock.advance(2_999);
    await tg.gateway.tick();
    await tg.gateway.idle();
    expect(sentTo()).toBe(4);
    tg.clock.advance(1);
    await tg.gateway.tick();
    await tg.gateway.idle();
    expect(sentTo()).toBe(5);
    expect(statuses(tg.events, ids[4]!)).toEqual(['accepted', 'sent']);
    tg.clock.advance(3_000);
    await tg.gateway.tick();
    await tg.gateway.idle();
    expect(sentTo()).toBe(6);

    const signal = tg.gateway.integritySignals().signal('shop');
    expect(signal.level).toBe('throttle');
    expect(signal.throttleRatePerMinute).toBe(20);
    expect(signal.reasons[0]).toMatchObject({ rule: 'new-recipients', level: 'throttle' });
    const changes = tg.logger.lines.filter((line) => line.message === 'integrity level changed');
    expect(changes.map((line) => line.fields?.level)).toEqual(['warn', 'throttle']);
    expect(tg.logger.lines.some((line) => line.message === 'send throttled by integrity rules')).toBe(true);
  });

  it('block refuses send() with ERR_INTEGRITY_BLOCKED, fails throttled messages still queued, and lifts after the window', async () => {
    const tg = await world({
      integrity: { thresholds: { newRecipients: { warn: undefined, throttle: 2, block: 4 } } },
      people: 6,
    });
    const ids: MessageId[] = [];
    for (let i = 0; i < 4; i++)
      ids.push(await tg.gateway.send({ from: SHOP, to: person(i), content: `hi ${i}` }));
    await tg.gateway.idle();
    const accepted = tg.events.length;
    const error = await tg.gateway
      .send({ from: SHOP, to: person(4), content: 'one too many' })
      .catch((e) => e);
    expect(isParleyError(error, 'ERR_INTEGRITY_BLOCKED')).toBe(true);
    expect(error.details).toEqual({ businessId: 'shop', rule: 'new-recipients' });
    // Refused before anything was stored: no event, no frame for that person.
    expect(tg.events.length).toBe(accepted);
    await tg.gateway.idle();
    expect(tg.network.sent.some((frame) => frame.to === person(4))).toBe(false);

    // The 4th message was throttled (due in 3 s); by then the business is blocked.
    expect(statuses(tg.events, ids[3]!)).toEqual(['accepted']);
    tg.clock.advance(3_000);
    await tg.gateway.tick();
    await tg.gateway.idle();
    expect(statuses(tg.events, ids[3]!)).toEqual(['accepted', 'failed:ERR_INTEGRITY_BLOCKED']);
    expect(tg.network.sent.some((frame) => frame.to === person(3))).toBe(false);
    expect(await codeOf(tg.gateway.retransmit(ids[0]!))).toBe('ERR_INTEGRITY_BLOCKED');
    expect(tg.gateway.integritySignals().signal('shop').level).toBe('block');

    // The activity window is one hour (five-minute buckets).
    tg.clock.advance(HOUR + 5 * MINUTE);
    expect(tg.gateway.integritySignals().signal('shop').level).toBe('ok');
    const again = await tg.gateway.send({ from: SHOP, to: person(5), content: 'back' });
    await tg.gateway.idle();
    expect(statuses(tg.events, again)).toEqual(['accepted', 'sent']);
    const levels = tg.logger.lines
      .filter((line) => line.message === 'integrity level changed')
      .map((line) => line.fields?.level);
    expect(levels).toEqual(['throttle', 'block', 'ok']);
    // The failed queued message counts as failed in the statistics (not as a delivery failure).
    const today = tg.gateway.statisticsExport().statistics.snapshot(dayOf(tg.clock.now()));
    expect(today.businesses[0]).toMatchObject({ messagesOut: 5, failed: 1 });
    expect(tg.gateway.integritySignals().signal('shop').snapshot.failed).toBe(0);
  });

  it('concurrent sends cannot all pass the check before any is counted', async () => {
    const tg = await world({
      integrity: { thresholds: { newRecipients: { warn: undefined, throttle: undefined, block: 3 } } },
      people: 6,
    });
    const outcomes = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        codeOf(tg.gateway.send({ from: SHOP, to: person(i), content: `blast ${i}` })),
      ),
    );
    expect(outcomes.filter((outcome) => outcome === 'resolved')).toHaveLength(3);
    expect(outcomes.filter((outcome) => outcome === 'ERR_INTEGRITY_BLOCKED')).toHaveLength(3);
  });

  it('integrity: false leaves sends alone and has no signals; bad thresholds are a configuration error', async () => {
    const tg = await world({ integrity: false, people: 6 });
    for (let i = 0; i < 6; i++) await tg.gateway.send({ from: SHOP, to: person(i), content: 'x' });
    expect(() => tg.gateway.integritySignals()).toThrow(/integrity monitoring is off/);
    await expect(
      tg.gateway.receiveSpamReport({ reporter: person(0), to: SHOP, messageId: `m${'0'.repeat(32)}` }),
    ).rejects.toMatchObject({ code: 'ERR_CONFIGURATION' });
    await expect(
      createTestGateway(memoryStores, { integrity: { thresholds: { spamRate: { warn: 2 } } } }),
    ).rejects.toMatchObject({ code: 'ERR_CONFIGURATION' });
    const off = await world({ statistics: false });
    expect(() => off.gateway.statisticsExport()).toThrow(/statistics are off/);
  });
});

describe('gateway spam reports', () => {
  beforeAll(() => {
    for (const level of ['log', 'info', 'warn', 'error', 'debug'] as const)
      vi.spyOn(console, level).mockImplementation(() => {});
  });
  afterAll(() => vi.restoreAllMocks());

  it('count only for a message delivered to the reporter, once; a burst flips the signal, the window restores it', async () => {
    const tg = await world({ people: 8 });
    const ids: MessageId[] = [];
    for (let i = 0; i < 6; i++)
      ids.push(await tg.gateway.send({ from: SHOP, to: person(i), content: `offer ${i}` }));
    await deliverWithReceipts(tg);
    // Sent, not delivered: no receipt.
    const undelivered = await tg.gateway.send({ from: SHOP, to: person(6), content: 'offer 6' });
    await tg.gateway.idle();
    tg.network.loseAll();

    const report = (reporter: string, messageId: string, to = SHOP) =>
      tg.gateway.receiveSpamReport({ reporter, to, messageId });
    expect(await report(person(1), ids[0]!)).toBe('not-delivered');
    expect(await report(person(7), ids[0]!)).toBe('not-delivered');
    expect(await report(person(6), undelivered)).toBe('not-delivered');
    expect(await report(person(0), `m${'0'.repeat(32)}`)).toBe('not-delivered');
    expect(await report(person(0), ids[0]!)).toBe('counted');
    expect(await report(person(0), ids[0]!)).toBe('duplicate');
    // By business id, and by an outbound frame id of the message (what the network saw).
    expect(await report(person(1), ids[1]!, 'shop')).toBe('counted');
    const frame = tg.network.sent.find((candidate) => candidate.to === person(2))!;
    expect(await report(person(2), frame.frameId)).toBe('counted');
    expect(await codeOf(report(person(3), 'not-a-message-id'))).toBe('ERR_INVALID_ARGUMENT');
    expect(await codeOf(report('alice', ids[3]!))).toBe('ERR_INVALID_ARGUMENT');
    expect(await codeOf(report(person(3), ids[3]!, '+15559999999'))).toBe('ERR_NOT_FOUND');

    const signals = tg.gateway.integritySignals();
    expect(signals.signal('shop').snapshot.spamReports).toBe(3);
    expect(signals.signal('shop').level).toBe('ok'); // fewer than 5 reports never fire
    expect(await report(person(3), ids[3]!)).toBe('counted');
    expect(await report(person(4), ids[4]!)).toBe('counted');
    const flipped = signals.signal('shop');
    expect(flipped.level).toBe('block');
    expect(flipped.reasons[0]?.rule).toBe('spam-reports');
    expect(flipped.reasons[0]?.message).toMatch(
      /spam reports above 2 % of deliveries within 24 h \(5 reports\)/,
    );
    expect(await codeOf(tg.gateway.send({ from: SHOP, to: person(7), content: 'more' }))).toBe(
      'ERR_INTEGRITY_BLOCKED',
    );
    expect(
      tg.logger.lines.filter((line) => line.message === 'spam report').map((l) => l.fields?.outcome),
    ).toContain('duplicate');

    // The quality window is 24 h (hourly buckets).
    tg.clock.advance(DAY_MS + HOUR);
    expect(signals.signal('shop').level).toBe('ok');
    expect(await codeOf(tg.gateway.send({ from: SHOP, to: person(7), content: 'sorry' }))).toBe('resolved');
  });

  it('the testing kit relays a person’s report of a message they received (by its frame)', async () => {
    const world = await createTestWorld({ seed: 'spam-report' });
    await world.business.send(world.person.phoneNumber, 'unwanted');
    await world.network.flush();
    const [message] = world.person.received;
    expect(await world.network.reportSpam(world.person.phoneNumber, message!)).toBe('counted');
    expect(await world.network.reportSpam(world.person.phoneNumber, message!)).toBe('duplicate');
    expect(world.gateway.integritySignals().signal(world.business.id).snapshot.spamReports).toBe(1);
    await world.close();
  });

  it('integrity counters survive a restart: sketches, report dedup and counts come back from the store', async () => {
    // Distinct counts are approximate (HyperLogLog): a fixed seed fixes the sketch key, so the
    // exact counts asserted below do not depend on a chance register collision.
    const tg = await world({ people: 3, random: createDeterministicRandom('integrity-restart') });
    const ids: MessageId[] = [];
    for (let i = 0; i < 3; i++)
      ids.push(await tg.gateway.send({ from: SHOP, to: person(i), content: `hello ${i}` }));
    await deliverWithReceipts(tg);
    expect(await tg.gateway.receiveSpamReport({ reporter: person(0), to: SHOP, messageId: ids[0]! })).toBe(
      'counted',
    );
    const before = tg.gateway.integritySignals().signal('shop').snapshot;
    expect(before).toMatchObject({ sent: 3, distinctRecipients: 3, delivered: 3, spamReports: 1 });
    await tg.gateway.close();
    // The folded state (the journal is folded away at close), and the counted report's marker.
    expect((await tg.store.list('counters')).map((record) => record.key)).toEqual([
      'gw/b/shop/integrity',
      expect.stringMatching(/^gw\/b\/shop\/spam\/m[0-9a-f]{32}$/),
      'gw/b/shop/statistics',
      'gw/b/shop/statistics-people',
    ]);

    const restarted = await createTestGateway(memoryStores, {
      store: tg.store,
      vaultStore: tg.vaultStore,
      keyProvider: tg.keyProvider,
      clock: tg.clock,
      network: tg.network,
    });
    // Read before the business is loaded: nothing restored yet.
    expect(restarted.gateway.integritySignals().signal('shop').snapshot.sent).toBe(0);
    await restarted.gateway.tick();
    expect(restarted.gateway.integritySignals().signal('shop').snapshot).toEqual(before);
    // The dedup bitmap came back (same sketch key): the same report is still a duplicate.
    expect(
      await restarted.gateway.receiveSpamReport({ reporter: person(0), to: SHOP, messageId: ids[0]! }),
    ).toBe('duplicate');
    // A recipient already messaged is not new (the lookback bitmap came back too).
    await restarted.gateway.send({ from: SHOP, to: person(1), content: 'again' });
    const after = restarted.gateway.integritySignals().signal('shop').snapshot;
    expect(after.sent).toBe(4);
    expect(after.newRecipients).toBe(3);
    expect(after.distinctRecipients).toBe(3);
    await restarted.gateway.close();
  });
});

describe('gateway statistics export', () => {
  beforeAll(() => {
    for (const level of ['log', 'info', 'warn', 'error', 'debug'] as const)
      vi.spyOn(console, level).mockImplementation(() => {});
  });
  afterAll(() => vi.restoreAllMocks());

  it('counts messages in and out, deliveries, failures, expirations, sessions and billing per day', async () => {
    const tg = await world({ people: 3 });
    const day = dayOf(tg.clock.now());
    // person 0 writes first (opens a conversation, starts a session); the reply is not business-initiated.
    await tg.gateway.receiveFrame(await tg.network.personFrame(person(0), SHOP, 'question'));
    await tg.gateway.send({ from: SHOP, to: person(0), content: 'answer' });
    // person 1 is messaged first: business-initiated, a new outbound session.
    await tg.gateway.send({ from: SHOP, to: person(1), content: 'offer' });
    await deliverWithReceipts(tg);
    // person 2: the network is down until the attempts run out.
    tg.network.down = true;
    const failing = await tg.gateway.send({ from: SHOP, to: person(2), content: 'lost' });
    for (let i = 0; i < 8 && !statuses(tg.events, failing).some((s) => s.startsWith('failed')); i++) {
      tg.clock.advance(10 * MINUTE);
      await tg.gateway.tick();
      await tg.gateway.idle();
    }
    expect(statuses(tg.events, failing).at(-1)).toBe('failed:ERR_TRANSPORT_FAILURE');
    tg.network.down = false;

    const { statistics, billing } = tg.gateway.statisticsExport();
    const stats = statistics.snapshot(day).businesses;
    expect(stats).toEqual([
      {
        businessId: 'shop',
        day,
        messagesIn: 1,
        messagesOut: 3,
        delivered: 2,
        failed: 1,
        expired: 0,
        // person 0's prekey message; outbound sessions to persons 1 and 2 (built before the
        // transport refused person 2's frames)
        sessionsEstablished: 3,
        groupMessagesIn: 0,
        groupMessagesOut: 0,
        breakdown: [{ category: 'other', messagesIn: 1, messagesOut: 3 }],
      },
    ]);
    expect(billing.snapshot(day).businesses).toEqual([
      {
        businessId: 'shop',
        day,
        businessInitiatedDelivered: 1,
        conversationsOpened: 2,
        conversationsOpenedBy: { business: 1, person: 1 },
        groupMessagesDelivered: 0,
      },
    ]);
    // The export has the two views and nothing else; the signals reader only `signal`.
    expect(Object.keys(tg.gateway.statisticsExport()).sort()).toEqual(['billing', 'statistics']);
    expect(Object.keys(tg.gateway.integritySignals())).toEqual(['signal']);
    expect(tg.logger.lines.some((line) => line.message === 'sending attempt failed; retry scheduled')).toBe(
      true,
    );
    expect(
      tg.logger.lines.some((line) => line.message === 'message failed: sending attempts exhausted'),
    ).toBe(true);

    // An outbound message past its deadline is counted as expired.
    const late = await world({ people: 1 });
    late.network.down = true;
    await late.gateway.send({ from: SHOP, to: person(0), content: 'never' });
    await late.gateway.idle();
    late.clock.advance(30 * DAY_MS + MINUTE);
    await late.gateway.tick();
    const expiredDay = dayOf(late.clock.now());
    expect(late.gateway.statisticsExport().statistics.snapshot(expiredDay).businesses[0]?.expired).toBe(1);
  });

  it('erasure forgets the person in the ledger: writing again within 24 h opens a new conversation', async () => {
    const tg = await world({ people: 1 });
    const day = dayOf(tg.clock.now());
    await tg.gateway.receiveFrame(await tg.network.personFrame(person(0), SHOP, 'one'));
    await tg.gateway.receiveFrame(await tg.network.personFrame(person(0), SHOP, 'two'));
    const opened = () =>
      tg.gateway.statisticsExport().billing.snapshot(day).businesses[0]?.conversationsOpened;
    expect(opened()).toBe(1);
    await tg.gateway.erase('shop', person(0));
    await tg.gateway.receiveFrame(
      await tg.network.personFrame(person(0), SHOP, 'three', { freshBundle: true }),
    );
    expect(opened()).toBe(2);
    expect(tg.logger.lines.some((line) => line.message === 'a person’s data was erased')).toBe(true);
  });

  it('a logger that throws does not break the gateway', async () => {
    const throwing: GatewayLogger = {
      debug: () => {
        throw new Error('logger down');
      },
      info: () => {
        throw new Error('logger down');
      },
      warn: () => {
        throw new Error('logger down');
      },
      error: () => {
        throw new Error('logger down');
      },
    };
    const tg = await createTestGateway(memoryStores, { logger: throwing });
    await setUpBusiness(tg, 'shop', [SHOP]);
    await tg.network.addPerson(person(0));
    const id = await tg.gateway.send({ from: SHOP, to: person(0), content: 'still works' });
    await deliverWithReceipts(tg);
    expect(statuses(tg.events, id)).toEqual(['accepted', 'sent', 'delivered']);
  });
});
