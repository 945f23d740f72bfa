/**
 * Real bytes from real peers: sessions are built between two in-memory stores in each peer,
 * its messages are decoded with our codecs and checked against what the peer itself reports,
 * and our re-encoding of the decoded fields must reproduce the peer's bytes exactly (which also
 * proves the fields the peer has no accessor for — base key, ratchet key, previous counter).
 * The other direction: messages we encode are parsed by the peer's own deserializer.
 */
import { createRequire } from 'node:module';
import * as lsc23 from 'lsc-0-23';
import * as lsc72 from 'lsc-0-72';
import { describe, expect, it } from 'vitest';
import { bytesEqual, toHex } from '../src/bytes.js';
import {
  appendMac,
  CiphertextMessageType,
  decodePreKeySignalMessage,
  decodeSignalMessage,
  encodePreKeySignalMessage,
  encodeSignalMessageBody,
} from '../src/wire/index.js';

/** Field numbers of the top-level protobuf fields, in wire order. */
function topLevelFieldOrder(protobuf: Uint8Array): number[] {
  // Tags and lengths in these messages fit in one byte except lengths ≥ 128 (Kyber ciphertext,
  // inner message), so parse the varints properly.
  const order: number[] = [];
  let offset = 0;
  const varint = (): number => {
    let value = 0;
    let scale = 1;
    for (;;) {
      const byte = protobuf[offset++]!;
      value += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) return value;
      scale *= 128;
    }
  };
  while (offset < protobuf.length) {
    const key = varint();
    order.push(key >>> 3);
    if ((key & 7) === 0) varint();
    else if ((key & 7) === 2) {
      const length = varint(); // read before `offset` is: `offset += varint()` would lose the length bytes
      offset += length;
    } else throw new Error(`unexpected wire type ${key & 7}`);
  }
  return order;
}

/** Re-encodes a decoded PreKeySignalMessage from its fields alone. */
function reencodePreKey(bytes: Uint8Array): Uint8Array {
  const decoded = decodePreKeySignalMessage(bytes);
  return encodePreKeySignalMessage(decoded);
}

/** Re-encodes a decoded SignalMessage from its fields and its MAC. */
function reencodeSignal(bytes: Uint8Array): Uint8Array {
  const decoded = decodeSignalMessage(bytes);
  return appendMac(encodeSignalMessageBody(decoded), decoded.mac);
}

const text = (s: string): Buffer => Buffer.from(s, 'utf8');

// ---------------------------------------------------------------------------------------------
// @signalapp/libsignal-client 0.23.1 (v3)

function addressKey(address: { name(): string; deviceId(): number }): string {
  return `${address.name()}.${address.deviceId()}`;
}

class Lsc23Sessions extends lsc23.SessionStore {
  readonly #records = new Map<string, Buffer>();
  async saveSession(address: lsc23.ProtocolAddress, record: lsc23.SessionRecord): Promise<void> {
    this.#records.set(addressKey(address), record.serialize());
  }
  async getSession(address: lsc23.ProtocolAddress): Promise<lsc23.SessionRecord | null> {
    const stored = this.#records.get(addressKey(address));
    return stored ? lsc23.SessionRecord.deserialize(stored) : null;
  }
  async getExistingSessions(addresses: lsc23.ProtocolAddress[]): Promise<lsc23.SessionRecord[]> {
    const out: lsc23.SessionRecord[] = [];
    for (const address of addresses) {
      const record = await this.getSession(address);
      if (record) out.push(record);
    }
    return out;
  }
}

class Lsc23Identities extends lsc23.IdentityKeyStore {
  readonly #known = new Map<string, Buffer>();
  constructor(
    readonly identity: lsc23.IdentityKeyPair,
    readonly registrationId: number,
  ) {
    super();
  }
  async getIdentityKey(): Promise<lsc23.PrivateKey> {
    return this.identity.privateKey;
  }
  async getLocalRegistrationId(): Promise<number> {
    return this.registrationId;
  }
  async saveIdentity(address: lsc23.ProtocolAddress, key: lsc23.PublicKey): Promise<boolean> {
    const previous = this.#known.get(addressKey(address));
    this.#known.set(addressKey(address), key.serialize());
    return previous !== undefined && !previous.equals(key.serialize());
  }
  async isTrustedIdentity(): Promise<boolean> {
    return true;
  }
  async getIdentity(address: lsc23.ProtocolAddress): Promise<lsc23.PublicKey | null> {
    const stored = this.#known.get(addressKey(address));
    return stored ? lsc23.PublicKey.deserialize(stored) : null;
  }
}

