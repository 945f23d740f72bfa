/**
 * A person whose devices run the current Signal library, `@signalapp/libsignal-client@0.103.0`
 * (installed as `lsc-0-103`): PQXDH with a Kyber prekey and, as every libsignal since 0.92, the
 * sparse post-quantum ratchet (SPQR) required. The gateway's default (`spqr: 'offer'`) meets it.
 * In groups the devices use the library's sender keys (`SenderKeyDistributionMessage`,
 * `groupEncrypt`/`groupDecrypt`, the `signal` format): a distribution message travels in the
 * content envelope over the 1:1 session, group messages as type-7 frames naming the group.
 * In-memory stores on the library's abstract store classes; the devices share one identity key.
 */
import type { InboundFrame, OutboundFrame, PreKeyBundle } from '@parley/core';
import {
  type ContentEnvelope,
  contentBytes,
  decodeMessagePlaintext,
  encodeMessagePlaintext,
} from '@parley/core/content';
import type { NetworkPerson, PersonLink, PersonMessage } from '@parley/core/testing';
import * as lsc from 'lsc-0-103';

const u8 = (bytes: Uint8Array) => Uint8Array.from(bytes);
const key = (address: lsc.ProtocolAddress) => `${address.name()}.${address.deviceId()}`;

interface Device {
  readonly deviceId: number;
  readonly address: lsc.ProtocolAddress;
  readonly sessionStore: lsc.SessionStore;
  readonly identityStore: lsc.IdentityKeyStore;
  readonly preKeyStore: lsc.PreKeyStore;
  readonly signedPreKeyStore: lsc.SignedPreKeyStore;
  readonly kyberPreKeyStore: lsc.KyberPreKeyStore;
  readonly senderKeyStore: lsc.SenderKeyStore;
  /** The device's distribution id per group (one chain per group; Signal keeps one per conversation). */
  readonly distributionIds: Map<string, string>;
  /** Chains this device sent to a business number: `number/group/chainId`. */
  readonly distributed: Set<string>;
  nextKeyId: number;
}

