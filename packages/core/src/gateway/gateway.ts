import { wipe } from '../bytes.js';
import { ParleyError } from '../errors.js';
import type { SpamReportOutcome } from '../integrity/monitor.js';
import type { IntegritySignal, IntegritySignals } from '../integrity/signal.js';
import type { MediaByteSource } from '../media/byte-source.js';
import { inspectCustom } from '../redaction.js';
import { BusinessHandle, type HandleOptions } from './business-handle.js';
import { numbers, registerBusiness } from './businesses.js';
import { GatewayContext } from './context.js';
import { runDue } from './due-work.js';
import { type AccessLog, createAccessLog } from './durable/access-log.js';
import { setDevices } from './durable/device-lists.js';
import { forgetHandedOver, redeliverAllEvents } from './durable/event-outbox.js';
import { tryLease } from './durable/leases.js';
import { receiveGroupFrame, storeDistributions, takeDistribution } from './group-inbound.js';
import {
  attemptGroupMessage,
  receiveGroupReceipt,
  resendAfterMissingKey,
  resendNamedGroupMessage,
  sendToGroup,
} from './group-outbound.js';
import { addMembers, createGroup, deleteGroup, groupErasure, groupInfo, removeMembers } from './groups.js';
import { registerEventHandler, registerMessageHandler } from './handlers.js';
import { receiveFrame } from './inbound.js';
import { readSignal } from './integrity-counters.js';
import { deleteMedia, downloadMedia, mediaInfo, uploadMedia } from './media.js';
import type { DownloadMediaOptions, MediaInfo, UploadMediaOptions } from './media-types.js';
import type { GatewayOptions } from './options.js';
import { messageStatus, receiveReceipt, retransmit, send } from './outbound.js';
import { addNumber, maintainPreKeys } from './prekeys.js';
import { erase, type SweepResult, sweep } from './retention.js';
import { receiveSpamReport } from './spam-reports.js';
import { foldAll } from './tally.js';
import type {
  BusinessRegistration,
  CreateGroupRequest,
  DeliveryReceipt,
  EventHandler,
  GroupInfo,
  GroupSendRequest,
  InboundFrame,
  MessageHandler,
  MessageId,
  MessageStatus,
  PlatformExport,
  ReceiveOutcome,
  SenderKeyMissingReport,
  SendRequest,
  SpamReport,
} from './types.js';
import { assertBusinessId, assertHandler, positive } from './validation.js';

export {
  DEFAULT_ACCESS_LOG_RETENTION_MS,
  DEFAULT_DEVICE_REFRESH_MS,
  DEFAULT_INACTIVITY_MS,
  DEFAULT_KYBER_PREKEY_BATCH,
  DEFAULT_KYBER_PREKEY_LOW_WATER,
  DEFAULT_MAX_SEND_ATTEMPTS,
  DEFAULT_PLAINTEXT_TTL_MS,
  DEFAULT_PREKEY_BATCH,
  DEFAULT_PREKEY_LOW_WATER,
  DEFAULT_REDELIVERY_LIMIT_MS,
  DEFAULT_RETRY_REQUEST_INTERVAL_MS,
  DEFAULT_SIGNED_PREKEY_GRACE_MS,
  DEFAULT_SIGNED_PREKEY_ROTATION_MS,
  type GatewayOptions,
  type GatewayStatisticsOptions,
  MAX_CONTENT_LENGTH,
  MAX_RETENTION_DAYS,
  RETRY_REQUESTS_PER_INTERVAL,
} from './options.js';
export type { SweepResult } from './retention.js';

/**
 * The instance holding the sweep lease renews it every tick (60 s by default); when it stops,
 * another instance takes the sweep over within this long.
 */
const SWEEP_LEASE_MS = 5 * 60_000;

export function createGateway(options: GatewayOptions): Gateway {
  return new Gateway(options);
}