class Lsc23PreKeys extends lsc23.PreKeyStore {
  readonly #records = new Map<number, Buffer>();
  async savePreKey(id: number, record: lsc23.PreKeyRecord): Promise<void> {
    this.#records.set(id, record.serialize());
  }
  async getPreKey(id: number): Promise<lsc23.PreKeyRecord> {
    const stored = this.#records.get(id);
    if (!stored) throw new Error(`no prekey ${id}`);
    return lsc23.PreKeyRecord.deserialize(stored);
  }
  async removePreKey(id: number): Promise<void> {
    this.#records.delete(id);
  }
}

class Lsc23SignedPreKeys extends lsc23.SignedPreKeyStore {
  readonly #records = new Map<number, Buffer>();
  async saveSignedPreKey(id: number, record: lsc23.SignedPreKeyRecord): Promise<void> {
    this.#records.set(id, record.serialize());
  }
  async getSignedPreKey(id: number): Promise<lsc23.SignedPreKeyRecord> {
    const stored = this.#records.get(id);
    if (!stored) throw new Error(`no signed prekey ${id}`);
    return lsc23.SignedPreKeyRecord.deserialize(stored);
  }
}

describe('interop with @signalapp/libsignal-client 0.23.1 (v3)', async () => {
  const aliceAddress = lsc23.ProtocolAddress.new('alice', 1);
  const bobAddress = lsc23.ProtocolAddress.new('bob', 1);
  const alice = {
    sessions: new Lsc23Sessions(),
    ids: new Lsc23Identities(lsc23.IdentityKeyPair.generate(), 4321),
  };
  const bob = {
    sessions: new Lsc23Sessions(),
    ids: new Lsc23Identities(lsc23.IdentityKeyPair.generate(), 1234),
    preKeys: new Lsc23PreKeys(),
    signedPreKeys: new Lsc23SignedPreKeys(),
  };
  const preKeyId = 31337;
  const signedPreKeyId = 4_000_000_000; // above 2^31: catches a signed 32-bit read
  const preKey = lsc23.PrivateKey.generate();
  const signedPreKey = lsc23.PrivateKey.generate();
  const signature = bob.ids.identity.privateKey.sign(signedPreKey.getPublicKey().serialize());
  await bob.preKeys.savePreKey(preKeyId, lsc23.PreKeyRecord.new(preKeyId, preKey.getPublicKey(), preKey));
  await bob.signedPreKeys.saveSignedPreKey(
    signedPreKeyId,
    lsc23.SignedPreKeyRecord.new(signedPreKeyId, 0, signedPreKey.getPublicKey(), signedPreKey, signature),
  );
  const bundle = lsc23.PreKeyBundle.new(
    1234,
    1,
    preKeyId,
    preKey.getPublicKey(),
    signedPreKeyId,
    signedPreKey.getPublicKey(),
    signature,
    bob.ids.identity.publicKey,
  );
  await lsc23.processPreKeyBundle(bundle, bobAddress, alice.sessions, alice.ids);

  // Three prekey messages before any reply, so Alice's next chain has previous_counter > 0.
  const first: Uint8Array[] = [];
  for (const body of ['one', 'two', 'three']) {
    const sent = await lsc23.signalEncrypt(text(body), bobAddress, alice.sessions, alice.ids);
    expect(sent.type()).toBe(CiphertextMessageType.PreKey);
    first.push(new Uint8Array(sent.serialize()));
  }
  for (const bytes of first) {
    await lsc23.signalDecryptPreKey(
      lsc23.PreKeySignalMessage.deserialize(Buffer.from(bytes)),
      aliceAddress,
      bob.sessions,
      bob.ids,
      bob.preKeys,
      bob.signedPreKeys,
    );
  }
  const replyMessage = await lsc23.signalEncrypt(text('reply'), aliceAddress, bob.sessions, bob.ids);
  const reply = new Uint8Array(replyMessage.serialize());
  await lsc23.signalDecrypt(
    lsc23.SignalMessage.deserialize(Buffer.from(reply)),
    bobAddress,
    alice.sessions,
    alice.ids,
  );
  const laterMessage = await lsc23.signalEncrypt(text('later'), bobAddress, alice.sessions, alice.ids);
  const later = new Uint8Array(laterMessage.serialize());

  it('a PreKeySignalMessage decodes to the fields libsignal reports', () => {
    const bytes = first[0]!;
    const ours = decodePreKeySignalMessage(bytes);
    const theirs = lsc23.PreKeySignalMessage.deserialize(Buffer.from(bytes));
    expect(bytes[0]).toBe(0x33); // measured: 0.23 writes both nibbles 3
    expect(ours.version).toBe(theirs.version());
    expect(ours.version).toBe(3);
    expect(ours.registrationId).toBe(theirs.registrationId());
    expect(ours.registrationId).toBe(4321);
    expect(ours.preKeyId).toBe(theirs.preKeyId());
    expect(ours.preKeyId).toBe(preKeyId);
    expect(ours.signedPreKeyId).toBe(theirs.signedPreKeyId());
    expect(ours.signedPreKeyId).toBe(signedPreKeyId);
    expect(toHex(ours.identityKey)).toBe(toHex(alice.ids.identity.publicKey.serialize()));
    expect(ours.baseKey).toHaveLength(33);
    expect(ours.kyberPreKeyId).toBeUndefined();
    expect(ours.kyberCiphertext).toBeUndefined();
    // libsignal re-serializes the inner message it parsed; it must be the bytes we extracted.
    const inner = lsc23.SignalMessage.deserialize(Buffer.from(ours.message));
    expect(toHex(ours.message)).toBe(toHex(inner.serialize()));
  });

  it('the inner SignalMessages decode to the fields libsignal reports', () => {
    first.forEach((bytes, index) => {
      const outer = decodePreKeySignalMessage(bytes);
      const ours = decodeSignalMessage(outer.message);
      const theirs = lsc23.SignalMessage.deserialize(Buffer.from(outer.message));
      expect(outer.message[0]).toBe(0x33);
      expect(ours.version).toBe(theirs.messageVersion());
      expect(ours.counter).toBe(theirs.counter());
      expect(ours.counter).toBe(index);
      expect(ours.previousCounter).toBe(0);
      // libsignal calls the ciphertext field "body".
      expect(toHex(ours.ciphertext)).toBe(toHex(theirs.body()));
      expect(ours.ratchetKey[0]).toBe(0x05);
      expect(ours.body).toHaveLength(outer.message.length - 8);
      expect(ours.pqRatchet).toBeUndefined();
    });
  });

  it('a reply SignalMessage and a later one on a new chain decode like libsignal reads them', () => {
    expect(replyMessage.type()).toBe(CiphertextMessageType.Whisper);
    expect(laterMessage.type()).toBe(CiphertextMessageType.Whisper);
    for (const bytes of [reply, later]) {
      const ours = decodeSignalMessage(bytes);
      const theirs = lsc23.SignalMessage.deserialize(Buffer.from(bytes));
      expect(bytes[0]).toBe(0x33);
      expect(ours.counter).toBe(theirs.counter());
      expect(toHex(ours.ciphertext)).toBe(toHex(theirs.body()));
    }
    // Alice sent counters 0, 1, 2 on her first chain; libsignal reports the last index sent.
    const laterDecoded = decodeSignalMessage(later);
    expect(laterDecoded.counter).toBe(0);
    expect(laterDecoded.previousCounter).toBe(2);
    expect(
      bytesEqual(
        laterDecoded.ratchetKey,
        decodeSignalMessage(decodePreKeySignalMessage(first[0]!).message).ratchetKey,
      ),
    ).toBe(false);
  });

  it('re-encoding our decoded fields reproduces libsignal bytes exactly (field order 1..6 and 1..4)', () => {
    for (const bytes of first) {
      expect(topLevelFieldOrder(bytes.subarray(1))).toEqual([1, 2, 3, 4, 5, 6]);
      expect(toHex(reencodePreKey(bytes))).toBe(toHex(bytes));
      const inner = decodePreKeySignalMessage(bytes).message;
      expect(topLevelFieldOrder(inner.subarray(1, inner.length - 8))).toEqual([1, 2, 3, 4]);
      expect(toHex(reencodeSignal(inner))).toBe(toHex(inner));
    }
    for (const bytes of [reply, later]) {
      expect(topLevelFieldOrder(bytes.subarray(1, bytes.length - 8))).toEqual([1, 2, 3, 4]);
      expect(toHex(reencodeSignal(bytes))).toBe(toHex(bytes));
    }
  });

  it('libsignal parses the messages we encode', () => {
    const ratchetKey = lsc23.PrivateKey.generate().getPublicKey().serialize();
    const ciphertext = new Uint8Array(48).fill(7);
    const inner = appendMac(
      encodeSignalMessageBody({
        version: 3,
        ratchetKey,
        counter: 0xffff_ffff,
        previousCounter: 17,
        ciphertext,
      }),
      new Uint8Array(8).fill(0xaa),
    );
    const theirInner = lsc23.SignalMessage.deserialize(Buffer.from(inner));
    expect(theirInner.counter()).toBe(0xffff_ffff);
    expect(theirInner.messageVersion()).toBe(3);
    expect(toHex(theirInner.body())).toBe(toHex(ciphertext));

    const outer = encodePreKeySignalMessage({
      version: 3,
      registrationId: 16380,
      preKeyId: 0xffff_ffff,
      signedPreKeyId: 7,
      baseKey: lsc23.PrivateKey.generate().getPublicKey().serialize(),
      identityKey: lsc23.IdentityKeyPair.generate().publicKey.serialize(),
      message: inner,
    });
    const theirs = lsc23.PreKeySignalMessage.deserialize(Buffer.from(outer));
    expect(theirs.registrationId()).toBe(16380);
    expect(theirs.preKeyId()).toBe(0xffff_ffff);
    expect(theirs.signedPreKeyId()).toBe(7);
    expect(theirs.version()).toBe(3);
    expect(toHex(theirs.serialize())).toBe(toHex(outer));

    const withoutPreKey = encodePreKeySignalMessage({
      version: 3,
      registrationId: 1,
      signedPreKeyId: 7,
      baseKey: lsc23.PrivateKey.generate().getPublicKey().serialize(),
      identityKey: lsc23.IdentityKeyPair.generate().publicKey.serialize(),
      message: inner,
    });
    expect(lsc23.PreKeySignalMessage.deserialize(Buffer.from(withoutPreKey)).preKeyId()).toBeNull();
  });
});

