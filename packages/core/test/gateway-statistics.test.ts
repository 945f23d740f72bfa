/**
 * Statistics and billing persisted by the gateway: sealed in `counters` on tick()/close(),
 * restored when a business is first used (memory stores, fake clock).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { dayOf } from '../src/stats/day.js';
import {
  createTestGateway,
  memoryStores,
  recordingLogger,
  setUpBusiness,
  type TestGateway,
} from './support/gateway-network.js';

const SHOP = '+15550000001';
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAYS_KEY = 'gw/b/shop/statistics';
const PEOPLE_KEY = 'gw/b/shop/statistics-people';

const person = (i: number) => `+49151${String(1000000 + i)}`;

async function world(people: number): Promise<TestGateway> {
  const tg = await createTestGateway(memoryStores, { logger: recordingLogger() });
  await setUpBusiness(tg, 'shop', [SHOP]);
  tg.gateway.onMessage('shop', () => undefined);
  for (let i = 0; i < people; i++) await tg.network.addPerson(person(i));
  return tg;
}

/** A new gateway over the same stores, key provider, clock and network. */
async function restart(
  tg: TestGateway,
): Promise<TestGateway & { logger: ReturnType<typeof recordingLogger> }> {
  await tg.gateway.close();
  const logger = recordingLogger();
  const next = await createTestGateway(memoryStores, {
    store: tg.store,
    vaultStore: tg.vaultStore,
    keyProvider: tg.keyProvider,
    clock: tg.clock,
    network: tg.network,
    logger,
  });
  next.gateway.onMessage('shop', () => undefined);
  return Object.assign(next, { logger });
}

async function deliverWithReceipts(tg: TestGateway): Promise<void> {
  await tg.gateway.idle();
  for (const { frame } of await tg.network.deliverAll())
    await tg.gateway.receiveReceipt({ frameId: frame.frameId });
}

const write = async (tg: TestGateway, i: number, text: string) =>
  tg.gateway.receiveFrame(await tg.network.personFrame(person(i), SHOP, text));

