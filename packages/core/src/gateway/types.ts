import type { ErrorCode } from '../errors.js';
import type { PreKeyBundle } from '../keys/prekeys.js';
import type { BillingExport, StatisticsExport } from '../stats/snapshots.js';
import type { InboundMedia, MediaContent } from './media-types.js';

/** A message id, unique per gateway; random, so it reveals nothing about sender or content. */
export type MessageId = string & { readonly __brand: 'MessageId' };

/** Status of a message the business sent. */
export type OutboundStatus = 'accepted' | 'sent' | 'delivered' | 'failed' | 'expired';
/** Status of a message a person sent to the business. */
export type InboundStatus = 'pending' | 'delivered' | 'dropped';

/** What the business's handler receives for each message from a person. */
export interface InboundMessage {
  readonly id: MessageId;
  readonly businessId: string;
  /** The business number it was sent to. */
  readonly to: string;
  /** The person's phone number (as attributed by the transport). */
  readonly from: string;
  readonly deviceId: number;
  /** When the gateway received it (injected clock); never a timestamp from the peer. */
  readonly receivedAt: number;
  /** Attempt number of this delivery (1 = first); ids stay the same across redeliveries. */
  readonly attempt: number;
  /**
   * The content: the text in UTF-8 when the person sent text, else the bytes they sent.
   * Content that is not a content envelope (docs/content-envelope.md) is handed over as it came.
   */
  readonly content: Uint8Array;
  /** The text, when the person sent text. */
  readonly text?: string | undefined;
  /** The group it was sent to (a group message), as `createGroup` named it; absent for 1:1. */
  readonly group?: string | undefined;
  /** A media file the person sent: what it is, and the id `downloadMedia` takes (docs/media.md). */
  readonly media?: InboundMedia | undefined;
}

export type MessageHandler = (message: InboundMessage) => void | Promise<void>;

/** How far one of the person's devices got with an outbound message. */
export interface DeviceDelivery {
  readonly deviceId: number;
  /** pending: not yet handed to the transport; sent: handed over; delivered: the device confirmed. */
  readonly state: 'pending' | 'sent' | 'delivered';
  /**
   * Group messages: the member the device belongs to, as the business's pseudonym of the
   * member (the `member` of `GroupInfo.members`; the access log names people the same way).
   */
  readonly member?: string | undefined;
}

/**
 * Events for one business. Status and dropped events are durable: each is committed with the
 * state change it reports and handed to the handlers at least once (again after a crash or a
 * handler that threw), with a stable `eventId` to recognise a repeat.
 */
export type GatewayEvent =
  | {
      readonly type: 'status';
      readonly eventId: string;
      /** When the status changed (injected clock). */
      readonly at: number;
      readonly businessId: string;
      readonly messageId: MessageId;
      readonly status: OutboundStatus;
      /** Each of the person's devices the message was addressed to, and how far it got. */
      readonly devices: readonly DeviceDelivery[];
      /**
       * Why, for `failed` and `expired`: a Parley error code, or `ERR_TRANSPORT_FAILURE` when
       * the transport or the directory threw an error of its own.
       */
      readonly reason?: ErrorCode | undefined;
    }
  | {
      readonly type: 'dropped';
      readonly eventId: string;
      readonly at: number;
      readonly businessId: string;
      readonly messageId: MessageId;
      readonly attempts: number;
    }
  | {
      /** Not durable (it names a phone number, which is kept only next to messages). */
      readonly type: 'identity-changed';
      readonly eventId: string;
      readonly at: number;
      readonly businessId: string;
      readonly number: string;
      readonly phoneNumber: string;
      readonly deviceId: number;
    };

export type StatusEvent = Extract<GatewayEvent, { readonly type: 'status' }>;
export type DroppedEvent = Extract<GatewayEvent, { readonly type: 'dropped' }>;

/**
 * Receives a business's events. A handler that throws (or rejects) gets a durable event again
 * later (at the next `tick()`), so handlers should recognise repeats by `eventId`.
 */
export type EventHandler = (event: GatewayEvent) => void | Promise<void>;

/** What `gateway.status(messageId)` reports. */
export interface MessageStatus {
  readonly messageId: MessageId;
  readonly businessId: string;
  readonly direction: 'inbound' | 'outbound';
  readonly status: OutboundStatus | InboundStatus;
  /** Outbound: each device the message was addressed to (every member device of a group). Inbound: empty. */
  readonly devices: readonly DeviceDelivery[];
  /** The group of a group message; absent for 1:1. */
  readonly group?: string | undefined;
  /** Sending (outbound) or delivery-to-handler (inbound) attempts so far. */
  readonly attempts: number;
  readonly createdAt: number;
  /** After this the message and its content are deleted. */
  readonly deadline: number;
}

