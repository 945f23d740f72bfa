import { concatBytes, toHex } from '../bytes.js';
import type { ContentEnvelope } from '../content/content-envelope.js';
import {
  contentBytes,
  decodeMessagePlaintext,
  encodeMessagePlaintext,
} from '../content/message-plaintext.js';
import { DEFAULT_PADDING_BLOCK } from '../content/padding.js';
import { createPortableCrypto } from '../crypto/portable.js';
import type { CryptoProvider, RandomSource } from '../crypto/provider.js';
import { defaultRandom } from '../crypto/random.js';
import { ParleyError } from '../errors.js';
import type { MediaTransport } from '../gateway/media-options.js';
import type { DeliveryReceipt, InboundFrame, OutboundFrame } from '../gateway/types.js';
import type { PreKeyBundle } from '../keys/prekeys.js';
import { readBytes } from '../media/byte-source.js';
import { decryptMedia, encryptMedia } from '../media/media-bytes.js';
import { createMediaPointer, type MediaPointer } from '../media/media-pointer.js';
import type { MediaType } from '../media/media-type.js';
import type { ProtocolAddress } from '../session/address.js';
import { SessionManager } from '../session/session-manager.js';
import { type Clock, type Store, systemClock } from '../storage/contract.js';
import { createMemoryStore } from '../storage/memory.js';

/** A business number's only device: the gateway publishes every number as device 1. */
const BUSINESS_DEVICE_ID = 1;

/** One of the person's phones or linked computers. */
export interface PersonDevice {
  readonly deviceId: number;
  readonly sessions: SessionManager;
}

/** A message one of the person's devices decrypted. */
export interface PersonMessage {
  /** Business number it came from. */
  readonly from: string;
  readonly deviceId: number;
  readonly frameId: string;
  readonly content: Uint8Array;
  /** `content` as UTF-8. */
  readonly text: string;
  /** A media file's pointer, when the message carried one (fetch it with `downloadMedia`). */
  readonly media?: MediaPointer | undefined;
}

/** How a person reaches the network: the key directory and the two uplinks. */
export interface PersonLink {
  /** A business number's prekey bundle (consumes one of its one-time prekeys). */
  businessBundle(number: string): PreKeyBundle | Promise<PreKeyBundle>;
  submitFrame(frame: InboundFrame): void | Promise<void>;
  submitReceipt(receipt: DeliveryReceipt): void | Promise<void>;
  /** The network's media host, where a client puts the blobs it sends and gets the ones it receives. */
  readonly media?: MediaTransport;
}

/**
 * What the network needs from a person's client: a {@link SimulatedPerson}, or an adapter
 * over another Signal-protocol implementation.
 */
export interface NetworkPerson {
  readonly phoneNumber: string;
  readonly deviceIds: readonly number[];
  attach(link: PersonLink): void;
  /** A fresh prekey bundle of one device (served by the directory to the gateway). */
  bundle(deviceId: number): Promise<PreKeyBundle>;
  /** A frame from the gateway for one of the person's devices. */
  receive(frame: OutboundFrame): Promise<PersonMessage>;
}

export interface SimulatedPersonOptions {
  /** E.164; used only for routing, as on a real network. */
  readonly phoneNumber: string;
  /** Device ids (default `[1]`), or how many devices to number from 1. */
  readonly devices?: number | readonly number[];
  readonly crypto?: CryptoProvider;
  readonly random?: RandomSource;
  readonly clock?: Clock;
  /** Store of one device (default: a memory store each). */
  readonly createStore?: (deviceId: number) => Store;
  /** Padding block the business's gateway uses (default 160); `false` when it does not pad. */
  readonly padding?: number | false;
  /** Send a delivery receipt for each decrypted frame (default true). */
  readonly autoReceipts?: boolean;
}

export interface SendOptions {
  readonly deviceId?: number;
}

/** A file a person sends: what it is, and the text shown with it. */
export interface PersonMediaOptions extends SendOptions {
  readonly type: MediaType;
  readonly mimetype: string;
  readonly caption?: string;
  readonly fileName?: string;
}

/**
 * A person's messaging client: several devices, each its own {@link SessionManager}, sharing
 * one identity key as linked Signal devices do. It starts sessions from a business number's
 * bundle, encrypts to the business, decrypts what the gateway sends and answers with
 * delivery receipts.
 */
