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
import { isParleyError, ParleyError } from '../errors.js';
import type { MediaTransport } from '../gateway/media-options.js';
import type {
  DeliveryReceipt,
  InboundFrame,
  OutboundFrame,
  SenderKeyMissingReport,
} from '../gateway/types.js';
import { GroupSessions } from '../groups/group-sessions.js';
import type { MembershipPolicy } from '../groups/membership.js';
import type { PreKeyBundle } from '../keys/prekeys.js';
import { readBytes } from '../media/byte-source.js';
import { decryptMedia, encryptMedia } from '../media/media-bytes.js';
import { createMediaPointer, type MediaPointer } from '../media/media-pointer.js';
import type { MediaType } from '../media/media-type.js';
import type { ProtocolAddress } from '../session/address.js';
import { SessionManager } from '../session/session-manager.js';
import { type Clock, type Store, systemClock } from '../storage/contract.js';
import { createMemoryStore } from '../storage/memory.js';
import { decryptionErrorFor } from '../wire/decryption-error-message.js';
import { decodeDecryptionErrorContent, encodeDecryptionErrorContent } from '../wire/plaintext-content.js';
import type { SenderKeyFormat } from '../wire/sender-key-format.js';

/** A business number's only device: the gateway publishes every number as device 1. */
const BUSINESS_DEVICE_ID = 1;

/** One of the person's phones or linked computers. */
export interface PersonDevice {
  readonly deviceId: number;
  readonly sessions: SessionManager;
  /** Sender keys of the groups the device is in (its own chains and the business's). */
  readonly groups: GroupSessions;
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
  /** A group message: its group (a type-7 frame, or one resent over 1:1 with the group context). */
  readonly group?: string | undefined;
  /**
   * Set when the frame carried only a sender-key distribution message (of this group): it is
   * stored, and not in {@link SimulatedPerson.received}.
   */
  readonly distribution?: string | undefined;
  /** A media file's pointer, when the message carried one (fetch it with `downloadMedia`). */
  readonly media?: MediaPointer | undefined;
}

/** How a person reaches the network: the key directory and the two uplinks. */
export interface PersonLink {
  /** A business number's prekey bundle (consumes one of its one-time prekeys). */
  businessBundle(number: string): PreKeyBundle | Promise<PreKeyBundle>;
  submitFrame(frame: InboundFrame): void | Promise<void>;
  submitReceipt(receipt: DeliveryReceipt): void | Promise<void>;
  /**
   * A group message could not be read for want of the sender key: the device tells the
   * business (where Signal clients send a decryption-error message; see issue 19).
   */
  reportMissingSenderKey?(report: SenderKeyMissingReport): void | Promise<void>;
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
  /** A message frame (type 2 or 3) from the gateway for one of the person's devices. */
  receive(frame: OutboundFrame): Promise<PersonMessage>;
  /**
   * A decryption-error message (type 8) from the gateway about a frame of the person's; a
   * person without it has the network refuse such frames.
   */
  receiveDecryptionError?(frame: OutboundFrame): Promise<DecryptionErrorAnswer>;
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
  /** The network's sender-key format for group messages (default `signal`). */
  readonly groupFormat?: SenderKeyFormat;
  /**
   * Answer a frame that does not decrypt with a decryption-error message (a type-8 frame), as
   * Signal clients do (default true); `false` only refuses it.
   */
  readonly decryptionErrors?: boolean;
}

/** What a decryption-error message from the business made the person's device do. */
export interface DecryptionErrorAnswer {
  /** The message it names was encrypted and sent again. */
  readonly resent: boolean;
  /** The session with the business number was archived (the resend starts a new one). */
  readonly sessionArchived: boolean;
}

/** Messages a person keeps for resending when a business asks (Signal's send log). */
const MAX_SENT_LOG = 1_000;