/** A frame from the transport: a person's device sent ciphertext to a business number. */
export interface InboundFrame {
  /** The transport's id for this frame; redelivering the same frame uses the same id. */
  readonly frameId: string;
  /** Business number. */
  readonly to: string;
  /** Sender's phone number; Parley trusts the transport's sender attribution. */
  readonly from: string;
  readonly deviceId: number;
  /**
   * 2 = SignalMessage, 3 = PreKeySignalMessage, 7 = SenderKeyMessage (a group message),
   * 8 = plaintext content: a decryption-error message about a frame of the business's that the
   * device could not decrypt (libsignal numbering).
   */
  readonly type: FrameType;
  readonly body: Uint8Array;
  /** Type 7 only: the group the sender-key message belongs to (`createGroup`'s id). */
  readonly groupId?: string | undefined;
  /**
   * The message's timestamp as the sender's device stamped it (epoch ms; Signal's envelope
   * timestamp). The gateway names it in the decryption-error message it sends back when the
   * frame cannot be decrypted, so the device can find and resend that message; without it the
   * device can only start a new session (0 is sent).
   */
  readonly timestamp?: number | undefined;
}

/** libsignal's ciphertext message types a frame can carry. */
export type FrameType = 2 | 3 | 7 | 8;

export type ReceiveOutcome =
  | { readonly kind: 'accepted'; readonly messageId: MessageId }
  /**
   * A sender-key distribution message over 1:1: stored when its sender is a member of its
   * group (else dropped); nothing for the business.
   */
  | { readonly kind: 'distribution' }
  | { readonly kind: 'duplicate' }
  | { readonly kind: 'undecryptable'; readonly reason: ErrorCode; readonly retryRequested: boolean }
  /**
   * A decryption-error message (type 8) from a person's device about a frame of the business:
   * whether the message it names was sent again, and whether the session with that device was
   * archived so the next message starts a new one. Neither, when the error names nothing this
   * gateway sent on (a forged, replayed or stale error); `reason` then says why when there is one.
   */
  | {
      readonly kind: 'decryption-error';
      readonly resent: boolean;
      readonly sessionArchived: boolean;
      readonly reason?: ErrorCode | undefined;
    };

/** What Parley hands the transport: routing and ciphertext, nothing else. */
export interface OutboundFrame {
  readonly frameId: string;
  /** Business number. */
  readonly from: string;
  /** Recipient phone number (routing). */
  readonly to: string;
  readonly deviceId: number;
  /**
   * 2, 3 (a 1:1 message, or a group's distribution message over 1:1), 7 (a group message) or
   * 8 = plaintext content: the gateway's decryption-error message about a frame from this
   * device it could not decrypt (Signal clients answer it by resending that message, from a new
   * session when the error names their current one). Type-8 frames carry no content and get no
   * delivery receipt.
   */
  readonly type: FrameType;
  readonly body: Uint8Array;
  /** Type 7 only: the group; the same sender-key message goes to every member device. */
  readonly groupId?: string | undefined;
  /**
   * The message's timestamp (epoch ms), the same in every frame of one message (each device,
   * each attempt) and unique per person: what the network puts in Signal's envelope, and what a
   * device's decryption-error message names to have the message sent again. For a type-8 frame,
   * when the gateway sent it.
   */
  readonly timestamp: number;
}

/**
 * Tells the transport that the gateway asked a person's device to resend a frame (no content
 * inside). The request itself is a decryption-error message in a type-8 frame handed to `send`:
 * that is what Signal clients understand. This hook remains for networks with a retry channel
 * of their own.
 */
export interface RetryRequest {
  /** Business number. */
  readonly from: string;
  readonly to: string;
  readonly deviceId: number;
  /** The frame that could not be decrypted. */
  readonly frameId: string;
  /**
   * `ERR_SENDER_KEY_NOT_FOUND` for a group message (type 7) whose sender's chain the gateway
   * does not hold: the device should send its distribution message again.
   */
  readonly reason: ErrorCode;
  /** A group message's group. */
  readonly groupId?: string | undefined;
}

export interface DeliveryReceipt {
  /** The outbound frame id the person's device acknowledged. */
  readonly frameId: string;
}

export interface Transport {
  /** Hands a frame to the network; a rejection counts as a failed attempt and is retried. */
  send(frame: OutboundFrame): Promise<void>;
  /**
   * Optional, and no longer how a retry is asked for: the gateway sends a decryption-error
   * message (a type-8 frame) through `send`, which Signal clients understand, and calls this as
   * well when it is there. At most `RETRY_REQUESTS_PER_INTERVAL` per device per
   * `retryRequestIntervalMs`, for the type-8 frames and this hook together.
   */
  requestRetry?(request: RetryRequest): Promise<void>;
  /** The inbound frame is safely stored; the network may forget it. */
  acknowledge(frameId: string): Promise<void>;
}

/** A public prekey signed by the number's identity key (signed EC prekey, Kyber prekeys). */
export interface SignedPublicPreKey {
  readonly id: number;
  /** 33 bytes (EC, 0x05-prefixed) or 1569 bytes (Kyber-1024, 0x08-prefixed). */
  readonly publicKey: Uint8Array;
  /** 64 bytes: XEdDSA by the identity key over `publicKey`. */
  readonly signature: Uint8Array;
}