export class SimulatedPerson implements NetworkPerson {
  readonly phoneNumber: string;
  readonly devices: readonly PersonDevice[];
  /** Everything the person's devices decrypted, in order. */
  readonly received: PersonMessage[] = [];
  autoReceipts: boolean;
  private readonly random: RandomSource;
  private readonly crypto: CryptoProvider;
  private readonly padding: number | false;
  private readonly preKeyIds = new Map<number, number>();
  private link: PersonLink | undefined;

  /** Use {@link createSimulatedPerson}, which also creates the identity. */
  constructor(
    options: Omit<SimulatedPersonOptions, 'devices'> & {
      readonly devices: readonly PersonDevice[];
      readonly random: RandomSource;
    },
  ) {
    this.phoneNumber = options.phoneNumber;
    this.devices = options.devices;
    this.random = options.random;
    this.crypto = options.crypto ?? createPortableCrypto();
    this.padding = options.padding ?? DEFAULT_PADDING_BLOCK;
    this.autoReceipts = options.autoReceipts ?? true;
  }

  get deviceIds(): number[] {
    return this.devices.map((device) => device.deviceId);
  }

  device(deviceId = this.devices[0]!.deviceId): PersonDevice {
    const device = this.devices.find((candidate) => candidate.deviceId === deviceId);
    if (!device)
      throw new ParleyError('ERR_NOT_FOUND', 'the person has no device with this id', { deviceId });
    return device;
  }

  /** Connects the person to a network (done by `TestNetwork.addPerson`). */
  attach(link: PersonLink): void {
    this.link = link;
  }

  /** A fresh bundle of one device: new signed and one-time prekeys on every call, as a key server would hand out. */
  async bundle(deviceId: number): Promise<PreKeyBundle> {
    const device = this.device(deviceId);
    const id = (this.preKeyIds.get(deviceId) ?? 0) + 1;
    this.preKeyIds.set(deviceId, id);
    await device.sessions.generateSignedPreKey(id);
    await device.sessions.generateOneTimePreKeys(id, 1);
    return device.sessions.createBundle({ deviceId, signedPreKeyId: id, preKeyId: id });
  }

  hasSession(number: string, deviceId?: number): Promise<boolean> {
    return this.device(deviceId).sessions.hasSession(businessAddress(number));
  }

  /** Starts a session with a business number from its bundle (X3DH as initiator). */
  async startSession(number: string, bundle: PreKeyBundle, deviceId?: number): Promise<void> {
    await this.device(deviceId).sessions.processBundle(businessAddress(number), bundle);
  }

  /**
   * Encrypts a message to a business number and returns the frame the network would deliver
   * to the gateway. Needs a session: call {@link startSession} first, or use {@link send}.
   */
  async encrypt(
    to: string,
    content: string | Uint8Array | ContentEnvelope,
    options: SendOptions = {},
  ): Promise<InboundFrame> {
    const device = this.device(options.deviceId);
    const envelope =
      typeof content === 'string'
        ? { text: content }
        : content instanceof Uint8Array
          ? { bytes: content }
          : content;
    const plaintext = encodeMessagePlaintext(envelope, this.padding);
    const message = await device.sessions.encrypt(businessAddress(to), plaintext);
    return {
      // Random, like a network's ids: nothing about the person or the content.
      frameId: `f${toHex(this.random(12))}`,
      to,
      from: this.phoneNumber,
      deviceId: device.deviceId,
      type: message.type,
      body: message.body,
    };
  }

  /** Encrypts (starting a session from the directory if needed) and hands the frame to the network. */
  async send(
    to: string,
    content: string | Uint8Array | ContentEnvelope,
    options: SendOptions = {},
  ): Promise<InboundFrame> {
    const link = this.requireLink();
    if (!(await this.hasSession(to, options.deviceId))) {
      await this.startSession(to, await link.businessBundle(to), options.deviceId);
    }
    const frame = await this.encrypt(to, content, options);
    await link.submitFrame(frame);
    return frame;
  }

