/**
 * A person's device on real `@signalapp/libsignal-client` (0.103.0 with SPQR, or 0.90.0) that
 * handles retries the way Signal's clients do (Signal-Desktop `handleRetry.ts`,
 * Signal-Android's retry-receipt handling):
 * - a frame it cannot decrypt is answered with libsignal's own
 *   `DecryptionErrorMessage.forOriginal(...)` in a `PlaintextContent` (type 8);
 * - a type-8 frame is read with libsignal's `PlaintextContent.deserialize` and
 *   `DecryptionErrorMessage.extractFromSerializedBody`; when it names this device and its
 *   ratchet key is the current session's (`currentRatchetKeyMatches`), the session is archived
 *   (`archiveCurrentState`); the message it names is found in the send log by timestamp and sent
 *   again — from a fresh bundle when there is no session.
 * Every byte on the wire is libsignal's; only the bookkeeping around it is this file's.
 */

import * as lsc90 from 'lsc-0-90';
import * as lsc103 from 'lsc-0-103';
import {
  contentBytes,
  decodeMessagePlaintext,
  encodeMessagePlaintext,
} from '../../src/content/message-plaintext.js';
import type { OutboundFrame } from '../../src/gateway/types.js';
import type { PreKeyBundle } from '../../src/keys/prekeys.js';
import type {
  DecryptionErrorAnswer,
  NetworkPerson,
  PersonLink,
  PersonMessage,
} from '../../src/testing/simulated-person.js';

type Lsc = typeof lsc103;
const u8 = (bytes: Uint8Array) => Uint8Array.from(bytes);
const key = (address: lsc103.ProtocolAddress) => `${address.name()}.${address.deviceId()}`;

export type RetryingPersonKind = 'lsc-0.103.0' | 'lsc-0.90.0';

interface Shape {
  readonly api: Lsc;
  /** 0.103 takes the local address after the remote one in every session call. */
  readonly localAddress: boolean;
}

const SHAPES: Record<RetryingPersonKind, Shape> = {
  'lsc-0.103.0': { api: lsc103, localAddress: true },
  'lsc-0.90.0': { api: lsc90 as unknown as Lsc, localAddress: false },
};

export class LscRetryingPerson implements NetworkPerson {
  readonly received: PersonMessage[] = [];
  /** Frames this device could not decrypt (it answered each with a decryption error). */
  readonly failures: string[] = [];
  readonly deviceIds = [1];
  private link: PersonLink | undefined;
  private readonly sessions = new Map<string, Uint8Array>();
  private readonly identities = new Map<string, Uint8Array>();
  private readonly preKeys = new Map<number, lsc103.PreKeyRecord>();
  private readonly signedPreKeys = new Map<number, lsc103.SignedPreKeyRecord>();
  private readonly kyberPreKeys = new Map<number, lsc103.KyberPreKeyRecord>();
  private readonly registrationId = 1 + Math.floor(Math.random() * 16_380);
  private readonly identity: lsc103.IdentityKeyPair;
  private readonly address: lsc103.ProtocolAddress;
  private readonly stores: ReturnType<LscRetryingPerson['makeStores']>;
  /** Signal's message send log: what this device sent, by business number and timestamp. */
  private readonly sendLog = new Map<string, string>();
  private nextKeyId = 1;
  private frames = 0;
  private lastTimestamp = 0;
  private readonly api: Lsc;

  constructor(
    readonly kind: RetryingPersonKind,
    readonly phoneNumber: string,
    private readonly clock: { now(): number },
  ) {
    this.api = SHAPES[kind].api;
    this.identity = this.api.IdentityKeyPair.generate();
    this.address = this.api.ProtocolAddress.new(phoneNumber, 1);
    this.stores = this.makeStores();
  }

  attach(link: PersonLink): void {
    this.link = link;
  }

  /** A restored backup: keys and prekeys yes, sessions no (Signal's backups carry none). */
  loseSessions(): void {
    this.sessions.clear();
  }

  async bundle(): Promise<PreKeyBundle> {
    const api = this.api;
    const now = this.clock.now();
    const signedId = this.nextKeyId++;
    const signed = api.PrivateKey.generate();
    const signedSignature = this.identity.privateKey.sign(signed.getPublicKey().serialize());
    this.signedPreKeys.set(
      signedId,
      api.SignedPreKeyRecord.new(signedId, now, signed.getPublicKey(), signed, signedSignature),
    );
    const preKeyId = this.nextKeyId++;
    const preKey = api.PrivateKey.generate();
    this.preKeys.set(preKeyId, api.PreKeyRecord.new(preKeyId, preKey.getPublicKey(), preKey));
    const kyberId = this.nextKeyId++;
    const kyber = api.KEMKeyPair.generate();
    const kyberSignature = this.identity.privateKey.sign(kyber.getPublicKey().serialize());
    this.kyberPreKeys.set(kyberId, api.KyberPreKeyRecord.new(kyberId, now, kyber, kyberSignature));
    return {
      registrationId: this.registrationId,
      deviceId: 1,
      identityKey: u8(this.identity.publicKey.serialize()),
      signedPreKeyId: signedId,
      signedPreKey: u8(signed.getPublicKey().serialize()),
      signedPreKeySignature: u8(signedSignature),
      preKeyId,
      preKey: u8(preKey.getPublicKey().serialize()),
      kyberPreKeyId: kyberId,
      kyberPreKey: u8(kyber.getPublicKey().serialize()),
      kyberPreKeySignature: u8(kyberSignature),
    };
  }