/**
 * Holds Signal-protocol sessions for many businesses and their phone numbers. Inbound frames
 * are decrypted, stored (content encrypted under a period key) and handed to the business's
 * handler; outbound messages are stored, encrypted per device and handed to the transport.
 * Background work (redeliveries, retries, prekey upkeep, retention) runs in `tick()`.
 *
 * Prekeys: each business number publishes a signed prekey, a last-resort Kyber prekey and
 * pools of one-time EC and Kyber prekeys (PQXDH, session version 4, for clients that speak it;
 * X3DH, version 3, for the others). Pools are topped up below their low-water marks; the signed
 * and the last-resort Kyber prekey rotate together and their predecessors are kept for a grace
 * period. Outbound sessions are v4 when the person's bundle carries a Kyber prekey.
 *
 * Data in use: message content is at rest only encrypted (period key), and it is opened for
 * one step at a time — to encrypt it for one device, or to hand it to the business's handler —
 * and never kept between steps or attempts: each attempt reads it again from the store.
 * Every buffer the gateway holds is under a lease that `tick()` revokes after
 * `plaintextTtlMs` (default 60 minutes, injected clock; checked once per tick): the buffer is
 * zeroed and the work that held it reads the content again (outbound) or counts as a failed
 * delivery attempt (a handler that has not returned). `plaintextInUse()` reports what is held.
 * The content handed to a handler belongs to the business once the handler settles.
 * Zeroing is best-effort: JavaScript engines may keep copies (strings, the decoder's buffers)
 * that no library can reach.
 *
 * Three audiences, three separate objects: the business uses the gateway itself; the
 * transport side reads integrity signals through `integritySignals()` (and relays people's
 * spam reports to `receiveSpamReport`); the rest of the platform gets `statisticsExport()`,
 * non-personal counts only. Every message sent is checked and counted (by the recipient's
 * pseudonym) before it is stored: `block` refuses it with `ERR_INTEGRITY_BLOCKED`, `throttle`
 * gives it a slot (shared by every instance) on the injected clock; the due-time index
 * releases it. Every counted event (a message sent or received, a delivery, a failure…) is
 * committed with the change it counts, in a tally journal that `tick()` folds into each
 * business's sealed integrity and statistics records (tally.ts): the counts hold over all
 * traffic of all instances, an instance killed right after a commit included. The optional
 * `logger` gets codes, ids and counts, never content, keys, phone numbers or pseudonyms.
 *
 * Several instances may share one store: due work is claimed by one instance at a time
 * (durable/claims.ts), shared upkeep runs under leases (durable/leases.ts), and what an
 * instance keeps in memory (cache/, the decoded sessions, the integrity and statistics view)
 * is rebuilt from the store whenever the store moved on.
 *
 * Assembly: the state every part shares lives in one `GatewayContext` (context.ts); durable
 * record families are under durable/, per-instance caches under cache/, and each operation is
 * a module of functions taking the context — inbound.ts, outbound.ts, due-work.ts, prekeys.ts,
 * retention.ts, tally.ts, spam-reports.ts — put together behind the public methods here.
 */
export class Gateway {
  private readonly g: GatewayContext;
  private readonly interval: ReturnType<typeof setInterval> | undefined;
  private readonly signalsReader: IntegritySignals | undefined;

  constructor(options: GatewayOptions) {
    this.g = new GatewayContext(options);
    // Groups build on the 1:1 paths, which hand group work back through these hooks.
    const g = this.g;
    g.groupHooks = {
      receiveFrame: (frame) => receiveGroupFrame(g, frame),
      takeDistribution: (ctx, taken) => takeDistribution(ctx, taken),
      storeDistributions: (ctx, number, sender) =>
        storeDistributions(g, ctx, number, sender).then(() => undefined),
      attempt: (ctx, id, record, open, claim) => attemptGroupMessage(g, ctx, id, record, open, claim),
      resendNamed: (ctx, named) => resendNamedGroupMessage(g, ctx, named),
      receipt: (parsed) => receiveGroupReceipt(g, parsed),
      erase: (ctx, pseudonym) => groupErasure(g, ctx, pseudonym),
    };
    if (this.g.integrityConfig) {
      this.signalsReader = Object.freeze({
        signal: (businessId: string): IntegritySignal => {
          assertBusinessId(businessId);
          return readSignal(this.g, businessId);
        },
      });
    }
    const timer = options.timer ?? { intervalMs: 60_000 };
    if (timer) {
      this.interval = setInterval(
        () => this.g.track(this.tick()),
        positive(timer.intervalMs, 'timer.intervalMs'),
      );
      (this.interval as { unref?: () => void }).unref?.();
    }
  }

  /** A summary without keys, numbers or content (see redaction.ts). */
  toJSON(): Record<string, string | number | boolean> {
    return { type: 'Gateway', businesses: this.g.businesses.size, closed: this.g.closed };
  }

  [inspectCustom](): string {
    return `Gateway ${JSON.stringify(this.toJSON())}`;
  }