function createDevice(phoneNumber: string, deviceId: number, identity: lsc.IdentityKeyPair): Device {
  const registrationId = 1 + Math.floor(Math.random() * 16_380);
  const sessions = new Map<string, Uint8Array>();
  const identities = new Map<string, Uint8Array>();
  const preKeys = new Map<number, lsc.PreKeyRecord>();
  const signedPreKeys = new Map<number, lsc.SignedPreKeyRecord>();
  const kyberPreKeys = new Map<number, lsc.KyberPreKeyRecord>();
  const missing = (what: string, id: number) => new Error(`no ${what} ${id}`);

  class SessionStore extends lsc.SessionStore {
    async saveSession(address: lsc.ProtocolAddress, record: lsc.SessionRecord): Promise<void> {
      sessions.set(key(address), record.serialize());
    }
    async getSession(address: lsc.ProtocolAddress): Promise<lsc.SessionRecord | null> {
      const bytes = sessions.get(key(address));
      return bytes ? lsc.SessionRecord.deserialize(u8(bytes)) : null;
    }
    async getExistingSessions(addresses: lsc.ProtocolAddress[]): Promise<lsc.SessionRecord[]> {
      return Promise.all(
        addresses.map(async (address) => {
          const record = await this.getSession(address);
          if (!record) throw new Error(`no session for ${key(address)}`);
          return record;
        }),
      );
    }
  }

  class IdentityKeyStore extends lsc.IdentityKeyStore {
    async getIdentityKey(): Promise<lsc.PrivateKey> {
      return identity.privateKey;
    }
    async getLocalRegistrationId(): Promise<number> {
      return registrationId;
    }
    async saveIdentity(address: lsc.ProtocolAddress, publicKey: lsc.PublicKey): Promise<lsc.IdentityChange> {
      const previous = identities.get(key(address));
      const bytes = publicKey.serialize();
      identities.set(key(address), bytes);
      const replaced = previous !== undefined && Buffer.compare(previous, bytes) !== 0;
      return replaced ? lsc.IdentityChange.ReplacedExisting : lsc.IdentityChange.NewOrUnchanged;
    }
    async isTrustedIdentity(): Promise<boolean> {
      // The gateway is the only peer here; a real client would pin identities.
      return true;
    }
    async getIdentity(address: lsc.ProtocolAddress): Promise<lsc.PublicKey | null> {
      const bytes = identities.get(key(address));
      return bytes ? lsc.PublicKey.deserialize(u8(bytes)) : null;
    }
  }

  class PreKeyStore extends lsc.PreKeyStore {
    async savePreKey(id: number, record: lsc.PreKeyRecord): Promise<void> {
      preKeys.set(id, record);
    }
    async getPreKey(id: number): Promise<lsc.PreKeyRecord> {
      const record = preKeys.get(id);
      if (!record) throw missing('prekey', id);
      return record;
    }
    async removePreKey(id: number): Promise<void> {
      preKeys.delete(id);
    }
  }

  class SignedPreKeyStore extends lsc.SignedPreKeyStore {
    async saveSignedPreKey(id: number, record: lsc.SignedPreKeyRecord): Promise<void> {
      signedPreKeys.set(id, record);
    }
    async getSignedPreKey(id: number): Promise<lsc.SignedPreKeyRecord> {
      const record = signedPreKeys.get(id);
      if (!record) throw missing('signed prekey', id);
      return record;
    }
  }

  class KyberPreKeyStore extends lsc.KyberPreKeyStore {
    async saveKyberPreKey(id: number, record: lsc.KyberPreKeyRecord): Promise<void> {
      kyberPreKeys.set(id, record);
    }
    async getKyberPreKey(id: number): Promise<lsc.KyberPreKeyRecord> {
      const record = kyberPreKeys.get(id);
      if (!record) throw missing('Kyber prekey', id);
      return record;
    }
    async markKyberPreKeyUsed(id: number): Promise<void> {
      kyberPreKeys.delete(id);
    }
  }

  const senderKeys = new Map<string, Uint8Array>();
  class SenderKeyStore extends lsc.SenderKeyStore {
    async saveSenderKey(sender: lsc.ProtocolAddress, distributionId: string, record: lsc.SenderKeyRecord) {
      senderKeys.set(`${key(sender)}::${distributionId}`, record.serialize());
    }
    async getSenderKey(sender: lsc.ProtocolAddress, distributionId: string) {
      const bytes = senderKeys.get(`${key(sender)}::${distributionId}`);
      return bytes ? lsc.SenderKeyRecord.deserialize(u8(bytes)) : null;
    }
  }

  return {
    deviceId,
    address: lsc.ProtocolAddress.new(phoneNumber, deviceId),
    senderKeyStore: new SenderKeyStore(),
    distributionIds: new Map(),
    distributed: new Set(),
    sessionStore: new SessionStore(),
    identityStore: new IdentityKeyStore(),
    preKeyStore: new PreKeyStore(),
    signedPreKeyStore: new SignedPreKeyStore(),
    kyberPreKeyStore: new KyberPreKeyStore(),
    nextKeyId: 1,
  };
}

export class LibsignalCurrentPerson implements NetworkPerson {
  readonly kind = '@signalapp/libsignal-client@0.103.0';
  readonly received: PersonMessage[] = [];
  private link: PersonLink | undefined;
  private frames = 0;

  private constructor(
    readonly phoneNumber: string,
    private readonly identity: lsc.IdentityKeyPair,
    private readonly devices: Device[],
  ) {}

  static create(phoneNumber: string, deviceCount: number): LibsignalCurrentPerson {
    const identity = lsc.IdentityKeyPair.generate();
    const devices = Array.from({ length: deviceCount }, (_, i) => createDevice(phoneNumber, i + 1, identity));
    return new LibsignalCurrentPerson(phoneNumber, identity, devices);
  }

  get deviceIds(): number[] {
    return this.devices.map((device) => device.deviceId);
  }

  attach(link: PersonLink): void {
    this.link = link;
  }

