/**
 * A person whose devices run `libsignal@6.0.0` (libsignal-node, the fork WhatsApp-Web
 * tooling uses) instead of Parley: proof that a Parley-served business talks to an
 * independent implementation. X3DH (v3) only; its devices share one identity key.
 *
 * Library quirks (`Buffer`s everywhere, a whisper message numbered 1 where libsignal says 2) and
 * the typed slice of its API are in ./shared/libsignal-node.ts, shared with the libsignal-peer example.
 */
import type { OutboundFrame, PreKeyBundle } from '@parley/core';
import {
  type ContentEnvelope,
  contentBytes,
  decodeMessagePlaintext,
  encodeMessagePlaintext,
} from '@parley/core/content';
import type { NetworkPerson, PersonLink, PersonMessage } from '@parley/core/testing';
import {
  createMemoryDevice,
  decrypt,
  type KeyPair,
  libsignal,
  type MemoryDevice,
  startSession,
} from './shared/libsignal-node.js';

interface Device extends MemoryDevice {
  readonly deviceId: number;
}

export class LibsignalPerson implements NetworkPerson {
  readonly kind = 'libsignal@6.0.0';
  readonly received: PersonMessage[] = [];
  private link: PersonLink | undefined;
  private frames = 0;

  private constructor(
    readonly phoneNumber: string,
    private readonly devices: Device[],
  ) {}

  /** Devices share one identity key pair; each has its own registration id and stores. */
  static create(phoneNumber: string, deviceCount: number): LibsignalPerson {
    const identity = libsignal.keyhelper.generateIdentityKeyPair();
    const devices = Array.from({ length: deviceCount }, (_, index) => createDevice(index + 1, identity));
    return new LibsignalPerson(phoneNumber, devices);
  }

  get deviceIds(): number[] {
    return this.devices.map((device) => device.deviceId);
  }

  attach(link: PersonLink): void {
    this.link = link;
  }

  async bundle(deviceId: number): Promise<PreKeyBundle> {
    const device = this.device(deviceId);
    const identity = await device.storage.getOurIdentity();
    const signed = device.newSignedPreKey();
    const pre = device.newPreKey();
    return {
      registrationId: await device.storage.getOurRegistrationId(),
      deviceId,
      identityKey: new Uint8Array(identity.pubKey),
      signedPreKeyId: signed.keyId,
      signedPreKey: new Uint8Array(signed.keyPair.pubKey),
      signedPreKeySignature: new Uint8Array(signed.signature),
      preKeyId: pre.keyId,
      preKey: new Uint8Array(pre.keyPair.pubKey),
    };
  }

  /** Encrypts to a business number (X3DH from the directory's bundle first if needed) and hands the frame to the network. */
  async send(
    to: string,
    content: string | ContentEnvelope,
    options: { readonly deviceId?: number } = {},
  ): Promise<OutboundFrame> {
    const link = this.link;
    if (!link) throw new Error('the person is not on a network');
    const device = this.device(options.deviceId ?? 1);
    const address = new libsignal.ProtocolAddress(to, 1);
    if (!(await new libsignal.SessionCipher(device.storage, address).hasOpenSession())) {
      // This library speaks X3DH only: ask the directory for a bundle without Kyber.
      await startSession(device.storage, address, await link.businessBundle(to));
    }
    const out = await new libsignal.SessionCipher(device.storage, address).encrypt(
      Buffer.from(encodeMessagePlaintext(typeof content === 'string' ? { text: content } : content)),
    );
    this.frames += 1;
    const frame = {
      frameId: `ls-${this.frames}`,
      to,
      from: this.phoneNumber,
      deviceId: device.deviceId,
      type: out.type === 3 ? (3 as const) : (2 as const),
      body: new Uint8Array(out.body),
      timestamp: Date.now(),
    };
    await link.submitFrame(frame);
    return frame;
  }

  async receive(frame: OutboundFrame): Promise<PersonMessage> {
    const device = this.device(frame.deviceId);
    const from = new libsignal.ProtocolAddress(frame.from, 1);
    if (frame.type === 7) throw new Error('this person takes part in no group');
    if (frame.type === 8) throw new Error('this client does not read decryption-error messages (type 8)');
    const padded = await decrypt(device.storage, from, frame.type, Buffer.from(frame.body));
    const envelope = decodeMessagePlaintext(new Uint8Array(padded));
    const content = contentBytes(envelope);
    const message: PersonMessage = {
      from: frame.from,
      deviceId: device.deviceId,
      frameId: frame.frameId,
      content,
      text: envelope.text ?? new TextDecoder().decode(content),
      ...(envelope.media === undefined ? {} : { media: envelope.media }),
    };
    this.received.push(message);
    await this.link?.submitReceipt({ frameId: frame.frameId });
    return message;
  }

  textsFrom(number: string): string[] {
    return this.received.filter((message) => message.from === number).map((message) => message.text);
  }

  private device(deviceId: number): Device {
    const device = this.devices.find((candidate) => candidate.deviceId === deviceId);
    if (!device) throw new Error('no such device');
    return device;
  }
}

function createDevice(deviceId: number, identity: KeyPair): Device {
  const registrationId = libsignal.keyhelper.generateRegistrationId();
  // The gateway is the only peer here; a real client would pin identities.
  const device = createMemoryDevice({ identity, registrationId, isTrustedIdentity: () => true });
  return { deviceId, ...device };
}