  // ── Businesses and numbers ────────────────────────────────────────────────────────

  /**
   * Registers a business (idempotent for the same settings). Retention is 1–30 days
   * (default 30); a pinned region must match every store's and the key provider's region.
   */
  async registerBusiness(registration: BusinessRegistration): Promise<void> {
    return registerBusiness(this.g, registration);
  }

  /**
   * Adds a phone number to a business: identity key, registration id, signed prekey, a
   * last-resort Kyber prekey and batches of one-time EC and Kyber prekeys, published to the
   * directory.
   */
  async addNumber(businessId: string, number: string): Promise<void> {
    return addNumber(this.g, businessId, number);
  }

  /** Business numbers of a business. */
  async numbers(businessId: string): Promise<string[]> {
    return numbers(this.g, businessId);
  }

  // ── Handlers and events ───────────────────────────────────────────────────────────

  /** The business's message handler (one per business); pending messages are delivered to it. */
  onMessage(businessId: string, handler: MessageHandler): () => void {
    this.g.assertOpen();
    assertBusinessId(businessId);
    return registerMessageHandler(this.g, businessId, handler);
  }

  /**
   * Status changes, dropped messages and identity changes of one business. Status and dropped
   * events are durable and reach the handlers at least once, each with a stable `eventId`
   * (again after a crash, or at the next `tick()` when a handler threw); events stored while
   * no handler was registered are handed to the first one registered.
   */
  onEvent(businessId: string, handler: EventHandler): () => void {
    this.g.assertOpen();
    assertBusinessId(businessId);
    return registerEventHandler(this.g, businessId, handler);
  }

  /**
   * A handle for one business, acting as `principal` (a name for the access log): the
   * business-facing operations — send, retransmit, status, erase of its own customers, its
   * handlers, its usage — unable to reach any other business. Hand this, not the gateway, to
   * code that acts for a business.
   */
  forBusiness(businessId: string, options: HandleOptions): BusinessHandle {
    this.g.assertOpen();
    return new BusinessHandle(this.g, businessId, options);
  }

  /** The operator's access log: query, verify and export per business. */
  accessLog(): AccessLog {
    if (!this.g.accessLogRetentionMs)
      throw new ParleyError('ERR_CONFIGURATION', 'the access log is off (accessLog: false)');
    return createAccessLog(this.g);
  }

  /** Failures of background work (never carry content or phone numbers). */
  onError(handler: (error: unknown) => void): () => void {
    assertHandler(handler, 'handler');
    this.g.errorHandlers.add(handler);
    return () => this.g.errorHandlers.delete(handler);
  }

  // ── Inbound ───────────────────────────────────────────────────────────────────────

  /**
   * Takes a frame from the transport: decrypts it, stores the message (atomically with the
   * session update), acknowledges the frame and starts delivery to the business's handler.
   * A frame that cannot be decrypted is answered with a decryption-error message (a type-8
   * frame through `transport.send`) naming it, so the device resends it. A type-8 frame is a
   * device's decryption-error message about one of the business's frames: the message it names
   * is sent again and the session restarted, as far as the error matches what was sent
   * (decryption-errors.ts).
   */
  async receiveFrame(frame: InboundFrame): Promise<ReceiveOutcome> {
    return receiveFrame(this.g, frame);
  }

  // ── Outbound ──────────────────────────────────────────────────────────────────────

  /**
   * Accepts a message for a person: stored (encrypted) before this resolves, then encrypted
   * for each of the person's devices and handed to the transport in the background.
   */
  async send(request: SendRequest): Promise<MessageId> {
    return send(this.g, request);
  }

  /**
   * Where a message stands: its status and, for an outbound message, each of the person's
   * devices and how far it got. `ERR_NOT_FOUND` for an id this gateway never issued (or whose
   * person was erased); `ERR_RETENTION_EXPIRED` once the message passed its deadline.
   */
  async status(messageId: string): Promise<MessageStatus> {
    return messageStatus(this.g, messageId);
  }

  /** Sends a message again to every device that has not confirmed delivery; refused after the deadline. */
  async retransmit(messageId: string): Promise<void> {
    return retransmit(this.g, messageId);
  }

  /** A delivery receipt from a person's device for one outbound frame. */
  async receiveReceipt(receipt: DeliveryReceipt): Promise<void> {
    return receiveReceipt(this.g, receipt);
  }

  // ── Groups ────────────────────────────────────────────────────────────────────────