  /** A bundle with a one-time prekey and a Kyber prekey (libsignal ≥ 0.75 requires one). */
  async bundle(deviceId: number): Promise<PreKeyBundle> {
    const device = this.device(deviceId);
    const now = Date.now();
    const signedId = device.nextKeyId++;
    const signedPrivate = lsc.PrivateKey.generate();
    const signedPublic = signedPrivate.getPublicKey();
    const signedSignature = this.identity.privateKey.sign(signedPublic.serialize());
    await device.signedPreKeyStore.saveSignedPreKey(
      signedId,
      lsc.SignedPreKeyRecord.new(signedId, now, signedPublic, signedPrivate, signedSignature),
    );
    const preKeyId = device.nextKeyId++;
    const preKeyPrivate = lsc.PrivateKey.generate();
    await device.preKeyStore.savePreKey(
      preKeyId,
      lsc.PreKeyRecord.new(preKeyId, preKeyPrivate.getPublicKey(), preKeyPrivate),
    );
    const kyberId = device.nextKeyId++;
    const kyberPair = lsc.KEMKeyPair.generate();
    const kyberPublic = kyberPair.getPublicKey().serialize();
    const kyberSignature = this.identity.privateKey.sign(kyberPublic);
    await device.kyberPreKeyStore.saveKyberPreKey(
      kyberId,
      lsc.KyberPreKeyRecord.new(kyberId, now, kyberPair, kyberSignature),
    );
    return {
      registrationId: await device.identityStore.getLocalRegistrationId(),
      deviceId,
      identityKey: u8(this.identity.publicKey.serialize()),
      signedPreKeyId: signedId,
      signedPreKey: u8(signedPublic.serialize()),
      signedPreKeySignature: u8(signedSignature),
      preKeyId,
      preKey: u8(preKeyPrivate.getPublicKey().serialize()),
      kyberPreKeyId: kyberId,
      kyberPreKey: u8(kyberPublic),
      kyberPreKeySignature: u8(kyberSignature),
    };
  }

  /** Encrypts to a business number (PQXDH from the directory's bundle first if needed). */
  async send(
    to: string,
    content: string | ContentEnvelope,
    options: { readonly deviceId?: number } = {},
  ): Promise<OutboundFrame> {
    const frame = await this.encryptTo(
      this.device(options.deviceId ?? 1),
      to,
      encodeMessagePlaintext(typeof content === 'string' ? { text: content } : content),
    );
    await this.requireLink().submitFrame(frame);
    return frame;
  }

  /**
   * A group message from one device: the device's distribution message for the group over the
   * 1:1 session first (once per chain), then `groupEncrypt` — one type-7 frame naming the group.
   */
  async sendToGroup(
    to: string,
    group: string,
    text: string,
    options: { readonly deviceId?: number } = {},
  ): Promise<InboundFrame> {
    const link = this.requireLink();
    const device = this.device(options.deviceId ?? 1);
    let distributionId = device.distributionIds.get(group);
    if (!distributionId) {
      distributionId = globalThis.crypto.randomUUID();
      device.distributionIds.set(group, distributionId);
    }
    const distribution = await lsc.SenderKeyDistributionMessage.create(
      device.address,
      distributionId,
      device.senderKeyStore,
    );
    const sent = `${to}/${group}/${distribution.chainId()}`;
    if (!device.distributed.has(sent)) {
      const envelope = { senderKeyDistribution: { groupId: group, message: u8(distribution.serialize()) } };
      await link.submitFrame(await this.encryptTo(device, to, encodeMessagePlaintext(envelope)));
      device.distributed.add(sent);
    }
    const message = await lsc.groupEncrypt(
      device.address,
      distributionId,
      device.senderKeyStore,
      u8(encodeMessagePlaintext({ text, group: { groupId: group } })),
    );
    this.frames += 1;
    const frame: InboundFrame = {
      frameId: `lsc-${this.frames}`,
      to,
      from: this.phoneNumber,
      deviceId: device.deviceId,
      type: 7,
      groupId: group,
      body: u8(message.serialize()),
      timestamp: Date.now(),
    };
    await link.submitFrame(frame);
    return frame;
  }

