/**
 * GroupSessions at the core level, Parley devices only: refusals that change nothing, the
 * limits, membership, late joiners and removed members, rotation, records (sealed, versioned,
 * committed atomically), and two instances sharing one store.
 */
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createDeterministicRandom } from '../src/crypto/random.js';
import { isParleyError } from '../src/errors.js';
import { createAesGcmSealer } from '../src/gateway/durable/record-sealer.js';
import { type GroupCiphertext, GroupSessions } from '../src/groups/group-sessions.js';
import { MAX_SENDER_KEY_FORWARD_JUMPS, MAX_SENDER_KEY_STATES } from '../src/groups/limits.js';
import {
  decodeLocalSenderKey,
  encodeLocalSenderKey,
  type LocalSenderKey,
} from '../src/groups/local-sender-key.js';
import { encryptWithSenderKey } from '../src/groups/sender-key-cipher.js';
import { generateSenderSigningKey, signWithSenderKey } from '../src/groups/sender-signing-key.js';
import { nextChainKey } from '../src/ratchet/chain-key.js';
import { createMemoryStore } from '../src/storage/memory.js';
import { SimulatedGroup } from '../src/testing/simulated-group.js';
import { decodeSenderKeyDistributionMessage } from '../src/wire/sender-key-distribution-message.js';
import type { SenderKeyFormat } from '../src/wire/sender-key-format.js';
import { appendSenderKeySignature, encodeSenderKeyMessageBody } from '../src/wire/sender-key-message.js';
import { createGroupParty, expectGroupRefusal, type GroupParty, remoteStates } from './support/groups.js';
import { snapshot, str, testCrypto, text } from './support/parties.js';

const G = 'group-1';
const FORMATS: readonly SenderKeyFormat[] = ['signal', 'whatsapp'];
const crypto = testCrypto();

/** Alice sends in group G; Bob is a member device that processed her distribution. */
async function pair(
  format: SenderKeyFormat,
): Promise<{ alice: GroupParty; bob: GroupParty; distribution: Uint8Array }> {
  const alice = createGroupParty('alice', { format, seed: `alice/${format}` });
  const bob = createGroupParty('bob', { format, seed: `bob/${format}` });
  bob.members.add(G, alice.address);
  const distribution = (await alice.groups.createDistribution(G)).body;
  await bob.groups.processDistribution(G, alice.address, distribution);
  return { alice, bob, distribution };
}

/** Alice's stored sending chain (test-only access to the record). */
async function localKey(party: GroupParty): Promise<LocalSenderKey> {
  const { bytes } = await party.groups.records.read(party.groups.records.localKey(G));
  return decodeLocalSenderKey({ crypto }, bytes!);
}

async function setLocalKey(party: GroupParty, key: LocalSenderKey): Promise<void> {
  const storeKey = party.groups.records.localKey(G);
  await party.store.commit([party.groups.records.put(storeKey, encodeLocalSenderKey(key))]);
  party.groups.forgetCached(G);
}

function flip(bytes: Uint8Array, bit: number): Uint8Array {
  const out = bytes.slice();
  out[bit >> 3]! ^= 1 << (bit & 7);
  return out;
}