// ---------------------------------------------------------------------------------------------
// @signalapp/libsignal-client 0.72.1 (v4: PQXDH with a Kyber prekey)

class Lsc72Sessions extends lsc72.SessionStore {
  readonly #records = new Map<string, Buffer>();
  async saveSession(address: lsc72.ProtocolAddress, record: lsc72.SessionRecord): Promise<void> {
    this.#records.set(addressKey(address), record.serialize());
  }
  async getSession(address: lsc72.ProtocolAddress): Promise<lsc72.SessionRecord | null> {
    const stored = this.#records.get(addressKey(address));
    return stored ? lsc72.SessionRecord.deserialize(stored) : null;
  }
  async getExistingSessions(addresses: lsc72.ProtocolAddress[]): Promise<lsc72.SessionRecord[]> {
    const out: lsc72.SessionRecord[] = [];
    for (const address of addresses) {
      const record = await this.getSession(address);
      if (record) out.push(record);
    }
    return out;
  }
}

class Lsc72Identities extends lsc72.IdentityKeyStore {
  readonly #known = new Map<string, Buffer>();
  constructor(
    readonly identity: lsc72.IdentityKeyPair,
    readonly registrationId: number,
  ) {
    super();
  }
  async getIdentityKey(): Promise<lsc72.PrivateKey> {
    return this.identity.privateKey;
  }
  async getLocalRegistrationId(): Promise<number> {
    return this.registrationId;
  }
  async saveIdentity(address: lsc72.ProtocolAddress, key: lsc72.PublicKey): Promise<lsc72.IdentityChange> {
    const previous = this.#known.get(addressKey(address));
    this.#known.set(addressKey(address), key.serialize());
    return previous !== undefined && !previous.equals(key.serialize())
      ? lsc72.IdentityChange.ReplacedExisting
      : lsc72.IdentityChange.NewOrUnchanged;
  }
  async isTrustedIdentity(): Promise<boolean> {
    return true;
  }
  async getIdentity(address: lsc72.ProtocolAddress): Promise<lsc72.PublicKey | null> {
    const stored = this.#known.get(addressKey(address));
    return stored ? lsc72.PublicKey.deserialize(stored) : null;
  }
}

