import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createTestWorld } from '../src/testing/index.js';

describe('a gateway prints no secrets', () => {
  it('inspect and JSON of a busy gateway show a summary, never numbers, content or key bytes', async () => {
    const { gateway, business, person, network } = await createTestWorld();
    await person.send(business.number, 'canary-content-7f3a');
    await network.flush();
    await business.send(person.phoneNumber, 'canary-reply-7f3a');
    await network.flush();
    for (const output of [inspect(gateway, { depth: 20 }), JSON.stringify(gateway)]) {
      expect(output).toMatch(/Gateway/);
      expect(output).not.toContain('canary');
      expect(output).not.toContain(person.phoneNumber);
      expect(output).not.toContain(business.number);
      expect(output).not.toMatch(/Uint8Array|<Buffer|KeyObject/);
    }
  });

  it('erasure also drops the decoded sessions the gateway held in memory', async () => {
    const { gateway, business, person, network } = await createTestWorld();
    await person.send(business.number, 'hello');
    await network.flush();
    await business.send(person.phoneNumber, 'hi');
    await network.flush();
    expect(await cachedAddresses(gateway)).toBeGreaterThan(0);
    await gateway.erase(BUSINESS_ID, person.phoneNumber);
    expect(await cachedAddresses(gateway)).toBe(0);
  });
});

const BUSINESS_ID = 'acme';

/** The session managers' own summaries, reached through the gateway's private state. */
async function cachedAddresses(gateway: object): Promise<number> {
  type Context = { numbers: Map<string, { toJSON(): Record<string, unknown> }> };
  const businesses = (gateway as unknown as { g: { businesses: Map<string, Promise<Context>> } }).g
    .businesses;
  let total = 0;
  for (const pending of businesses.values()) {
    for (const manager of (await pending).numbers.values())
      total += manager.toJSON().cachedAddresses as number;
  }
  return total;
}