describe.each(FORMATS)('%s format: refused input changes nothing', (format) => {
  it('a group message with no sender key is ERR_SENDER_KEY_NOT_FOUND', async () => {
    const alice = createGroupParty('alice', { format });
    const carol = createGroupParty('carol', { format });
    carol.members.add(G, alice.address);
    await alice.groups.createDistribution(G);
    const message = await alice.groups.encrypt(G, text('hello'));
    await expectGroupRefusal(
      carol.store,
      () => carol.groups.decrypt(G, alice.address, message.body),
      'ERR_SENDER_KEY_NOT_FOUND',
    );
    expect(await carol.groups.hasSenderKey(G, alice.address)).toBe(false);
    // Encrypting before our own chain exists is refused the same way.
    await expectGroupRefusal(
      carol.store,
      () => carol.groups.encrypt(G, text('x')),
      'ERR_SENDER_KEY_NOT_FOUND',
    );
  });

  it('a distribution message or group message from a non-member is ERR_NOT_GROUP_MEMBER', async () => {
    const alice = createGroupParty('alice', { format });
    const bob = createGroupParty('bob', { format });
    const distribution = await alice.groups.createDistribution(G);
    await expectGroupRefusal(
      bob.store,
      () => bob.groups.processDistribution(G, alice.address, distribution.body),
      'ERR_NOT_GROUP_MEMBER',
    );
    // Membership is per group: a member of another group is not a member of this one.
    bob.members.add('group-2', alice.address);
    await expectGroupRefusal(
      bob.store,
      () => bob.groups.processDistribution(G, alice.address, distribution.body),
      'ERR_NOT_GROUP_MEMBER',
    );
    bob.members.add(G, alice.address);
    await bob.groups.processDistribution(G, alice.address, distribution.body);
    const message = await alice.groups.encrypt(G, text('still here'));
    bob.members.remove(G, alice.address);
    await expectGroupRefusal(
      bob.store,
      () => bob.groups.decrypt(G, alice.address, message.body),
      'ERR_NOT_GROUP_MEMBER',
    );
  });

  it('every single-bit flip of the signature, and a sample of flips elsewhere, is refused', async () => {
    const { alice, bob } = await pair(format);
    const { body } = await alice.groups.encrypt(G, text('signed'));
    for (let bit = (body.length - 64) * 8; bit < body.length * 8; bit++) {
      await expectGroupRefusal(
        bob.store,
        () => bob.groups.decrypt(G, alice.address, flip(body, bit)),
        'ERR_INVALID_SIGNATURE',
      );
    }
    const before = await snapshot(bob.store);
    for (let bit = 0; bit < (body.length - 64) * 8; bit += 3) {
      const error = await bob.groups.decrypt(G, alice.address, flip(body, bit)).catch((e: unknown) => e);
      expect(isParleyError(error), String(error)).toBe(true);
    }
    expect(await snapshot(bob.store)).toEqual(before);
    expect(str((await bob.groups.decrypt(G, alice.address, body)).plaintext)).toBe('signed');
  });

  it('a member that holds the chain key cannot forge the sender’s messages', async () => {
    const { alice, distribution } = await pair(format);
    const carol = createGroupParty('carol', { format });
    carol.members.add(G, alice.address);
    await carol.groups.processDistribution(G, alice.address, distribution);
    // Bob knows Alice's chain key from her distribution message, but not her signing key.
    const known = decodeSenderKeyDistributionMessage(distribution, format);
    const forged = encryptWithSenderKey(
      { crypto, random: createDeterministicRandom('bob') },
      {
        format,
        distributionId: known.distributionId,
        chainId: known.chainId,
        signingKey: generateSenderSigningKey({ crypto, random: createDeterministicRandom('bob key') }),
        chainKey: { key: known.chainKey, index: known.iteration },
        createdAt: 0,
      },
      text('forged'),
    );
    await expectGroupRefusal(
      carol.store,
      () => carol.groups.decrypt(G, alice.address, forged.body),
      'ERR_INVALID_SIGNATURE',
    );
  });

  it('a signed message whose ciphertext does not decrypt is refused after the signature check', async () => {
    const { alice, bob } = await pair(format);
    const key = await localKey(alice);
    const signed = encodeSenderKeyMessageBody({
      format,
      distributionId: key.distributionId,
      chainId: key.chainId,
      iteration: 0,
      ciphertext: new Uint8Array(32).fill(0xa5),
    });
    const body = appendSenderKeySignature(signed, signWithSenderKey({ crypto }, key.signingKey, signed));
    await expectGroupRefusal(
      bob.store,
      () => bob.groups.decrypt(G, alice.address, body),
      'ERR_DECRYPTION_FAILED',
    );
    // The chain was not advanced: the real message 0 still opens.
    expect(
      str(
        (await bob.groups.decrypt(G, alice.address, (await alice.groups.encrypt(G, text('zero'))).body))
          .plaintext,
      ),
    ).toBe('zero');
  });

  it('a duplicate is ERR_DUPLICATE_MESSAGE, reordered messages all open once', async () => {
    const { alice, bob } = await pair(format);
    const messages: Uint8Array[] = [];
    for (let i = 0; i < 6; i++) messages.push((await alice.groups.encrypt(G, text(`m${i}`))).body);
    for (const i of [3, 0, 5, 1])
      expect(str((await bob.groups.decrypt(G, alice.address, messages[i]!)).plaintext)).toBe(`m${i}`);
    for (const i of [3, 0, 5, 1]) {
      await expectGroupRefusal(
        bob.store,
        () => bob.groups.decrypt(G, alice.address, messages[i]!),
        'ERR_DUPLICATE_MESSAGE',
      );
    }
    expect([...(await remoteStates(bob, G, alice.address))[0]!.skipped.keys()]).toEqual([2, 4]);
  });

  it(`a jump of ${MAX_SENDER_KEY_FORWARD_JUMPS} is accepted, one more is ERR_MESSAGE_GAP_TOO_LARGE`, async () => {
    const { alice, bob } = await pair(format);
    const start = await localKey(alice);
    let chain = start.chainKey;
    for (let i = 0; i <= MAX_SENDER_KEY_FORWARD_JUMPS; i++) chain = nextChainKey(crypto, chain);
    await setLocalKey(alice, { ...start, chainKey: chain });
    const tooFar = await alice.groups.encrypt(G, text('too far'));
    expect(tooFar.iteration).toBe(MAX_SENDER_KEY_FORWARD_JUMPS + 1);
    await expectGroupRefusal(
      bob.store,
      () => bob.groups.decrypt(G, alice.address, tooFar.body),
      'ERR_MESSAGE_GAP_TOO_LARGE',
    );
    let justFar = start.chainKey;
    for (let i = 0; i < MAX_SENDER_KEY_FORWARD_JUMPS; i++) justFar = nextChainKey(crypto, justFar);
    await setLocalKey(alice, { ...start, chainKey: justFar });
    const limit = await alice.groups.encrypt(G, text('at the limit'));
    expect(str((await bob.groups.decrypt(G, alice.address, limit.body)).plaintext)).toBe('at the limit');
  });

  it('an iteration past the end of any chain is refused; a used-up chain must rotate', async () => {
    const { alice, bob } = await pair(format);
    const key = await localKey(alice);
    const signed = encodeSenderKeyMessageBody({
      format,
      distributionId: key.distributionId,
      chainId: key.chainId,
      iteration: 0xffff_ffff,
      ciphertext: new Uint8Array(16),
    });
    const body = appendSenderKeySignature(signed, signWithSenderKey({ crypto }, key.signingKey, signed));
    await expectGroupRefusal(
      bob.store,
      () => bob.groups.decrypt(G, alice.address, body),
      'ERR_INVALID_MESSAGE',
    );
    await setLocalKey(alice, { ...key, chainKey: { key: key.chainKey.key, index: 0xffff_ffff } });
    await expectGroupRefusal(
      alice.store,
      () => alice.groups.encrypt(G, text('x')),
      'ERR_SENDER_KEY_NOT_FOUND',
    );
    expect((await alice.groups.rotate(G)).iteration).toBe(0);
  });

  it('bad arguments are ERR_INVALID_ARGUMENT; a corrupt or foreign-format record is ERR_INVALID_RECORD', async () => {
    const { alice, bob } = await pair(format);
    const message = (await alice.groups.encrypt(G, text('ok'))).body;
    const bad: [() => Promise<unknown>, string][] = [
      [() => bob.groups.decrypt('', alice.address, message), 'ERR_INVALID_ARGUMENT'],
      [() => bob.groups.decrypt('x'.repeat(257), alice.address, message), 'ERR_INVALID_ARGUMENT'],
      [() => bob.groups.decrypt(G, { name: 'alice', deviceId: 0 }, message), 'ERR_INVALID_ARGUMENT'],
      [() => bob.groups.decrypt(G, alice.address, 'bytes' as unknown as Uint8Array), 'ERR_INVALID_ARGUMENT'],
      [() => bob.groups.encrypt(G, [1, 2] as unknown as Uint8Array), 'ERR_INVALID_ARGUMENT'],
      [() => bob.groups.processDistribution(G, alice.address, new Uint8Array(3)), 'ERR_UNKNOWN_VERSION'],
      [() => bob.groups.forgetMember(G, ''), 'ERR_INVALID_ARGUMENT'],
    ];
    for (const [action, code] of bad)
      await expectGroupRefusal(bob.store, async () => action(), code as never);
    for (const [options, field] of [
      [{ store: bob.store }, 'membership'],
      [{ store: bob.store, membership: bob.members, format: 'telegram' }, 'format'],
      [{ store: Promise.resolve(bob.store), membership: bob.members }, 'store'],
      [
        { store: bob.store, membership: bob.members, crypto: { ...crypto, ed25519Sign: undefined } },
        'crypto',
      ],
      [{ store: bob.store, membership: bob.members, cacheSize: -1 }, 'cacheSize'],
    ] as const) {
      expect(() => new GroupSessions(options as never)).toThrow(
        expect.objectContaining({ code: 'ERR_CONFIGURATION', details: expect.objectContaining({ field }) }),
      );
    }

    // Another format's instance over the same records refuses them rather than misreading them.
    const other = new GroupSessions({
      store: bob.store,
      membership: bob.members,
      format: format === 'signal' ? 'whatsapp' : 'signal',
      scope: 'bob',
    });
    await expectGroupRefusal(bob.store, () => other.hasSenderKey(G, alice.address), 'ERR_INVALID_RECORD');
    // A truncated record.
    const key = bob.groups.records.remoteKey(G, alice.address);
    const stored = await bob.store.get('sessions', key);
    await bob.store.commit([
      { type: 'put', namespace: 'sessions', key, value: stored!.value.subarray(0, 40) },
    ]);
    bob.groups.forgetCached(G);
    await expectGroupRefusal(
      bob.store,
      () => bob.groups.decrypt(G, alice.address, message),
      'ERR_INVALID_RECORD',
    );
  });
});