class Lsc72PreKeys extends lsc72.PreKeyStore {
  readonly #records = new Map<number, Buffer>();
  async savePreKey(id: number, record: lsc72.PreKeyRecord): Promise<void> {
    this.#records.set(id, record.serialize());
  }
  async getPreKey(id: number): Promise<lsc72.PreKeyRecord> {
    const stored = this.#records.get(id);
    if (!stored) throw new Error(`no prekey ${id}`);
    return lsc72.PreKeyRecord.deserialize(stored);
  }
  async removePreKey(id: number): Promise<void> {
    this.#records.delete(id);
  }
}

class Lsc72SignedPreKeys extends lsc72.SignedPreKeyStore {
  readonly #records = new Map<number, Buffer>();
  async saveSignedPreKey(id: number, record: lsc72.SignedPreKeyRecord): Promise<void> {
    this.#records.set(id, record.serialize());
  }
  async getSignedPreKey(id: number): Promise<lsc72.SignedPreKeyRecord> {
    const stored = this.#records.get(id);
    if (!stored) throw new Error(`no signed prekey ${id}`);
    return lsc72.SignedPreKeyRecord.deserialize(stored);
  }
}

class Lsc72KyberPreKeys extends lsc72.KyberPreKeyStore {
  readonly #records = new Map<number, Buffer>();
  async saveKyberPreKey(id: number, record: lsc72.KyberPreKeyRecord): Promise<void> {
    this.#records.set(id, record.serialize());
  }
  async getKyberPreKey(id: number): Promise<lsc72.KyberPreKeyRecord> {
    const stored = this.#records.get(id);
    if (!stored) throw new Error(`no kyber prekey ${id}`);
    return lsc72.KyberPreKeyRecord.deserialize(stored);
  }
  async markKyberPreKeyUsed(): Promise<void> {}
}