  /**
   * Creates a group of people the business's number takes part in, and returns its id (random:
   * it names no one). Members are kept by the business's pseudonym of each; nothing is sent
   * until the first `sendToGroup`.
   */
  async createGroup(request: CreateGroupRequest): Promise<string> {
    return createGroup(this.g, request);
  }

  /** Adds members: they read the group's messages from the next one on, never earlier ones. */
  async addGroupMembers(groupId: string, phoneNumbers: readonly string[]): Promise<void> {
    await addMembers(this.g, groupId, phoneNumbers);
  }

  /**
   * Removes members: their keys go, and the business's sending chain is rotated, so none of
   * their devices reads anything sent afterwards.
   */
  async removeGroupMembers(groupId: string, phoneNumbers: readonly string[]): Promise<void> {
    await removeMembers(this.g, groupId, phoneNumbers);
  }

  /** The group's number, members and current chain (no key material). */
  async group(groupId: string): Promise<GroupInfo> {
    return groupInfo(this.g, groupId);
  }

  /** Deletes the group: its members and every sender key of it. Its stored messages expire as usual. */
  async deleteGroup(groupId: string): Promise<void> {
    return deleteGroup(this.g, groupId);
  }

  /**
   * Sends one message to a group: encrypted once with the business's sender key and handed to
   * the transport for every member device (type 7), after the chain's distribution message
   * over the 1:1 session of each device that lacks it. Statuses cover every member device.
   */
  async sendToGroup(request: GroupSendRequest): Promise<MessageId> {
    return sendToGroup(this.g, request);
  }

  /**
   * A member device could not read a group message for want of the sender key (the transport
   * relays the device's report; Signal's decryption-error message is meant to end up here): the
   * message is resent to that device over its 1:1 session with the current chain.
   */
  async receiveSenderKeyMissing(report: SenderKeyMissingReport): Promise<'resent' | 'ignored'> {
    return resendAfterMissingKey(this.g, report);
  }

  // ── Media ─────────────────────────────────────────────────────────────────────────

  /**
   * Uploads a file for a business: encrypted as it is read (WhatsApp media format), the blob
   * stored (ciphertext only, until the retention deadline) and placed on the network's media
   * host. Over the type's size limit it is refused before the excess is read. Send it with
   * `send({ from, to, content: { media: { mediaId, caption? } } })`.
   */
  async uploadMedia(
    businessId: string,
    source: MediaByteSource | Uint8Array,
    options: UploadMediaOptions,
  ): Promise<MediaInfo> {
    return uploadMedia(this.g, businessId, source, options);
  }

  /**
   * A business's file as a stream. A person's file is fetched from the media host the first
   * time (resuming a broken download with ranged requests); the whole blob is checked before
   * the first byte is released. `ERR_RETENTION_EXPIRED` after its deadline.
   */
  async downloadMedia(
    businessId: string,
    mediaId: string,
    options: DownloadMediaOptions = {},
  ): Promise<ReadableStream<Uint8Array>> {
    return downloadMedia(this.g, businessId, mediaId, options);
  }

  /** What a file is (type, MIME type, length, SHA-256, deadline), never its key or location. */
  async mediaInfo(businessId: string, mediaId: string): Promise<MediaInfo> {
    return mediaInfo(this.g, businessId, mediaId);
  }

  /** Deletes a file now: its record, its blob and the index entries naming it. */
  async deleteMedia(businessId: string, mediaId: string): Promise<void> {
    return deleteMedia(this.g, businessId, mediaId);
  }

  // ── Devices and erasure ───────────────────────────────────────────────────────────

  /**
   * The transport's device list for a person. Sessions of removed devices are deleted in
   * every business that knows the person; new devices get sessions when next messaged.
   */
  async setDevices(phoneNumber: string, deviceIds: readonly number[]): Promise<void> {
    return setDevices(this.g, phoneNumber, deviceIds);
  }

  /**
   * Deletes everything tied to a person's phone number for one business, in one commit:
   * messages (with the clear number), sessions, identity keys, device list, dedup and
   * rate-limit records, the media files they sent and the uploads sent to them alone (their
   * blobs right after the commit).
   */
  async erase(businessId: string, phoneNumber: string): Promise<void> {
    return erase(this.g, businessId, phoneNumber);
  }

  // ── Schedule-driven work ──────────────────────────────────────────────────────────

