/** The testing kit's simulated groups: reproducible from a seed, membership as clients do it. */
import { MemberList, SimulatedGroup } from '@parley/core/testing';
import { describe, expect, it } from 'vitest';
import { isParleyError } from '../src/errors.js';
import { str, text } from './support/parties.js';

describe('SimulatedGroup', () => {
  it.each(['signal', 'whatsapp'] as const)(
    '%s: the same seed gives the same bytes; another seed does not',
    async (format) => {
      const run = async (seed: string) => {
        const group = await SimulatedGroup.create({ members: ['ann', 'ben'], format, seed });
        const message = await group.send('ann', text('reproducible'));
        expect(str((await group.deliver('ben', 'ann', message)).plaintext)).toBe('reproducible');
        return Buffer.from(message.body).toString('hex');
      };
      expect(await run('seed-1')).toBe(await run('seed-1'));
      expect(await run('seed-1')).not.toBe(await run('seed-2'));
    },
  );

  it('tracks members; a removed member is refused everywhere and reads nothing new', async () => {
    const group = await SimulatedGroup.create({ members: ['ann', 'ben', 'cat'], seed: 'kit' });
    expect(group.members).toEqual(['ann', 'ben', 'cat']);
    await group.remove('ben');
    expect(group.members).toEqual(['ann', 'cat']);
    expect(group.memberList.has(group.group, group.member('ben').address)).toBe(false);
    const results = await group.broadcast('cat', text('without ben'));
    expect(str(results.get('ann') as Uint8Array)).toBe('without ben');
    expect(isParleyError(results.get('ben'), 'ERR_SENDER_KEY_NOT_FOUND')).toBe(true);
    await group.add('ben');
    expect(str((await group.broadcast('ann', text('welcome back'))).get('ben') as Uint8Array)).toBe(
      'welcome back',
    );
    expect(() => group.member('nobody')).toThrow(expect.objectContaining({ code: 'ERR_NOT_FOUND' }));
  });

  it('MemberList answers per group and per device', () => {
    const list = new MemberList();
    list.add('g', { name: 'ann', deviceId: 1 });
    expect(list.isMember({ group: 'g', sender: { name: 'ann', deviceId: 1 }, purpose: 'message' })).toBe(
      true,
    );
    expect(list.isMember({ group: 'g', sender: { name: 'ann', deviceId: 2 }, purpose: 'message' })).toBe(
      false,
    );
    expect(list.isMember({ group: 'h', sender: { name: 'ann', deviceId: 1 }, purpose: 'distribution' })).toBe(
      false,
    );
  });
});

describe('a test world in groups', () => {
  it.each(['signal', 'whatsapp'] as const)(
    '%s: the world’s people take part in the gateway’s groups in the gateway’s format',
    async (format) => {
      const { createTestWorld } = await import('@parley/core/testing');
      const world = await createTestWorld({ seed: `kit-groups-${format}`, gateway: { groups: { format } } });
      const friend = await world.addPerson('+15550124');
      const groupId = await world.gateway.createGroup({
        from: world.business.number,
        members: [world.person.phoneNumber, friend.phoneNumber],
      });
      await world.gateway.sendToGroup({ groupId, content: 'to both' });
      await friend.sendToGroup(world.business.number, groupId, 'from the friend');
      await world.network.flush();
      expect(world.person.received.map((message) => [message.text, message.group])).toEqual([
        ['to both', groupId],
      ]);
      expect(world.business.messages.map((message) => [message.text, message.group])).toEqual([
        ['from the friend', groupId],
      ]);
      expect(world.errors).toEqual([]);
      await world.close();
    },
  );
});