describe('interop with @signalapp/libsignal-client 0.72.1 (v4)', async () => {
  const aliceAddress = lsc72.ProtocolAddress.new('alice', 1);
  const bobAddress = lsc72.ProtocolAddress.new('bob', 2);
  const alice = {
    sessions: new Lsc72Sessions(),
    ids: new Lsc72Identities(lsc72.IdentityKeyPair.generate(), 77),
  };
  const bob = {
    sessions: new Lsc72Sessions(),
    ids: new Lsc72Identities(lsc72.IdentityKeyPair.generate(), 88),
    preKeys: new Lsc72PreKeys(),
    signedPreKeys: new Lsc72SignedPreKeys(),
    kyberPreKeys: new Lsc72KyberPreKeys(),
  };
  const signedPreKeyId = 5;
  const kyberPreKeyId = 0xfedc_ba98;
  const signedPreKey = lsc72.PrivateKey.generate();
  const signedPreKeySignature = bob.ids.identity.privateKey.sign(signedPreKey.getPublicKey().serialize());
  const kyber = lsc72.KEMKeyPair.generate();
  const kyberSignature = bob.ids.identity.privateKey.sign(kyber.getPublicKey().serialize());
  await bob.signedPreKeys.saveSignedPreKey(
    signedPreKeyId,
    lsc72.SignedPreKeyRecord.new(
      signedPreKeyId,
      0,
      signedPreKey.getPublicKey(),
      signedPreKey,
      signedPreKeySignature,
    ),
  );
  await bob.kyberPreKeys.saveKyberPreKey(
    kyberPreKeyId,
    lsc72.KyberPreKeyRecord.new(kyberPreKeyId, 0, kyber, kyberSignature),
  );
  // No one-time prekey: exercises the absent optional field 1.
  const bundle = lsc72.PreKeyBundle.new(
    88,
    2,
    null,
    null,
    signedPreKeyId,
    signedPreKey.getPublicKey(),
    signedPreKeySignature,
    bob.ids.identity.publicKey,
    kyberPreKeyId,
    kyber.getPublicKey(),
    kyberSignature,
  );
  await lsc72.processPreKeyBundle(bundle, bobAddress, alice.sessions, alice.ids);
  const sent = await lsc72.signalEncrypt(text('hello v4'), bobAddress, alice.sessions, alice.ids);
  const preKeyBytes = new Uint8Array(sent.serialize());
  await lsc72.signalDecryptPreKey(
    lsc72.PreKeySignalMessage.deserialize(Buffer.from(preKeyBytes)),
    aliceAddress,
    bob.sessions,
    bob.ids,
    bob.preKeys,
    bob.signedPreKeys,
    bob.kyberPreKeys,
  );
  const replyMessage = await lsc72.signalEncrypt(text('reply v4'), aliceAddress, bob.sessions, bob.ids);
  const reply = new Uint8Array(replyMessage.serialize());

  it('a v4 PreKeySignalMessage decodes to the fields libsignal reports, Kyber fields included', () => {
    expect(sent.type()).toBe(CiphertextMessageType.PreKey);
    const ours = decodePreKeySignalMessage(preKeyBytes);
    const theirs = lsc72.PreKeySignalMessage.deserialize(Buffer.from(preKeyBytes));
    expect(preKeyBytes[0]).toBe(0x44); // measured
    expect(ours.version).toBe(4);
    expect(ours.version).toBe(theirs.version());
    expect(ours.registrationId).toBe(theirs.registrationId());
    expect(ours.registrationId).toBe(77);
    expect(ours.preKeyId).toBeUndefined();
    expect(theirs.preKeyId()).toBeNull();
    expect(ours.signedPreKeyId).toBe(theirs.signedPreKeyId());
    expect(ours.kyberPreKeyId).toBe(kyberPreKeyId);
    expect(ours.kyberCiphertext).toHaveLength(1569);
    expect(ours.kyberCiphertext?.[0]).toBe(0x08);
    expect(toHex(ours.identityKey)).toBe(toHex(alice.ids.identity.publicKey.serialize()));
    const inner = decodeSignalMessage(ours.message);
    const theirInner = lsc72.SignalMessage.deserialize(Buffer.from(ours.message));
    expect(ours.message[0]).toBe(0x44);
    expect(inner.version).toBe(theirInner.messageVersion());
    expect(inner.counter).toBe(theirInner.counter());
    expect(toHex(inner.ciphertext)).toBe(toHex(theirInner.body()));
  });

  it('re-encoding reproduces the v4 bytes exactly (field order 2..8 with field 1 absent)', () => {
    expect(topLevelFieldOrder(preKeyBytes.subarray(1))).toEqual([2, 3, 4, 5, 6, 7, 8]);
    expect(toHex(reencodePreKey(preKeyBytes))).toBe(toHex(preKeyBytes));
    const inner = decodePreKeySignalMessage(preKeyBytes).message;
    expect(toHex(reencodeSignal(inner))).toBe(toHex(inner));
    expect(replyMessage.type()).toBe(CiphertextMessageType.Whisper);
    expect(reply[0]).toBe(0x44);
    expect(topLevelFieldOrder(reply.subarray(1, reply.length - 8))).toEqual([1, 2, 3, 4]);
    expect(decodeSignalMessage(reply).counter).toBe(
      lsc72.SignalMessage.deserialize(Buffer.from(reply)).counter(),
    );
    expect(toHex(reencodeSignal(reply))).toBe(toHex(reply));
  });

  it('libsignal 0.72 parses a v4 PreKeySignalMessage we encode, and a 0x33 v3 one', () => {
    const ratchetKey = lsc72.PrivateKey.generate().getPublicKey().serialize();
    const inner = appendMac(
      encodeSignalMessageBody({
        version: 4,
        ratchetKey,
        counter: 3,
        previousCounter: 2,
        ciphertext: new Uint8Array(0),
      }),
      new Uint8Array(8),
    );
    const kyberCiphertext = new Uint8Array(1569).fill(0x5a);
    kyberCiphertext[0] = 0x08;
    const outer = encodePreKeySignalMessage({
      version: 4,
      registrationId: 9,
      preKeyId: 10,
      signedPreKeyId: 11,
      baseKey: lsc72.PrivateKey.generate().getPublicKey().serialize(),
      identityKey: lsc72.IdentityKeyPair.generate().publicKey.serialize(),
      message: inner,
      kyberPreKeyId: 12,
      kyberCiphertext,
    });
    const theirs = lsc72.PreKeySignalMessage.deserialize(Buffer.from(outer));
    expect(theirs.version()).toBe(4);
    expect(theirs.registrationId()).toBe(9);
    expect(theirs.preKeyId()).toBe(10);
    expect(theirs.signedPreKeyId()).toBe(11);
    expect(toHex(theirs.serialize())).toBe(toHex(outer));
    expect(lsc72.SignalMessage.deserialize(Buffer.from(inner)).counter()).toBe(3);

    const v3Inner = appendMac(
      encodeSignalMessageBody({
        version: 3,
        ratchetKey,
        counter: 1,
        previousCounter: 0,
        ciphertext: new Uint8Array(16),
      }),
      new Uint8Array(8),
    );
    expect(v3Inner[0]).toBe(0x33);
    expect(lsc72.SignalMessage.deserialize(Buffer.from(v3Inner)).messageVersion()).toBe(3);
  });
});