  /** Encrypts a text to a business number (from the directory's bundle when there is no session) and sends it. */
  async send(to: string, text: string): Promise<void> {
    const timestamp = Math.max(this.clock.now(), this.lastTimestamp + 1);
    this.lastTimestamp = timestamp;
    this.sendLog.set(`${to}/${timestamp}`, text);
    await this.submit(to, text, timestamp);
  }

  /** Like `send`, but hands the frame back instead of to the network (to hold it up). */
  async encryptOnly(to: string, text: string): Promise<Parameters<PersonLink['submitFrame']>[0]> {
    const timestamp = Math.max(this.clock.now(), this.lastTimestamp + 1);
    this.lastTimestamp = timestamp;
    this.sendLog.set(`${to}/${timestamp}`, text);
    return this.frame(to, text, timestamp);
  }

  async receive(frame: OutboundFrame): Promise<PersonMessage> {
    const api = this.api;
    const business = api.ProtocolAddress.new(frame.from, 1);
    let padded: Uint8Array;
    try {
      padded =
        frame.type === 3
          ? await api.signalDecryptPreKey(
              api.PreKeySignalMessage.deserialize(u8(frame.body)),
              ...this.sessionArgs(business),
              this.stores.preKeys,
              this.stores.signedPreKeys,
              this.stores.kyberPreKeys,
            )
          : await api.signalDecrypt(
              api.SignalMessage.deserialize(u8(frame.body)),
              ...this.sessionArgs(business),
            );
    } catch (error) {
      this.failures.push(frame.frameId);
      // libsignal builds the error; the device sends it unencrypted (type 8) to the sender.
      const message = api.DecryptionErrorMessage.forOriginal(u8(frame.body), frame.type, frame.timestamp, 1);
      await this.requireLink().submitFrame({
        frameId: `lsc-${++this.frames}`,
        to: frame.from,
        from: this.phoneNumber,
        deviceId: 1,
        type: 8,
        body: u8(api.PlaintextContent.from(message).serialize()),
        timestamp: this.clock.now(),
      });
      throw error;
    }
    const envelope = decodeMessagePlaintext(u8(padded));
    const content = contentBytes(envelope);
    const message: PersonMessage = {
      from: frame.from,
      deviceId: 1,
      frameId: frame.frameId,
      content,
      text: envelope.text ?? new TextDecoder().decode(content),
    };
    this.received.push(message);
    await this.requireLink().submitReceipt({ frameId: frame.frameId });
    return message;
  }

  async receiveDecryptionError(frame: OutboundFrame): Promise<DecryptionErrorAnswer> {
    const api = this.api;
    const error = api.DecryptionErrorMessage.extractFromSerializedBody(
      api.PlaintextContent.deserialize(u8(frame.body)).body(),
    );
    if (error.deviceId() !== 1) return { resent: false, sessionArchived: false };
    const business = api.ProtocolAddress.new(frame.from, 1);
    let sessionArchived = false;
    const ratchetKey = error.ratchetKey();
    const record = await this.stores.sessions.getSession(business);
    if (ratchetKey && record?.currentRatchetKeyMatches(ratchetKey)) {
      record.archiveCurrentState();
      await this.stores.sessions.saveSession(business, record);
      sessionArchived = true;
    }
    const text = this.sendLog.get(`${frame.from}/${error.timestamp()}`);
    if (text === undefined) return { resent: false, sessionArchived };
    await this.submit(frame.from, text, error.timestamp());
    return { resent: true, sessionArchived };
  }

  textsFrom(number: string): string[] {
    return this.received.filter((message) => message.from === number).map((message) => message.text);
  }

  private async submit(to: string, text: string, timestamp: number): Promise<void> {
    await this.requireLink().submitFrame(await this.frame(to, text, timestamp));
  }

  private async frame(to: string, text: string, timestamp: number) {
    const api = this.api;
    const business = api.ProtocolAddress.new(to, 1);
    const record = await this.stores.sessions.getSession(business);
    if (!record?.hasCurrentState()) {
      const b = await this.requireLink().businessBundle(to);
      const pub = (bytes: Uint8Array) => api.PublicKey.deserialize(u8(bytes));
      await api.processPreKeyBundle(
        api.PreKeyBundle.new(
          b.registrationId,
          b.deviceId,
          b.preKeyId ?? null,
          b.preKey ? pub(b.preKey) : null,
          b.signedPreKeyId,
          pub(b.signedPreKey),
          u8(b.signedPreKeySignature),
          pub(b.identityKey),
          b.kyberPreKeyId!,
          api.KEMPublicKey.deserialize(u8(b.kyberPreKey!)),
          u8(b.kyberPreKeySignature!),
        ),
        ...this.sessionArgs(business),
      );
    }
    const message = await api.signalEncrypt(
      u8(encodeMessagePlaintext({ text })),
      ...this.sessionArgs(business),
    );
    return {
      frameId: `lsc-${++this.frames}`,
      to,
      from: this.phoneNumber,
      deviceId: 1,
      type: message.type() === 3 ? (3 as const) : (2 as const),
      body: u8(message.serialize()),
      timestamp,
    };
  }