  /**
   * Sends a file as WhatsApp-family clients do: encrypts it (a fresh media key), puts the blob on
   * the network's media host, and sends the pointer in a message.
   */
  async sendMedia(
    to: string,
    file: Uint8Array,
    options: PersonMediaOptions,
  ): Promise<{ readonly frame: InboundFrame; readonly pointer: MediaPointer }> {
    const host = this.requireLink().media;
    if (!host) throw new ParleyError('ERR_CONFIGURATION', 'the network has no media host');
    const { blob, media } = encryptMedia(file, {
      type: options.type,
      crypto: this.crypto,
      random: this.random,
    });
    const location = await host.upload(
      new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(blob);
          controller.close();
        },
      }),
      {
        type: options.type,
        length: blob.length,
        fileEncSha256: media.fileEncSha256,
      },
    );
    const pointer = createMediaPointer({
      ...media,
      ...location,
      mimetype: options.mimetype,
      caption: options.caption,
      fileName: options.fileName,
    });
    const frame = await this.send(to, { media: pointer }, { deviceId: options.deviceId });
    return { frame, pointer };
  }

  /** Fetches a received file from the network's media host and decrypts it (checked first). */
  async downloadMedia(pointer: MediaPointer): Promise<Uint8Array> {
    const host = this.requireLink().media;
    if (!host) throw new ParleyError('ERR_CONFIGURATION', 'the network has no media host');
    const parts: Uint8Array[] = [];
    const location = { directPath: pointer.directPath, url: pointer.url };
    for await (const chunk of readBytes(await host.download(location), 'download')) parts.push(chunk);
    return decryptMedia(concatBytes(...parts), pointer, { crypto: this.crypto, random: this.random });
  }

  /** Decrypts a frame from the gateway on the device it is addressed to and records it in {@link received}. */
  async decrypt(frame: OutboundFrame): Promise<PersonMessage> {
    const device = this.device(frame.deviceId);
    const result = await device.sessions.decrypt(businessAddress(frame.from), {
      type: frame.type,
      body: frame.body,
    });
    const envelope = decodeMessagePlaintext(result.plaintext, this.padding);
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
    return message;
  }

  /** The delivery receipt for a frame this person decrypted. */
  receipt(frame: Pick<OutboundFrame, 'frameId'>): DeliveryReceipt {
    return { frameId: frame.frameId };
  }

  /** Called by the network for each frame addressed to this person: decrypts, then sends a receipt. */
  async receive(frame: OutboundFrame): Promise<PersonMessage> {
    const message = await this.decrypt(frame);
    if (this.autoReceipts && this.link) await this.link.submitReceipt(this.receipt(frame));
    return message;
  }

  /** Texts received from one business number (all devices), in order. */
  textsFrom(number?: string): string[] {
    return this.received
      .filter((message) => number === undefined || message.from === number)
      .map((message) => message.text);
  }

  private requireLink(): PersonLink {
    if (!this.link) {
      throw new ParleyError(
        'ERR_CONFIGURATION',
        'the person is not on a network; call network.addPerson(person)',
      );
    }
    return this.link;
  }
}

/**
 * A person with devices that share one identity key pair, each with its own registration
 * id and store, ready to start sessions.
 */
export async function createSimulatedPerson(options: SimulatedPersonOptions): Promise<SimulatedPerson> {
  const ids =
    typeof options.devices === 'number'
      ? Array.from({ length: options.devices }, (_, index) => index + 1)
      : [...(options.devices ?? [1])];
  if (ids.length === 0 || new Set(ids).size !== ids.length) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"devices" expected at least one distinct device id');
  }
  const crypto = options.crypto ?? createPortableCrypto();
  const random = options.random ?? defaultRandom;
  const clock = options.clock ?? systemClock;
  const devices: PersonDevice[] = [];
  let identityKeyPair: Awaited<ReturnType<SessionManager['localIdentity']>>['identityKeyPair'] | undefined;
  for (const deviceId of ids) {
    const sessions = new SessionManager({
      store: options.createStore?.(deviceId) ?? createMemoryStore({ clock }),
      crypto,
      random,
      clock,
      scope: `person-device-${deviceId}`,
    });
    const identity = await sessions.initializeIdentity(identityKeyPair ? { identityKeyPair } : undefined);
    identityKeyPair ??= identity.identityKeyPair;
    devices.push({ deviceId, sessions });
  }
  return new SimulatedPerson({ ...options, devices, random, crypto });
}

function businessAddress(number: string): ProtocolAddress {
  return { name: number, deviceId: BUSINESS_DEVICE_ID };
}