describe('interop with @signalapp/libsignal-client 0.72.1 in a v3 session (bundle without Kyber)', async () => {
  const bobAddress = lsc72.ProtocolAddress.new('bob', 3);
  const alice = {
    sessions: new Lsc72Sessions(),
    ids: new Lsc72Identities(lsc72.IdentityKeyPair.generate(), 99),
  };
  const bobIdentity = lsc72.IdentityKeyPair.generate();
  const signedPreKey = lsc72.PrivateKey.generate();
  const signature = bobIdentity.privateKey.sign(signedPreKey.getPublicKey().serialize());
  const preKey = lsc72.PrivateKey.generate();
  const bundle = lsc72.PreKeyBundle.new(
    100,
    3,
    12,
    preKey.getPublicKey(),
    13,
    signedPreKey.getPublicKey(),
    signature,
    bobIdentity.publicKey,
  );
  await lsc72.processPreKeyBundle(bundle, bobAddress, alice.sessions, alice.ids);
  const sent = new Uint8Array(
    (await lsc72.signalEncrypt(text('v3 from 0.72'), bobAddress, alice.sessions, alice.ids)).serialize(),
  );

  it('writes 0x34 (session version 3, "current" version 4 in the low nibble); we read version 3', () => {
    expect(sent[0]).toBe(0x34);
    const ours = decodePreKeySignalMessage(sent);
    expect(ours).toMatchObject({ version: 3, registrationId: 99, preKeyId: 12, signedPreKeyId: 13 });
    expect(ours.kyberPreKeyId).toBeUndefined();
    expect(ours.message[0]).toBe(0x34);
    expect(decodeSignalMessage(ours.message).version).toBe(3);
  });

  it('re-encoding differs from its bytes only in the version byte (we write 0x33)', () => {
    const differingBytes = (a: Uint8Array, b: Uint8Array): number[] => {
      expect(b).toHaveLength(a.length);
      return [...a.keys()].filter((i) => a[i] !== b[i]);
    };
    // The outer encoder carries the inner message through untouched, so only byte 0 differs.
    const reencoded = reencodePreKey(sent);
    expect(differingBytes(sent, reencoded)).toEqual([0]);
    expect(reencoded[0]).toBe(0x33);
    // Re-encoding the inner message changes its version byte too — which the MAC covers; this is
    // why decodeSignalMessage hands back the received body for MAC checks instead of re-encoding.
    const inner = decodePreKeySignalMessage(sent).message;
    expect(differingBytes(inner, reencodeSignal(inner))).toEqual([0]);
  });
});

