import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isParleyError } from '../src/index.js';
import { createSimulatedPerson, createTestWorld, ManualClock, TestNetwork } from '../src/testing/index.js';

const DAY_MS = 24 * 60 * 60 * 1000;

function codeOf(error: unknown): string | undefined {
  return isParleyError(error) ? error.code : undefined;
}

describe('testing kit', () => {
  it('a typical user test: a conversation both ways with a delivery receipt, in a few lines', async () => {
    const { business, person, network } = await createTestWorld();

    await person.send(business.number, 'Is my order on its way?');
    await network.flush();
    expect(business.messages.map((message) => message.text)).toEqual(['Is my order on its way?']);

    const id = await business.send(person.phoneNumber, 'Yes, it arrives tomorrow.');
    await network.flush();
    expect(person.textsFrom(business.number)).toEqual(['Yes, it arrives tomorrow.']);
    expect(business.status(id)).toBe('delivered');
  });

  it('the same seed gives the same keys and frames; another seed does not', async () => {
    const frameOf = async (seed: string) => {
      const world = await createTestWorld({ seed });
      const frame = await world.person.send(world.business.number, 'hello');
      await world.close();
      return frame;
    };
    const a = await frameOf('seed-a');
    const again = await frameOf('seed-a');
    const b = await frameOf('seed-b');
    expect(again.body).toEqual(a.body);
    expect(again.frameId).toBe(a.frameId);
    expect(b.body).not.toEqual(a.body);
  });

  it('a dropped frame never arrives until the business retransmits it', async () => {
    const { gateway, business, person, network } = await createTestWorld();
    network.dropNext(1, { direction: 'to-person' });
    const id = await business.send(person.phoneNumber, 'lost in the network');
    await network.flush();
    expect(person.received).toHaveLength(0);
    expect(network.dropped).toHaveLength(1);
    expect(business.status(id)).toBe('sent');

    await gateway.retransmit(id);
    await network.flush();
    expect(person.textsFrom()).toEqual(['lost in the network']);
    expect(business.status(id)).toBe('delivered');
  });

  it('a refused send is retried on the backoff schedule when the clock moves', async () => {
    const world = await createTestWorld();
    world.network.refuseNextSends(1);
    const id = await world.business.send(world.person.phoneNumber, 'second time lucky');
    await world.network.flush();
    expect(world.business.status(id)).toBe('accepted');
    expect(world.person.received).toHaveLength(0);

    await world.advance(5_000);
    expect(world.person.textsFrom()).toEqual(['second time lucky']);
    expect(world.business.status(id)).toBe('delivered');
    expect(world.network.sendAttempts).toBe(2);
  });

  it('a duplicated frame reaches the business once', async () => {
    const { business, person, network } = await createTestWorld();
    network.duplicateNext(1, { direction: 'to-gateway', kind: 'frame' });
    await person.send(business.number, 'only once, please');
    const { deliveries } = await network.flush();
    const outcomes = deliveries.map((delivery) =>
      delivery.result === 'accepted' ? delivery.outcome.kind : '',
    );
    expect(outcomes).toEqual(['accepted', 'duplicate']);
    expect(business.messages).toHaveLength(1);
  });

  it('reordered and delayed frames all arrive, in the order the network chose', async () => {
    const { business, person, network } = await createTestWorld();
    for (const text of ['one', 'two', 'three']) await person.send(business.number, text);
    network.reorder('to-gateway');
    await network.flush();
    expect(business.messages.map((message) => message.text)).toEqual(['three', 'two', 'one']);

    network.delayNext(2);
    await person.send(business.number, 'late');
    await network.step();
    await network.step();
    expect(business.messages).toHaveLength(3);
    await network.step();
    expect(business.messages.at(-1)?.text).toBe('late');
  });

  it("a person's devices share one identity and each receives the business's message", async () => {
    const { business, person, network } = await createTestWorld({ personDevices: 2 });
    const [first, second] = await Promise.all(
      person.devices.map((device) => device.sessions.localIdentity()),
    );
    expect(second!.identityKeyPair.publicKey).toEqual(first!.identityKeyPair.publicKey);
    await business.send(person.phoneNumber, 'to every device');
    await network.flush();
    expect(person.received.map((message) => message.deviceId).sort()).toEqual([1, 2]);
  });

  it('a failing business handler gets the message again later, with the same id', async () => {
    const world = await createTestWorld();
    world.business.failNextDeliveries(1);
    await world.person.send(world.business.number, 'please retry');
    await world.network.flush();
    expect(world.business.messages).toHaveLength(0);
    await world.advance(5_000);
    expect(world.business.messages.map((message) => [message.text, message.attempt])).toEqual([
      ['please retry', 2],
    ]);
  });

  it('past retention a message can no longer be retransmitted', async () => {
    const world = await createTestWorld();
    const id = await world.business.send(world.person.phoneNumber, 'short-lived');
    await world.network.flush();
    await world.advance(31 * DAY_MS);
    await expect(world.gateway.retransmit(id)).rejects.toSatisfy(
      (error) => codeOf(error) === 'ERR_RETENTION_EXPIRED' || codeOf(error) === 'ERR_NOT_FOUND',
    );
  });

  it('refuses misuse loudly', async () => {
    const clock = new ManualClock();
    expect(() => clock.advance(-1)).toThrow(/"ms"/);
    expect(() => clock.set(clock.now() - 1)).toThrow(/earlier/);
    const network = new TestNetwork();
    expect(() => network.dropNext(0)).toThrow(/"count"/);
    expect(() => network.delayNext(0)).toThrow(/"steps"/);
    expect(() => network.shuffle()).toThrow(/random source/);
    await expect(createSimulatedPerson({ phoneNumber: '+15550199', devices: [1, 1] })).rejects.toThrow(
      /"devices"/,
    );
    const person = await createSimulatedPerson({ phoneNumber: '+15550199' });
    await expect(person.send('+15550100', 'no network')).rejects.toThrow(/addPerson/);
  });

  it('imports nothing from node:* so it runs in browsers', () => {
    const dir = join(import.meta.dirname, '../src/testing');
    const files = readdirSync(dir).filter((name) => name.endsWith('.ts'));
    expect(files.length).toBeGreaterThan(3);
    for (const name of files) {
      expect(readFileSync(join(dir, name), 'utf8'), name).not.toMatch(/from ['"]node:/);
    }
  });
});

describe('the README recipe', () => {
  it('runs as written: a refused send is delivered after the backoff', async () => {
    const world = await createTestWorld();
    const { business, person, network } = world;
    await person.send(business.number, 'Is my order on its way?');
    await network.flush();
    expect(business.messages.map((m) => m.text)).toEqual(['Is my order on its way?']);

    network.refuseNextSends(1);
    const id = await business.send(person.phoneNumber, 'Yes, tomorrow.');
    await network.flush();
    expect(business.status(id)).toBe('accepted');
    await world.advance(5_000);
    expect(business.status(id)).toBe('delivered');
  });
});