  /** Everything due at `clock.now()`: redeliveries, retries, expiries, prekey upkeep, retention. */
  async tick(): Promise<void> {
    if (this.g.closed) return;
    try {
      // First, so that work stuck on a slow store or handler holds no plaintext past the TTL.
      this.g.leases.expire();
      await runDue(this.g);
      await redeliverAllEvents(this.g);
      await maintainPreKeys(this.g);
      // Shared upkeep: one instance sweeps per lease period (durable/leases.ts).
      if (await tryLease(this.g, 'sweep', SWEEP_LEASE_MS)) await sweep(this.g);
      await foldAll(this.g);
    } catch (error) {
      this.g.reportError(error);
    }
  }

  /**
   * Runs the due redeliveries and sending attempts (of one business, or all), and reports
   * expiries. Reads only the time index of due work up to now, not the whole outbox.
   */
  async runDue(businessId?: string): Promise<void> {
    if (businessId !== undefined) assertBusinessId(businessId);
    return runDue(this.g, businessId);
  }

  /**
   * Tops up one-time EC and Kyber prekeys below their low-water marks, rotates the signed
   * prekey and the last-resort Kyber prekey on schedule, removes the previous ones after their
   * grace period (a Kyber prekey with the base keys it served) and re-publishes anything a
   * failed upload left out of the directory.
   */
  async maintainPreKeys(): Promise<void> {
    return maintainPreKeys(this.g);
  }

  /**
   * Retention: deletes expired records, destroys period keys whose period ended (shredding
   * their content in every copy of the message store) and the protocol state of people
   * inactive longer than `inactivityMs`.
   */
  async sweep(): Promise<SweepResult> {
    return sweep(this.g);
  }

  /**
   * Plaintext buffers the gateway holds right now (content being encrypted or handed to a
   * handler that has not returned) and the age of the oldest, on the injected clock. Never
   * more than `plaintextTtlMs` after a `tick()`.
   */
  plaintextInUse(): { readonly buffers: number; readonly oldestAgeMs: number | undefined } {
    const { leases, oldestAgeMs } = this.g.leases.stats();
    return { buffers: leases, oldestAgeMs };
  }

  /** Resolves when no background work started by this gateway is running. */
  async idle(): Promise<void> {
    while (this.g.inFlight.size > 0) await Promise.allSettled([...this.g.inFlight]);
  }

  /** Stops the timer, waits for background work and forgets cached keys. Stores stay open (the caller owns them). */
  async close(): Promise<void> {
    if (this.g.closed) return;
    this.g.closed = true;
    if (this.interval) clearInterval(this.interval);
    await this.idle();
    try {
      await forgetHandedOver(this.g);
      await foldAll(this.g);
    } catch (error) {
      this.g.reportError(error);
    }
    this.g.leases.clear();
    this.g.periodKeys.clear();
    wipe(this.g.integritySketchKey, this.g.statisticsTagKey);
    for (const pending of this.g.businesses.values()) {
      pending.then((ctx) => wipe(ctx.pseudonymKey)).catch(() => undefined);
    }
    this.g.businesses.clear();
  }

  // ── Integrity, statistics and spam reports ────────────────────────────────────────

  /**
   * The transport side's view of the integrity signals (the network's interface, not the
   * business's and not the rest of the platform's): a level with its reasons and counts per
   * business, read-only. Hand this object to the network and nothing else of the gateway.
   * A business's counters are restored from the store when the gateway first works for it
   * after a start (any call for it, or the first `tick()`); until then it reads `ok`.
   */
  integritySignals(): IntegritySignals {
    if (!this.signalsReader)
      throw new ParleyError('ERR_CONFIGURATION', 'integrity monitoring is off (integrity: false)');
    return this.signalsReader;
  }

  /**
   * The only interface for "the rest of the platform": non-personal statistics and billing
   * counters per business and UTC day, as typed snapshots (counts, never people).
   */
  statisticsExport(): PlatformExport {
    if (!this.g.platformExport)
      throw new ParleyError('ERR_CONFIGURATION', 'statistics are off (statistics: false)');
    return this.g.platformExport;
  }

  /**
   * A person's spam report, relayed by the transport. Counts toward the business's integrity
   * signal only when the gateway's own record shows the message was delivered to that
   * reporter, and only once per message. The reporter's number is turned into the business's
   * pseudonym for that check and kept nowhere.
   */
  async receiveSpamReport(report: SpamReport): Promise<SpamReportOutcome> {
    return receiveSpamReport(this.g, report);
  }
}