// ---------------------------------------------------------------------------------------------
// libsignal@6.0.0 (libsignal-node fork, v3). Its typings omit keyhelper/curve, so type locally.

interface KeyPair {
  pubKey: Buffer;
  privKey: Buffer;
}
interface Libsignal6 {
  ProtocolAddress: new (name: string, deviceId: number) => { toString(): string };
  SessionBuilder: new (
    storage: unknown,
    address: unknown,
  ) => { initOutgoing(device: unknown): Promise<void> };
  SessionCipher: new (
    storage: unknown,
    address: unknown,
  ) => {
    encrypt(data: Buffer): Promise<{ type: number; body: Buffer; registrationId: number }>;
    decryptPreKeyWhisperMessage(data: Uint8Array): Promise<Buffer>;
    decryptWhisperMessage(data: Uint8Array): Promise<Buffer>;
  };
  keyhelper: {
    generateIdentityKeyPair(): KeyPair;
    generateSignedPreKey(
      identity: KeyPair,
      keyId: number,
    ): { keyId: number; keyPair: KeyPair; signature: Buffer };
    generatePreKey(keyId: number): { keyId: number; keyPair: KeyPair };
  };
}
const libsignal6 = createRequire(import.meta.url)('libsignal-6') as Libsignal6;

function libsignal6Storage(identity: KeyPair, registrationId: number) {
  const sessions = new Map<string, unknown>();
  const preKeys = new Map<number, KeyPair>();
  const signedPreKeys = new Map<number, KeyPair>();
  return {
    preKeys,
    signedPreKeys,
    async loadSession(id: string) {
      return sessions.get(id);
    },
    async storeSession(id: string, record: unknown) {
      sessions.set(id, record);
    },
    isTrustedIdentity: () => true,
    async loadPreKey(id: number) {
      return preKeys.get(Number(id));
    },
    removePreKey(id: number) {
      preKeys.delete(id);
    },
    loadSignedPreKey(id: number) {
      return signedPreKeys.get(Number(id));
    },
    getOurRegistrationId: () => registrationId,
    getOurIdentity: () => identity,
  };
}