describe.each(FORMATS)('%s format: chains, joins and removals', (format) => {
  it('a member added later cannot read earlier messages; it reads from its distribution on', async () => {
    const group = await SimulatedGroup.create({ members: ['alice', 'bob'], format, seed: 'late' });
    const early: GroupCiphertext[] = [];
    for (let i = 0; i < 4; i++) early.push(await group.send('alice', text(`early ${i}`)));
    for (const message of early) await group.deliver('bob', 'alice', message);
    await group.add('carol');
    for (const message of early) {
      await expectGroupRefusal(
        group.member('carol').store,
        () => group.deliver('carol', 'alice', message),
        'ERR_SENDER_KEY_NOT_FOUND',
      );
    }
    const results = await group.broadcast('alice', text('welcome carol'));
    expect(str(results.get('carol') as Uint8Array)).toBe('welcome carol');
    expect(str(results.get('bob') as Uint8Array)).toBe('welcome carol');
    // And the newcomer's own messages reach everyone.
    const fromCarol = await group.broadcast('carol', text('hi all'));
    expect([...fromCarol.values()].map((v) => str(v as Uint8Array))).toEqual(['hi all', 'hi all']);
  });

  it('a removed member cannot read later messages, nor post them', async () => {
    const group = await SimulatedGroup.create({
      members: ['alice', 'bob', 'carol'],
      format,
      seed: 'removal',
    });
    const before = await group.broadcast('alice', text('before'));
    expect(str(before.get('carol') as Uint8Array)).toBe('before');
    await group.remove('carol');
    const after = await group.broadcast('alice', text('after'));
    expect(str(after.get('bob') as Uint8Array)).toBe('after');
    const refused = after.get('carol');
    expect(isParleyError(refused, 'ERR_SENDER_KEY_NOT_FOUND'), String(refused)).toBe(true);
    // Carol still has her own chain, but the others refuse her and have forgotten her keys.
    const fromCarol = await group.send('carol', text('let me back in'));
    await expectGroupRefusal(
      group.member('bob').store,
      () => group.deliver('bob', 'carol', fromCarol),
      'ERR_NOT_GROUP_MEMBER',
    );
    expect(await group.member('bob').groups.hasSenderKey(group.group, group.member('carol').address)).toBe(
      false,
    );
  });

  it('a device that missed our distribution gets the current one: it reads from there on', async () => {
    const { alice, bob } = await pair(format);
    const dave = createGroupParty('dave', { format });
    dave.members.add(G, alice.address);
    const sent: GroupCiphertext[] = [];
    for (let i = 0; i < 5; i++) sent.push(await alice.groups.encrypt(G, text(`m${i}`)));
    for (const message of sent) await bob.groups.decrypt(G, alice.address, message.body);
    // Dave reports that he cannot decrypt; Alice answers with her distribution (no rotation).
    await expectGroupRefusal(
      dave.store,
      () => dave.groups.decrypt(G, alice.address, sent[4]!.body),
      'ERR_SENDER_KEY_NOT_FOUND',
    );
    const current = await alice.groups.createDistribution(G);
    expect(current.iteration).toBe(5);
    expect(current.chainId).toBe(sent[0]!.chainId);
    await dave.groups.processDistribution(G, alice.address, current.body);
    const error = await dave.groups.decrypt(G, alice.address, sent[4]!.body).catch((e: unknown) => e);
    expect(isParleyError(error, 'ERR_SENDER_KEY_NOT_FOUND')).toBe(true);
    expect((error as { details: { firstIteration: number } }).details.firstIteration).toBe(5);
    const next = await alice.groups.encrypt(G, text('m5'));
    expect(str((await dave.groups.decrypt(G, alice.address, next.body)).plaintext)).toBe('m5');
    expect(str((await bob.groups.decrypt(G, alice.address, next.body)).plaintext)).toBe('m5');
  });

  it('a repeated or replayed distribution message cannot rewind a chain', async () => {
    const { alice, bob, distribution } = await pair(format);
    const first = await alice.groups.encrypt(G, text('once'));
    await bob.groups.decrypt(G, alice.address, first.body);
    const before = await snapshot(bob.store);
    expect((await bob.groups.processDistribution(G, alice.address, distribution)).newChain).toBe(false);
    expect(await snapshot(bob.store)).toEqual(before);
    await expectGroupRefusal(
      bob.store,
      () => bob.groups.decrypt(G, alice.address, first.body),
      'ERR_DUPLICATE_MESSAGE',
    );
  });

  it(`rotations keep the newest ${MAX_SENDER_KEY_STATES} chains of a sender for late messages`, async () => {
    const { alice, bob } = await pair(format);
    const late = [(await alice.groups.encrypt(G, text('chain 0'))).body];
    for (let rotation = 1; rotation <= MAX_SENDER_KEY_STATES; rotation++) {
      const next = await alice.groups.rotate(G);
      expect((await bob.groups.processDistribution(G, alice.address, next.body)).newChain).toBe(true);
      late.push((await alice.groups.encrypt(G, text(`chain ${rotation}`))).body);
    }
    expect(await remoteStates(bob, G, alice.address)).toHaveLength(MAX_SENDER_KEY_STATES);
    await expectGroupRefusal(
      bob.store,
      () => bob.groups.decrypt(G, alice.address, late[0]!),
      'ERR_SENDER_KEY_NOT_FOUND',
    );
    for (let chain = 1; chain <= MAX_SENDER_KEY_STATES; chain++) {
      expect(str((await bob.groups.decrypt(G, alice.address, late[chain]!)).plaintext)).toBe(
        `chain ${chain}`,
      );
    }
  });

  it('forgetting a member or a group deletes its records in one commit', async () => {
    const { alice, bob } = await pair(format);
    const message = await alice.groups.encrypt(G, text('x'));
    await bob.groups.createDistribution(G);
    await bob.groups.forgetMember(G, 'alice');
    await expectGroupRefusal(
      bob.store,
      () => bob.groups.decrypt(G, alice.address, message.body),
      'ERR_SENDER_KEY_NOT_FOUND',
    );
    expect(await bob.groups.localChain(G)).toBeDefined();
    await bob.groups.deleteGroup(G);
    expect(await bob.groups.localChain(G)).toBeUndefined();
    expect(await bob.store.list('sessions')).toEqual([]);
  });
});