describe('gateway statistics persistence', () => {
  beforeAll(() => {
    for (const level of ['log', 'info', 'warn', 'error', 'debug'] as const)
      vi.spyOn(console, level).mockImplementation(() => {});
  });
  afterAll(() => vi.restoreAllMocks());

  it("a restart keeps today's statistics and billing, and an open conversation is not billed again", async () => {
    const tg = await world(3);
    const day = dayOf(tg.clock.now());
    await write(tg, 0, 'question');
    await tg.gateway.send({ from: SHOP, to: person(0), content: 'answer' });
    await tg.gateway.send({ from: SHOP, to: person(1), content: 'offer' });
    await deliverWithReceipts(tg);
    const { statistics, billing } = tg.gateway.statisticsExport();
    const stats = statistics.snapshot(day);
    const bills = billing.snapshot(day);
    expect(bills.businesses[0]).toMatchObject({
      businessInitiatedDelivered: 1,
      conversationsOpenedBy: { business: 1, person: 1 },
    });

    const next = await restart(tg);
    // Restored when the business is first used (here: by tick's sweep).
    await next.gateway.tick();
    expect(next.gateway.statisticsExport().statistics.snapshot(day)).toEqual(stats);
    expect(next.gateway.statisticsExport().billing.snapshot(day)).toEqual(bills);

    // Within 24 h: person 0 and person 1 are still in their conversations; person 2 is new.
    next.clock.advance(2 * HOUR);
    await write(next, 0, 'thanks');
    await next.gateway.send({ from: SHOP, to: person(1), content: 'still there?' });
    await write(next, 2, 'hello');
    await deliverWithReceipts(next);
    // (The fake clock starts at midnight UTC: still the same day.)
    expect(dayOf(next.clock.now())).toBe(day);
    // 'still there?' is business-initiated (person 1 never wrote) but opens no new conversation.
    expect(next.gateway.statisticsExport().billing.snapshot(day).businesses[0]).toMatchObject({
      businessInitiatedDelivered: 2,
      conversationsOpenedBy: { business: 1, person: 2 },
    });
    expect(next.logger.lines.filter((line) => line.message.startsWith('statistics'))).toEqual([]);
    await next.gateway.close();
  });

  it('an erasure before a restart leaves no trace of the person in the stored or restored ledger', async () => {
    const tg = await world(2);
    const day = dayOf(tg.clock.now());
    await write(tg, 0, 'one');
    await write(tg, 1, 'two');
    await tg.gateway.tick();
    expect((await tg.store.list('counters')).map((record) => record.key)).toContain(PEOPLE_KEY);
    const stored = await tg.store.get('counters', PEOPLE_KEY);
    // The tags expire with the newest 24-hour window, not with the statistics' retention.
    expect(stored?.expiresAt).toBe(tg.clock.now() + 24 * HOUR);
    expect((await tg.store.get('counters', DAYS_KEY))?.expiresAt).toBeGreaterThan(
      tg.clock.now() + 60 * 24 * HOUR,
    );

    await tg.gateway.erase('shop', person(0));
    await tg.gateway.erase('shop', person(1));
    // Written by erase() itself, not only at the next tick: no window is left to store.
    expect((await tg.store.list('counters')).map((record) => record.key)).not.toContain(PEOPLE_KEY);

    const next = await restart(tg);
    await next.gateway.tick();
    const opened = () =>
      next.gateway.statisticsExport().billing.snapshot(day).businesses[0]?.conversationsOpenedBy.person;
    expect(opened()).toBe(2);
    // Writing again within 24 h opens a new conversation: the restored ledger did not know them.
    next.clock.advance(MINUTE);
    await next.gateway.receiveFrame(
      await next.network.personFrame(person(0), SHOP, 'again', { freshBundle: true }),
    );
    expect(opened()).toBe(3);
    await next.gateway.close();
  });

  it('windows expire from the store: the people record is rewritten without them, then deleted', async () => {
    const tg = await world(2);
    await write(tg, 0, 'hi');
    tg.clock.advance(12 * HOUR);
    await write(tg, 1, 'hello');
    await tg.gateway.tick();
    const first = await tg.store.get('counters', PEOPLE_KEY);
    expect(first?.expiresAt).toBe(tg.clock.now() + 24 * HOUR);
    tg.clock.advance(12 * HOUR - 1);
    await tg.gateway.tick();
    // Nothing changed, nothing expired: not rewritten.
    expect((await tg.store.get('counters', PEOPLE_KEY))?.version).toBe(first?.version);
    tg.clock.advance(1);
    await tg.gateway.tick();
    // Person 0's window is over: the record is rewritten (person 1 only), same expiry.
    const second = await tg.store.get('counters', PEOPLE_KEY);
    expect(second?.version).toBeGreaterThan(first!.version);
    expect(second?.value.length).toBeLessThan(first!.value.length);
    expect(second?.expiresAt).toBe(first?.expiresAt);
    tg.clock.advance(12 * HOUR);
    await tg.gateway.tick();
    expect((await tg.store.list('counters')).map((record) => record.key)).not.toContain(PEOPLE_KEY);
    await tg.gateway.close();
  });

  it('a corrupt stored ledger record: the business starts over and one log line says so (code only)', async () => {
    const tg = await world(1);
    const day = dayOf(tg.clock.now());
    await write(tg, 0, 'hi');
    await tg.gateway.close();
    const stored = await tg.store.get('counters', DAYS_KEY);
    expect(stored).toBeDefined();
    const tampered = Uint8Array.from(stored!.value);
    tampered[tampered.length - 1]! ^= 1;
    await tg.store.commit([{ type: 'put', namespace: 'counters', key: DAYS_KEY, value: tampered }]);

    const next = await restart(tg);
    await next.gateway.tick();
    const lines = next.logger.lines.filter((line) => line.message.startsWith('statistics not restored'));
    expect(lines).toHaveLength(1);
    expect(lines[0]?.level).toBe('warn');
    expect(Object.keys(lines[0]?.fields ?? {}).sort()).toEqual(['businessId', 'code']);
    expect(lines[0]?.fields?.code).toBe('ERR_INVALID_RECORD');
    // Fresh: nothing restored, and the gateway keeps working and counting.
    expect(next.gateway.statisticsExport().statistics.snapshot(day).businesses).toEqual([]);
    next.clock.advance(MINUTE);
    await write(next, 0, 'again');
    expect(next.gateway.statisticsExport().billing.snapshot(day).businesses[0]?.conversationsOpened).toBe(1);
    expect(next.errors).toEqual([]);
    await next.gateway.close();
  });

  it('a business idle past the statistics retention does not stop the others being saved', async () => {
    const tg = await world(2);
    await tg.gateway.registerBusiness({ businessId: 'idle' });
    await tg.gateway.addNumber('idle', '+15550000002');
    tg.gateway.onMessage('idle', () => undefined);
    await tg.gateway.receiveFrame(await tg.network.personFrame(person(1), '+15550000002', 'once'));
    await write(tg, 0, 'day one');
    await tg.gateway.tick();
    // 91 days on, the idle business's counts have all aged out; the shop keeps working.
    tg.clock.advance(91 * 24 * HOUR);
    await write(tg, 0, 'day ninety-one');
    const day = dayOf(tg.clock.now());
    await tg.gateway.tick();
    expect(tg.errors).toEqual([]);
    const stored = await tg.store.get('counters', DAYS_KEY);
    expect(stored?.expiresAt).toBeGreaterThan(tg.clock.now());
    // The idle business's record has nothing left to keep: it is gone, not rewritten.
    expect(await tg.store.get('counters', 'gw/b/idle/statistics')).toBeUndefined();

    const next = await restart(tg);
    await next.gateway.tick();
    expect(next.gateway.statisticsExport().statistics.snapshot(day).businesses).toEqual([
      expect.objectContaining({ businessId: 'shop', messagesIn: 1 }),
    ]);
    expect(next.errors).toEqual([]);
    await next.gateway.close();
  });
});