describe('interop with libsignal@6.0.0 (v3)', async () => {
  const aliceIdentity = libsignal6.keyhelper.generateIdentityKeyPair();
  const bobIdentity = libsignal6.keyhelper.generateIdentityKeyPair();
  const alice = libsignal6Storage(aliceIdentity, 555);
  const bob = libsignal6Storage(bobIdentity, 666);
  const signed = libsignal6.keyhelper.generateSignedPreKey(bobIdentity, 3);
  const oneTime = libsignal6.keyhelper.generatePreKey(300);
  bob.signedPreKeys.set(3, signed.keyPair);
  bob.preKeys.set(300, oneTime.keyPair);
  const aliceAddress = new libsignal6.ProtocolAddress('alice', 1);
  const bobAddress = new libsignal6.ProtocolAddress('bob', 1);
  await new libsignal6.SessionBuilder(alice, bobAddress).initOutgoing({
    registrationId: 666,
    identityKey: bobIdentity.pubKey,
    signedPreKey: { keyId: 3, publicKey: signed.keyPair.pubKey, signature: signed.signature },
    preKey: { keyId: 300, publicKey: oneTime.keyPair.pubKey },
  });
  const sent = await new libsignal6.SessionCipher(alice, bobAddress).encrypt(text('hi from node'));
  const preKeyBytes = new Uint8Array(sent.body);
  await new libsignal6.SessionCipher(bob, aliceAddress).decryptPreKeyWhisperMessage(Buffer.from(preKeyBytes));
  const replied = await new libsignal6.SessionCipher(bob, aliceAddress).encrypt(text('reply from node'));
  const reply = new Uint8Array(replied.body);

  it('its PreKeyWhisperMessage decodes and re-encodes to the same bytes', () => {
    expect(sent.type).toBe(3);
    expect(preKeyBytes[0]).toBe(0x33);
    const ours = decodePreKeySignalMessage(preKeyBytes);
    expect(ours).toMatchObject({ version: 3, registrationId: 555, preKeyId: 300, signedPreKeyId: 3 });
    expect(toHex(ours.identityKey)).toBe(toHex(aliceIdentity.pubKey));
    expect(topLevelFieldOrder(preKeyBytes.subarray(1))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(toHex(reencodePreKey(preKeyBytes))).toBe(toHex(preKeyBytes));
    const inner = decodeSignalMessage(ours.message);
    expect(inner).toMatchObject({ version: 3, counter: 0, previousCounter: 0 });
    expect(toHex(reencodeSignal(ours.message))).toBe(toHex(ours.message));
  });

  it('its WhisperMessage (type 1 in the JS numbering) decodes and re-encodes to the same bytes', () => {
    expect(replied.type).toBe(1);
    expect(reply[0]).toBe(0x33);
    const ours = decodeSignalMessage(reply);
    expect(ours).toMatchObject({ version: 3, counter: 0, previousCounter: 0 });
    expect(topLevelFieldOrder(reply.subarray(1, reply.length - 8))).toEqual([1, 2, 3, 4]);
    expect(toHex(reencodeSignal(reply))).toBe(toHex(reply));
  });

  it('decrypts a prekey message whose bytes we re-encoded from our decoded fields', async () => {
    // A fresh session so that the re-encoded message is the first one Bob sees.
    const carol = libsignal6Storage(libsignal6.keyhelper.generateIdentityKeyPair(), 777);
    const dave = libsignal6Storage(libsignal6.keyhelper.generateIdentityKeyPair(), 888);
    const daveSigned = libsignal6.keyhelper.generateSignedPreKey(dave.getOurIdentity(), 9);
    dave.signedPreKeys.set(9, daveSigned.keyPair);
    const daveAddress = new libsignal6.ProtocolAddress('dave', 1);
    await new libsignal6.SessionBuilder(carol, daveAddress).initOutgoing({
      registrationId: 888,
      identityKey: dave.getOurIdentity().pubKey,
      signedPreKey: { keyId: 9, publicKey: daveSigned.keyPair.pubKey, signature: daveSigned.signature },
    });
    const message = await new libsignal6.SessionCipher(carol, daveAddress).encrypt(text('re-encoded'));
    const reencoded = reencodePreKey(new Uint8Array(message.body));
    const plaintext = await new libsignal6.SessionCipher(
      dave,
      new libsignal6.ProtocolAddress('carol', 1),
    ).decryptPreKeyWhisperMessage(Buffer.from(reencoded));
    expect(plaintext.toString('utf8')).toBe('re-encoded');
    expect(decodePreKeySignalMessage(reencoded).preKeyId).toBeUndefined();
  });
});