describe('records, commits and instances', () => {
  it('the signal distribution id survives rotation; chain id, chain key and signing key do not', async () => {
    const alice = createGroupParty('alice', { format: 'signal' });
    const first = await alice.groups.createDistribution(G);
    const firstKey = await localKey(alice);
    const second = await alice.groups.rotate(G);
    const secondKey = await localKey(alice);
    expect(second.distributionId).toBe(first.distributionId);
    expect(first.distributionId).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(second.chainId).not.toBe(first.chainId);
    expect(secondKey.chainKey.key).not.toEqual(firstKey.chainKey.key);
    expect(secondKey.signingKey.publicKey).not.toEqual(firstKey.signingKey.publicKey);
    expect(await alice.groups.localChain(G)).toEqual({
      format: 'signal',
      distributionId: second.distributionId,
      chainId: second.chainId,
      iteration: 0,
      createdAt: alice.clock.now(),
    });
  });

  it('sealed records: nothing readable at rest, and a record moved to another key does not open', async () => {
    const sealer = createAesGcmSealer(
      crypto,
      createDeterministicRandom('sealer'),
      new Uint8Array(32).fill(9),
    );
    const alice = createGroupParty('alice', { extra: { sealer } });
    const bob = createGroupParty('bob', { extra: { sealer } });
    bob.members.add(G, alice.address);
    const distribution = await alice.groups.createDistribution(G);
    await bob.groups.processDistribution(G, alice.address, distribution.body);
    const message = await alice.groups.encrypt(G, text('sealed'));
    expect(str((await bob.groups.decrypt(G, alice.address, message.body)).plaintext)).toBe('sealed');
    const key = await localKey(alice);
    for (const record of [...(await alice.store.list('sessions')), ...(await bob.store.list('sessions'))]) {
      const hex = Buffer.from(record.value).toString('hex');
      expect(hex).not.toContain(Buffer.from(key.signingKey.seed).toString('hex'));
      expect(hex).not.toContain(Buffer.from(key.chainKey.key).toString('hex'));
    }
    const stored = await bob.store.get('sessions', bob.groups.records.remoteKey(G, alice.address));
    const moved = bob.groups.records.remoteKey(G, { name: 'mallory', deviceId: 1 });
    await bob.store.commit([{ type: 'put', namespace: 'sessions', key: moved, value: stored!.value }]);
    bob.members.add(G, { name: 'mallory', deviceId: 1 });
    await expectGroupRefusal(
      bob.store,
      () => bob.groups.hasSenderKey(G, { name: 'mallory', deviceId: 1 }),
      'ERR_INVALID_RECORD',
    );
  });

  it('alsoWrite is committed with the operation, and not at all when it fails', async () => {
    const { alice, bob } = await pair('signal');
    const message = await alice.groups.encrypt(G, text('queued'), {
      alsoWrite: (result) => [
        { type: 'put', namespace: 'outbox', key: `out/${result.iteration}`, value: result.body },
      ],
    });
    expect((await alice.store.get('outbox', 'out/0'))?.value).toEqual(message.body);
    const inbox = (result: { iteration: number; plaintext: Uint8Array }) => [
      {
        type: 'put' as const,
        namespace: 'messages' as const,
        key: `in/${result.iteration}`,
        value: result.plaintext,
      },
    ];
    await bob.groups.decrypt(G, alice.address, message.body, { alsoWrite: inbox });
    expect(str((await bob.store.get('messages', 'in/0'))!.value)).toBe('queued');
    await expectGroupRefusal(
      bob.store,
      () => bob.groups.decrypt(G, alice.address, message.body, { alsoWrite: inbox }),
      'ERR_DUPLICATE_MESSAGE',
    );
    // Also when the operation itself has nothing to write (an existing chain, a known chain).
    const marker = (key: string) => () => [
      { type: 'put' as const, namespace: 'meta' as const, key, value: new Uint8Array(1) },
    ];
    await alice.groups.createDistribution(G, { alsoWrite: marker('sent-distribution') });
    expect(await alice.store.get('meta', 'sent-distribution')).toBeDefined();
    const again = await alice.groups.createDistribution(G);
    await bob.groups.processDistribution(G, alice.address, again.body, { alsoWrite: marker('known-chain') });
    expect(await bob.store.get('meta', 'known-chain')).toBeDefined();
  });

  it('two instances on one store never reuse an iteration (conflicts retry from fresh reads)', async () => {
    const store = createMemoryStore();
    const one = createGroupParty('alice', { store, seed: 'one' });
    const two = createGroupParty('alice', { store, seed: 'two' });
    const bob = createGroupParty('bob');
    bob.members.add(G, one.address);
    await bob.groups.processDistribution(G, one.address, (await one.groups.createDistribution(G)).body);
    // The second instance sees the chain the first created.
    expect((await two.groups.localChain(G))?.chainId).toBe((await one.groups.localChain(G))?.chainId);
    const sent = await Promise.all(
      Array.from({ length: 30 }, (_, i) => (i % 2 ? one : two).groups.encrypt(G, text(`m${i}`))),
    );
    expect(new Set(sent.map((m) => m.iteration)).size).toBe(30);
    expect(Math.max(...sent.map((m) => m.iteration))).toBe(29);
    for (const [i, message] of sent.entries()) {
      expect(str((await bob.groups.decrypt(G, one.address, message.body)).plaintext)).toBe(`m${i}`);
    }
  });

  it('never prints keys: inspect and JSON give a summary', async () => {
    const { alice } = await pair('whatsapp');
    const key = await localKey(alice);
    const printed = `${inspect(alice.groups, { depth: 5 })} ${JSON.stringify(alice.groups)}`;
    expect(printed).toContain('GroupSessions');
    expect(printed).not.toContain(Buffer.from(key.signingKey.seed).toString('hex'));
    expect(printed).not.toContain('alice');
    expect(printed).not.toContain(G);
  });
});