interface SentMessage {
  readonly to: string;
  readonly deviceId: number;
  readonly content: string | Uint8Array | ContentEnvelope;
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
 * The person's devices take a group's distribution message from anyone who reaches them over
 * a 1:1 session — here only business numbers do; a real client checks its group's member list.
 */
const reachableOverOneToOne: MembershipPolicy = { name: 'simulated-person', isMember: () => true };

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
  /** Whether frames that do not decrypt are answered with a decryption-error message. */
  decryptionErrors: boolean;
  private readonly random: RandomSource;
  private readonly clock: Clock;
  private readonly crypto: CryptoProvider;
  private readonly padding: number | false;
  private readonly preKeyIds = new Map<number, number>();
  /** Chains each device sent to a business number (`device/number/group/chain`). */
  private readonly distributed = new Set<string>();
  /** By `${to}/${deviceId}/${timestamp}`, oldest first. */
  private readonly sentLog = new Map<string, SentMessage>();
  private lastTimestamp = 0;
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
    this.clock = options.clock ?? systemClock;
    this.crypto = options.crypto ?? createPortableCrypto();
    this.padding = options.padding ?? DEFAULT_PADDING_BLOCK;
    this.autoReceipts = options.autoReceipts ?? true;
    this.decryptionErrors = options.decryptionErrors ?? true;
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
    // Unique per person, as Signal clients keep them: a decryption error names one message.
    const timestamp = Math.max(this.clock.now(), this.lastTimestamp + 1);
    this.lastTimestamp = timestamp;
    return this.encryptAt(to, content, options.deviceId, timestamp);
  }

  private async encryptAt(
    to: string,
    content: string | Uint8Array | ContentEnvelope,
    deviceId: number | undefined,
    timestamp: number,
  ): Promise<InboundFrame> {
    const device = this.device(deviceId);
    const envelope =
      typeof content === 'string'
        ? { text: content }
        : content instanceof Uint8Array
          ? { bytes: content }
          : content;
    const plaintext = encodeMessagePlaintext(envelope, this.padding);
    const message = await device.sessions.encrypt(businessAddress(to), plaintext);
    const key = `${to}/${device.deviceId}/${timestamp}`;
    this.sentLog.delete(key);
    this.sentLog.set(key, { to, deviceId: device.deviceId, content });
    if (this.sentLog.size > MAX_SENT_LOG) this.sentLog.delete(this.sentLog.keys().next().value!);
    return {
      // Random, like a network's ids: nothing about the person or the content.
      frameId: `f${toHex(this.random(12))}`,
      to,
      from: this.phoneNumber,
      deviceId: device.deviceId,
      type: message.type,
      body: message.body,
      timestamp,
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

  /**
   * Decrypts a frame from the gateway on the device it is addressed to and records it in
   * {@link received}: a 1:1 message (a distribution message in it is stored for its group) or a
   * group message (type 7, with the group's sender key).
   */
  async decrypt(frame: OutboundFrame): Promise<PersonMessage> {
    const device = this.device(frame.deviceId);
    if (frame.type === 8) {
      throw new ParleyError(
        'ERR_INVALID_ARGUMENT',
        'a type-8 frame is a decryption-error message, not a message: receiveDecryptionError() takes it',
      );
    }
    const sender = businessAddress(frame.from);
    let group: string | undefined;
    let plaintext: Uint8Array;
    if (frame.type === 7) {
      group = frame.groupId;
      if (group === undefined) throw new ParleyError('ERR_INVALID_MESSAGE', 'a group message names no group');
      plaintext = (await device.groups.decrypt(group, sender, frame.body)).plaintext;
    } else {
      plaintext = (await device.sessions.decrypt(sender, { type: frame.type, body: frame.body })).plaintext;
    }
    const envelope = decodeMessagePlaintext(plaintext, this.padding);
    const distribution = frame.type === 7 ? undefined : envelope.senderKeyDistribution;
    if (distribution)
      await device.groups.processDistribution(distribution.groupId, sender, distribution.message);
    // Over 1:1, a group context says which group the content belongs to (a resend to this device).
    group ??= envelope.group?.groupId;
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
    return message;
  }

  /**
   * Sends a group message to a business number from one device: first, over the 1:1 session,
   * the device's distribution message for the group (once per chain), then the sender-key
   * message itself (type 7, naming the group).
   */
  async sendToGroup(
    to: string,
    group: string,
    content: string | Uint8Array,
    options: SendOptions = {},
  ): Promise<InboundFrame> {
    const link = this.requireLink();
    const device = this.device(options.deviceId);
    const chain = await device.groups.createDistribution(group);
    const sentKey = `${device.deviceId}/${to}/${group}/${chain.chainId}`;
    if (!this.distributed.has(sentKey)) {
      await this.sendDistribution(to, group, options);
    }
    const envelope = typeof content === 'string' ? { text: content } : { bytes: content };
    const message = await device.groups.encrypt(
      group,
      encodeMessagePlaintext({ ...envelope, group: { groupId: group } }, this.padding),
    );
    const frame: InboundFrame = {
      frameId: `f${toHex(this.random(12))}`,
      to,
      from: this.phoneNumber,
      deviceId: device.deviceId,
      type: 7,
      groupId: group,
      body: message.body,
    };
    await link.submitFrame(frame);
    return frame;
  }

  /**
   * Sends this device's distribution message for a group to a business number over the 1:1
   * session (again, e.g. after the gateway's retry request said it lacks the key).
   */
  async sendDistribution(to: string, group: string, options: SendOptions = {}): Promise<InboundFrame> {
    const link = this.requireLink();
    const device = this.device(options.deviceId);
    if (!(await this.hasSession(to, device.deviceId))) {
      await this.startSession(to, await link.businessBundle(to), device.deviceId);
    }
    const chain = await device.groups.createDistribution(group);
    const plaintext = encodeMessagePlaintext(
      { senderKeyDistribution: { groupId: group, message: chain.body } },
      this.padding,
    );
    const message = await device.sessions.encrypt(businessAddress(to), plaintext);
    const frame: InboundFrame = {
      frameId: `f${toHex(this.random(12))}`,
      to,
      from: this.phoneNumber,
      deviceId: device.deviceId,
      type: message.type,
      body: message.body,
    };
    this.distributed.add(`${device.deviceId}/${to}/${group}/${chain.chainId}`);
    await link.submitFrame(frame);
    return frame;
  }

  /** The delivery receipt for a frame this person decrypted. */
  receipt(frame: Pick<OutboundFrame, 'frameId'>): DeliveryReceipt {
    return { frameId: frame.frameId };
  }

  /**
   * Called by the network for each message frame addressed to this person: decrypts, then sends
   * a receipt. A group message the device has no sender key for is reported to the business; any
   * other frame that does not decrypt is answered with a decryption-error message (unless
   * `decryptionErrors` is off). The error is thrown.
   */
  async receive(frame: OutboundFrame): Promise<PersonMessage> {
    let message: PersonMessage;
    try {
      message = await this.decrypt(frame);
    } catch (error) {
      if (frame.type === 7 && isParleyError(error, 'ERR_SENDER_KEY_NOT_FOUND')) {
        // The business answers this report with the message over 1:1 and the current chain.
        await this.link?.reportMissingSenderKey?.({
          frameId: frame.frameId,
          from: this.phoneNumber,
          deviceId: frame.deviceId,
        });
      } else if (this.decryptionErrors && this.link && !isParleyError(error, 'ERR_DUPLICATE_MESSAGE')) {
        // A frame seen before is no loss: nothing to ask for.
        await this.askForResend(frame);
      }
      throw error;
    }
    if (this.autoReceipts && this.link) await this.link.submitReceipt(this.receipt(frame));
    return message;
  }

  /**
   * A decryption-error message from a business number (a type-8 frame), answered as Signal
   * clients do: when it names this device's current session's ratchet key, that session is
   * archived; the message it names is encrypted again (from a new session if there is none,
   * fetched from the directory) and sent under its original timestamp.
   */
  async receiveDecryptionError(frame: OutboundFrame): Promise<DecryptionErrorAnswer> {
    const error = decodeDecryptionErrorContent(frame.body);
    const device = this.device(frame.deviceId);
    if (error.deviceId !== device.deviceId) return { resent: false, sessionArchived: false };
    const business = businessAddress(frame.from);
    const sessionArchived =
      error.ratchetKey !== undefined &&
      (await device.sessions.archiveSession(business, { ifRatchetKey: error.ratchetKey }));
    const sent = this.sentLog.get(`${frame.from}/${device.deviceId}/${error.timestamp}`);
    if (!sent) return { resent: false, sessionArchived };
    const link = this.requireLink();
    if (!(await device.sessions.hasSession(business))) {
      await device.sessions.processBundle(business, await link.businessBundle(frame.from));
    }
    await link.submitFrame(await this.encryptAt(sent.to, sent.content, sent.deviceId, error.timestamp));
    return { resent: true, sessionArchived };
  }

  /** A decryption-error message about a frame from a business that did not decrypt. */
  private async askForResend(frame: OutboundFrame): Promise<void> {
    let body: Uint8Array;
    try {
      body = encodeDecryptionErrorContent(
        decryptionErrorFor(frame as OutboundFrame & { type: 2 | 3 }, frame.timestamp, BUSINESS_DEVICE_ID),
      );
    } catch {
      return; // Not a message at all: nothing to name.
    }
    await this.requireLink().submitFrame({
      frameId: `f${toHex(this.random(12))}`,
      to: frame.from,
      from: this.phoneNumber,
      deviceId: frame.deviceId,
      type: 8,
      body,
      timestamp: this.clock.now(),
    });
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
    const store = options.createStore?.(deviceId) ?? createMemoryStore({ clock });
    const scope = `person-device-${deviceId}`;
    const sessions = new SessionManager({ store, crypto, random, clock, scope });
    const identity = await sessions.initializeIdentity(identityKeyPair ? { identityKeyPair } : undefined);
    identityKeyPair ??= identity.identityKeyPair;
    const groups = new GroupSessions({
      store,
      membership: reachableOverOneToOne,
      format: options.groupFormat,
      crypto,
      random,
      clock,
      scope,
    });
    devices.push({ deviceId, sessions, groups });
  }
  return new SimulatedPerson({ ...options, devices, random, crypto });
}

function businessAddress(number: string): ProtocolAddress {
  return { name: number, deviceId: BUSINESS_DEVICE_ID };
}