  /** A 1:1 frame to a business number, starting the session from the directory's bundle if needed. */
  private async encryptTo(device: Device, to: string, plaintext: Uint8Array): Promise<OutboundFrame> {
    const link = this.requireLink();
    const business = lsc.ProtocolAddress.new(to, 1);
    const record = await device.sessionStore.getSession(business);
    if (!record?.hasCurrentState()) {
      const bundle = await link.businessBundle(to);
      if (!bundle.kyberPreKey || bundle.kyberPreKeyId === undefined || !bundle.kyberPreKeySignature) {
        throw new Error('libsignal-client 0.103.0 needs a Kyber prekey in the business bundle');
      }
      const pub = (bytes: Uint8Array) => lsc.PublicKey.deserialize(u8(bytes));
      await lsc.processPreKeyBundle(
        lsc.PreKeyBundle.new(
          bundle.registrationId,
          bundle.deviceId,
          bundle.preKeyId ?? null,
          bundle.preKey ? pub(bundle.preKey) : null,
          bundle.signedPreKeyId,
          pub(bundle.signedPreKey),
          u8(bundle.signedPreKeySignature),
          pub(bundle.identityKey),
          bundle.kyberPreKeyId,
          lsc.KEMPublicKey.deserialize(u8(bundle.kyberPreKey)),
          u8(bundle.kyberPreKeySignature),
        ),
        business,
        device.address,
        device.sessionStore,
        device.identityStore,
      );
    }
    const message = await lsc.signalEncrypt(
      u8(plaintext),
      business,
      device.address,
      device.sessionStore,
      device.identityStore,
    );
    this.frames += 1;
    return {
      frameId: `lsc-${this.frames}`,
      to,
      from: this.phoneNumber,
      deviceId: device.deviceId,
      type: message.type() === 3 ? (3 as const) : (2 as const),
      body: u8(message.serialize()),
      timestamp: Date.now(),
    };
  }

  /**
   * A frame from the gateway: a 1:1 message (a distribution message in its envelope is given to
   * `processSenderKeyDistributionMessage`) or a group message (`groupDecrypt`). A group message
   * the device has no sender key for is reported to the business, as a Signal client answers
   * with a decryption-error message.
   */
  async receive(frame: OutboundFrame): Promise<PersonMessage> {
    const device = this.device(frame.deviceId);
    const from = lsc.ProtocolAddress.new(frame.from, 1);
    const body = u8(frame.body);
    if (frame.type === 8) throw new Error('this client does not read decryption-error messages (type 8)');
    let padded: Uint8Array;
    if (frame.type === 7) {
      try {
        padded = await lsc.groupDecrypt(from, device.senderKeyStore, body);
      } catch (error) {
        if (/sender key/i.test(String((error as Error)?.message))) {
          await this.link?.reportMissingSenderKey?.({
            frameId: frame.frameId,
            from: this.phoneNumber,
            deviceId: frame.deviceId,
          });
        }
        throw error;
      }
    } else {
      padded =
        frame.type === 3
          ? await lsc.signalDecryptPreKey(
              lsc.PreKeySignalMessage.deserialize(body),
              from,
              device.address,
              device.sessionStore,
              device.identityStore,
              device.preKeyStore,
              device.signedPreKeyStore,
              device.kyberPreKeyStore,
            )
          : await lsc.signalDecrypt(
              lsc.SignalMessage.deserialize(body),
              from,
              device.address,
              device.sessionStore,
              device.identityStore,
            );
    }
    const envelope = decodeMessagePlaintext(u8(padded));
    const distribution = frame.type === 7 ? undefined : envelope.senderKeyDistribution;
    if (distribution) {
      await lsc.processSenderKeyDistributionMessage(
        from,
        lsc.SenderKeyDistributionMessage.deserialize(u8(distribution.message)),
        device.senderKeyStore,
      );
    }
    const group = frame.type === 7 ? frame.groupId : envelope.group?.groupId;
    const content = contentBytes(envelope);
    const only = distribution !== undefined && envelope.text === undefined && envelope.bytes === undefined;
    const message: PersonMessage = {
      from: frame.from,
      deviceId: device.deviceId,
      frameId: frame.frameId,
      content,
      text: envelope.text ?? new TextDecoder().decode(content),
      ...(group === undefined || only ? {} : { group }),
      ...(only ? { distribution: distribution.groupId } : {}),
      ...(envelope.media === undefined ? {} : { media: envelope.media }),
    };
    if (!only) this.received.push(message);
    await this.link?.submitReceipt({ frameId: frame.frameId });
    return message;
  }

  /** Texts of one group, in the order the devices read them. */
  textsOf(group: string): string[] {
    return this.received.filter((message) => message.group === group).map((message) => message.text);
  }

  textsFrom(number: string): string[] {
    return this.received.filter((message) => message.from === number).map((message) => message.text);
  }

  private requireLink(): PersonLink {
    if (!this.link) throw new Error('the person is not on a network');
    return this.link;
  }

  private device(deviceId: number): Device {
    const device = this.devices.find((candidate) => candidate.deviceId === deviceId);
    if (!device) throw new Error('no such device');
    return device;
  }
}