/** Public prekeys of one business number, uploaded to the directory. */
export interface PreKeyUpload {
  readonly number: string;
  readonly deviceId: number;
  readonly registrationId: number;
  readonly identityKey: Uint8Array;
  /** Replaces the directory's signed prekey. */
  readonly signedPreKey: SignedPublicPreKey;
  /** New one-time prekeys to add to the directory's pool (each served at most once). */
  readonly oneTimePreKeys: readonly { readonly id: number; readonly publicKey: Uint8Array }[];
  /**
   * Replaces the directory's last-resort Kyber prekey (PQXDH): served in bundles whenever the
   * one-time Kyber pool is empty, to any number of people.
   */
  readonly lastResortKyberPreKey: SignedPublicPreKey;
  /**
   * New one-time Kyber prekeys to add to the directory's Kyber pool. A bundle carries one of
   * them while any is left (each served at most once), else the last-resort Kyber prekey.
   */
  readonly oneTimeKyberPreKeys: readonly SignedPublicPreKey[];
}

/** The key directory the network provides (Signal's key server). */
export interface Directory {
  publish(upload: PreKeyUpload): Promise<void>;
  /** One-time prekeys of a business number still unserved; drives replenishment. */
  availableOneTimePreKeys(number: string): Promise<number>;
  /** One-time Kyber prekeys of a business number still unserved; drives replenishment. */
  availableOneTimeKyberPreKeys(number: string): Promise<number>;
  /** The person's current device ids. */
  fetchDevices(phoneNumber: string): Promise<readonly number[]>;
  /**
   * A bundle of one of the person's devices. With a signed Kyber prekey in it the gateway
   * starts a PQXDH (v4) session, without one an X3DH (v3) session.
   */
  fetchBundle(phoneNumber: string, deviceId: number): Promise<PreKeyBundle>;
}

export interface SendRequest {
  /** Business number to send from. */
  readonly from: string;
  /** Person's phone number. */
  readonly to: string;
  /** Text, bytes, or a media file: `{ media: { mediaId, caption? } }` (see `uploadMedia`). */
  readonly content: Uint8Array | string | MediaContent;
}

export interface BusinessRegistration {
  readonly businessId: string;
  /** Pin the business's data at rest (and its key unwrapping) to this region. */
  readonly region?: string | undefined;
  /** 1 to 30; default 30. */
  readonly retentionDays?: number | undefined;
}

/**
 * A person reported a message as spam, as the transport relays it. Counts toward the
 * business's integrity signal only when that message was delivered to that reporter, and
 * once per message. The reporter's number is used for that check and not kept.
 */
export interface SpamReport {
  /** The reporting person's phone number (the transport's sender attribution). */
  readonly reporter: string;
  /** The business number the message came from, or the business id. */
  readonly to: string;
  /** The gateway's message id (an outbound frame id of that message is accepted too). */
  readonly messageId: string;
}

/** What "the rest of the platform" gets: non-personal statistics and billing, counts only. */
export interface PlatformExport {
  readonly statistics: StatisticsExport;
  readonly billing: BillingExport;
}

// ── Groups ─────────────────────────────────────────────────────────────────────────

/** A group the business takes part in: its number and the people in it. */
export interface CreateGroupRequest {
  /** The business number the group's messages come from. */
  readonly from: string;
  /** The members' phone numbers (at least one; at most `MAX_GROUP_MEMBERS`). */
  readonly members: readonly string[];
}

export interface GroupSendRequest {
  /** A group id `createGroup` returned. */
  readonly groupId: string;
  readonly content: Uint8Array | string;
}

/** One member of a group. */
export interface GroupMember {
  readonly phoneNumber: string;
  /**
   * The business's pseudonym of the member: what the access log records and what group message
   * statuses name each device by (`DeviceDelivery.member`).
   */
  readonly member: string;
  /** When the member was added (injected clock). */
  readonly addedAt: number;
}

/** What `group(groupId)` reports: no key material. */
export interface GroupInfo {
  readonly groupId: string;
  readonly businessId: string;
  /** The business number the group's messages come from. */
  readonly number: string;
  readonly createdAt: number;
  readonly members: readonly GroupMember[];
  /**
   * The business's current sending chain in the group (undefined before the first send): a
   * new chain id after every removal.
   */
  readonly chain?: { readonly chainId: number; readonly createdAt: number } | undefined;
}

/**
 * A member device reports that it could not read one of the business's group messages: it has
 * no sender key for it (the distribution message was lost, or the device was restored). The
 * transport relays it, attributed to the device (Signal's decryption-error message will map
 * onto it; see issue 19).
 */
export interface SenderKeyMissingReport {
  /** The group message's frame id, as the device received it. */
  readonly frameId: string;
  /** The reporting device's phone number (the transport's sender attribution). */
  readonly from: string;
  readonly deviceId: number;
}