  /** remote, [local,] session store, identity store — as this version takes them. */
  private sessionArgs(remote: lsc103.ProtocolAddress): [never, never, never, never] {
    const args = SHAPES[this.kind].localAddress
      ? [remote, this.address, this.stores.sessions, this.stores.identities]
      : [remote, this.stores.sessions, this.stores.identities];
    return args as unknown as [never, never, never, never];
  }

  private requireLink(): PersonLink {
    if (!this.link) throw new Error('the person is not on a network');
    return this.link;
  }

  private makeStores() {
    const api = this.api;
    const { sessions, identities, preKeys, signedPreKeys, kyberPreKeys, identity, registrationId } = this;
    const missing = (what: string, id: number) => new Error(`no ${what} ${id}`);
    class SessionStore extends api.SessionStore {
      async saveSession(address: lsc103.ProtocolAddress, record: lsc103.SessionRecord): Promise<void> {
        sessions.set(key(address), u8(record.serialize()));
      }
      async getSession(address: lsc103.ProtocolAddress): Promise<lsc103.SessionRecord | null> {
        const bytes = sessions.get(key(address));
        return bytes ? api.SessionRecord.deserialize(u8(bytes)) : null;
      }
      async getExistingSessions(addresses: lsc103.ProtocolAddress[]): Promise<lsc103.SessionRecord[]> {
        return Promise.all(
          addresses.map(async (a) => (await this.getSession(a)) ?? Promise.reject(new Error('no session'))),
        );
      }
    }
    class IdentityKeyStore extends api.IdentityKeyStore {
      async getIdentityKey(): Promise<lsc103.PrivateKey> {
        return identity.privateKey;
      }
      async getLocalRegistrationId(): Promise<number> {
        return registrationId;
      }
      async saveIdentity(
        address: lsc103.ProtocolAddress,
        publicKey: lsc103.PublicKey,
      ): Promise<lsc103.IdentityChange> {
        const previous = identities.get(key(address));
        const bytes = u8(publicKey.serialize());
        identities.set(key(address), bytes);
        return previous !== undefined && Buffer.compare(previous, bytes) !== 0
          ? api.IdentityChange.ReplacedExisting
          : api.IdentityChange.NewOrUnchanged;
      }
      async isTrustedIdentity(
        address: lsc103.ProtocolAddress,
        publicKey: lsc103.PublicKey,
      ): Promise<boolean> {
        // Trust on first use, as a client pins the business's identity.
        const known = identities.get(key(address));
        return known === undefined || Buffer.compare(known, u8(publicKey.serialize())) === 0;
      }
      async getIdentity(address: lsc103.ProtocolAddress): Promise<lsc103.PublicKey | null> {
        const bytes = identities.get(key(address));
        return bytes ? api.PublicKey.deserialize(u8(bytes)) : null;
      }
    }
    class PreKeyStore extends api.PreKeyStore {
      async savePreKey(id: number, record: lsc103.PreKeyRecord): Promise<void> {
        preKeys.set(id, record);
      }
      async getPreKey(id: number): Promise<lsc103.PreKeyRecord> {
        return preKeys.get(id) ?? Promise.reject(missing('prekey', id));
      }
      async removePreKey(id: number): Promise<void> {
        preKeys.delete(id);
      }
    }
    class SignedPreKeyStore extends api.SignedPreKeyStore {
      async saveSignedPreKey(id: number, record: lsc103.SignedPreKeyRecord): Promise<void> {
        signedPreKeys.set(id, record);
      }
      async getSignedPreKey(id: number): Promise<lsc103.SignedPreKeyRecord> {
        return signedPreKeys.get(id) ?? Promise.reject(missing('signed prekey', id));
      }
    }
    class KyberPreKeyStore extends api.KyberPreKeyStore {
      async saveKyberPreKey(id: number, record: lsc103.KyberPreKeyRecord): Promise<void> {
        kyberPreKeys.set(id, record);
      }
      async getKyberPreKey(id: number): Promise<lsc103.KyberPreKeyRecord> {
        return kyberPreKeys.get(id) ?? Promise.reject(missing('Kyber prekey', id));
      }
      async markKyberPreKeyUsed(id: number): Promise<void> {
        kyberPreKeys.delete(id);
      }
    }
    return {
      sessions: new SessionStore(),
      identities: new IdentityKeyStore(),
      preKeys: new PreKeyStore(),
      signedPreKeys: new SignedPreKeyStore(),
      kyberPreKeys: new KyberPreKeyStore(),
    };
  }
}
