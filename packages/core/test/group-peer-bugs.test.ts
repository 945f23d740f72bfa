/**
 * What Baileys 7.0.0-rc14's group code does that a receiver must live with or that Parley must
 * not copy — measured with the real package, each next to what Parley does.
 */
import { describe, expect, it } from 'vitest';
import { decodeSenderKeyMessage } from '../src/wire/sender-key-message.js';
import { createBaileysGroupPeer } from './peers/groups.js';
import { createGroupParty } from './support/groups.js';
import { str, text } from './support/parties.js';

const GROUP = '120363000000000000@g.us';

describe('Baileys 7.0.0-rc14 group code', () => {
  it('sends iteration 0, then only even iterations: each message skips one key', async () => {
    const peer = createBaileysGroupPeer({ name: 'peer', deviceId: 1 });
    await peer.createDistribution(GROUP);
    const iterations = [];
    for (let i = 0; i < 6; i++)
      iterations.push(decodeSenderKeyMessage(await peer.encrypt(GROUP, text(`${i}`)), 'whatsapp').iteration);
    expect(iterations).toEqual([0, 2, 4, 6, 8, 10]);
  });

  it('its own storage loses skipped keys: a reordered message fails after a reload; Parley opens it', async () => {
    // signalStorage writes JSON.stringify(record.serialize()); a Buffer becomes
    // {type:'Buffer', data:[…]}, which its BufferJSON reviver does not turn back into a Buffer,
    // so the first skipped key Baileys tries to use is an object.
    const sender = createBaileysGroupPeer({ name: 'sender', deviceId: 1 });
    const baileys = createBaileysGroupPeer({ name: 'receiver', deviceId: 1 }, { baileysOwnStorage: true });
    const parley = createGroupParty('parley', { format: 'whatsapp' });
    parley.members.add(GROUP, sender.address);
    const distribution = await sender.createDistribution(GROUP);
    await baileys.processDistribution(GROUP, sender.address, distribution);
    await parley.groups.processDistribution(GROUP, sender.address, distribution);
    const first = await sender.encrypt(GROUP, text('first'));
    const second = await sender.encrypt(GROUP, text('second'));
    // Delivered in reverse: the first needs the key skipped when the second arrived.
    expect(str(await baileys.decrypt(GROUP, sender.address, second))).toBe('second');
    await expect(baileys.decrypt(GROUP, sender.address, first)).rejects.toThrow(
      'Expected Buffer instead of: Object',
    );
    expect(str((await parley.groups.decrypt(GROUP, sender.address, second)).plaintext)).toBe('second');
    expect(str((await parley.groups.decrypt(GROUP, sender.address, first)).plaintext)).toBe('first');
  });
});
