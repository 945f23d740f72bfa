import { ParleyError } from '../errors.js';
import type { MediaByteSource } from '../media/byte-source.js';
import { inspectCustom } from '../redaction.js';
import type { BillingSnapshot, StatisticsSnapshot } from '../stats/snapshots.js';
import { business, businessOfNumber, numbers } from './businesses.js';
import type { GatewayContext } from './context.js';
import {
  type AccessLogQuery,
  type AccessLogVerification,
  type AccessNote,
  type AccessOperation,
  type AccessRecord,
  appendAccess,
  outcomeOf,
  queryAccess,
  verifyAccess,
} from './durable/access-log.js';
import { mediaIndexDeadline } from './durable/media-store.js';
import { messageIndex } from './durable/message-store.js';
import { sendToGroup } from './group-outbound.js';
import { addMembers, createGroup, deleteGroup, groupBusiness, groupInfo, removeMembers } from './groups.js';
import { registerEventHandler, registerMessageHandler } from './handlers.js';
import { deleteMedia, downloadMedia, mediaInfo, uploadMedia } from './media.js';
import { assertMediaId } from './media-content.js';
import type { DownloadMediaOptions, MediaInfo, UploadMediaOptions } from './media-types.js';
import { messageStatus, retransmit, send } from './outbound.js';
import { erase } from './retention.js';
import type {
  CreateGroupRequest,
  EventHandler,
  GroupInfo,
  GroupSendRequest,
  MessageHandler,
  MessageId,
  MessageStatus,
  SendRequest,
} from './types.js';
import { assertArgumentObject, assertBusinessId, assertPhoneNumber, MESSAGE_ID } from './validation.js';

/** Who acts through a handle: a name for the access log (an API token's label, a user id). */
export interface HandleOptions {
  readonly principal: string;
}

/** One business's statistics and billing for one UTC day (`YYYY-MM-DD`). */
export interface BusinessUsage {
  readonly statistics: StatisticsSnapshot['businesses'][number] | undefined;
  readonly billing: BillingSnapshot['businesses'][number] | undefined;
}

const PRINCIPAL = /^[\x21-\x7e][\x20-\x7e]{0,127}$/;

/**
 * What a business — or a partner acting for it — may do, and nothing more: a handle bound to
 * one business that cannot reach another business's numbers, message ids or people. An id of
 * another business is `ERR_NOT_FOUND`, exactly as a missing one. Every call appends a record to
 * the access log (principal, operation, message id, the person as a pseudonym, outcome).
 * Operator work (registering businesses and numbers, `tick`, the platform exports, the
 * transport's entry points) stays on the gateway.
 */
export class BusinessHandle {
  readonly businessId: string;
  readonly principal: string;
  readonly #g: GatewayContext;

  constructor(g: GatewayContext, businessId: string, options: HandleOptions) {
    assertBusinessId(businessId);
    assertArgumentObject(options, 'options', 'handle options { principal }');
    if (typeof options.principal !== 'string' || !PRINCIPAL.test(options.principal)) {
      throw new ParleyError('ERR_INVALID_ARGUMENT', '"principal" expected 1–128 printable ASCII characters', {
        field: 'principal',
      });
    }
    this.#g = g;
    this.businessId = businessId;
    this.principal = options.principal;
  }

  /** A summary for logs (`inspect`/JSON): the business and principal, nothing else. */
  toJSON(): Record<string, string> {
    return { type: 'BusinessHandle', businessId: this.businessId, principal: this.principal };
  }

  [inspectCustom](): string {
    return `BusinessHandle ${JSON.stringify(this.toJSON())}`;
  }

  /** Sends from one of this business's numbers; another business's number is `ERR_NOT_FOUND`. */
  send(request: SendRequest): Promise<MessageId> {
    return this.#logged('send', async (note) => {
      assertArgumentObject(request, 'request', 'a send request { from, to, content }');
      await this.#ownNumber(request.from);
      assertPhoneNumber(request.to, 'to');
      note.person = this.#g.pseudonym(await business(this.#g, this.businessId), request.to);
      const id = await send(this.#g, request);
      note.messageId = id;
      return id;
    });
  }

  retransmit(messageId: string): Promise<void> {
    return this.#logged('retransmit', async (note) => {
      note.messageId = await this.#ownMessage(messageId);
      await retransmit(this.#g, messageId);
    });
  }

  status(messageId: string): Promise<MessageStatus> {
    return this.#logged('status', async (note) => {
      note.messageId = await this.#ownMessage(messageId);
      return messageStatus(this.#g, messageId);
    });
  }

  /** Deletes everything this business holds about one of its customers. */
  erase(phoneNumber: string): Promise<void> {
    return this.#logged('erase', async (note) => {
      assertPhoneNumber(phoneNumber, 'phoneNumber');
      note.person = this.#g.pseudonym(await business(this.#g, this.businessId), phoneNumber);
      await erase(this.#g, this.businessId, phoneNumber);
    });
  }

  // ── Groups ──────────────────────────────────────────────────────────────────────

  /** Creates a group on one of this business's numbers (see `Gateway.createGroup`); one record per member. */
  createGroup(request: CreateGroupRequest): Promise<string> {
    return this.#logged('group-create', async (note) => {
      assertArgumentObject(request, 'request', 'a group { from, members }');
      await this.#ownNumber(request.from);
      const group = await createGroup(this.#g, request);
      note.group = group;
      note.people = await this.#pseudonyms(request.members);
      return group;
    });
  }

  /** Adds members to one of this business's groups (one access-log record per member added). */
  addGroupMembers(groupId: string, phoneNumbers: readonly string[]): Promise<void> {
    return this.#logged('group-add', async (note) => {
      note.group = await this.#ownGroup(groupId);
      note.people = await addMembers(this.#g, groupId, phoneNumbers, this.businessId);
    });
  }

  /** Removes members (the group's chain rotates; one access-log record per member removed). */
  removeGroupMembers(groupId: string, phoneNumbers: readonly string[]): Promise<void> {
    return this.#logged('group-remove', async (note) => {
      note.group = await this.#ownGroup(groupId);
      note.people = await removeMembers(this.#g, groupId, phoneNumbers, this.businessId);
    });
  }

  /** One message to a group of this business, encrypted once for every member device. */
  sendToGroup(request: GroupSendRequest): Promise<MessageId> {
    return this.#logged('group-send', async (note) => {
      assertArgumentObject(request, 'request', 'a group message { groupId, content }');
      note.group = await this.#ownGroup(request.groupId);
      const id = await sendToGroup(this.#g, request, this.businessId);
      note.messageId = id;
      return id;
    });
  }

  group(groupId: string): Promise<GroupInfo> {
    return this.#logged('group-info', async (note) => {
      note.group = await this.#ownGroup(groupId);
      return groupInfo(this.#g, groupId, this.businessId);
    });
  }

  deleteGroup(groupId: string): Promise<void> {
    return this.#logged('group-delete', async (note) => {
      note.group = await this.#ownGroup(groupId);
      await deleteGroup(this.#g, groupId, this.businessId);
    });
  }

  /**
   * Uploads a file (bytes, a Web ReadableStream, a Node Readable or any iterable of chunks):
   * encrypted as it is read, stored as ciphertext, placed on the network's media host. Send it
   * with `send({ from, to, content: { media: { mediaId } } })`.
   */
  uploadMedia(source: MediaByteSource | Uint8Array, options: UploadMediaOptions): Promise<MediaInfo> {
    return this.#logged('upload-media', async (note) => {
      const info = await uploadMedia(this.#g, this.businessId, source, options);
      note.messageId = info.mediaId;
      return info;
    });
  }

  /** A file of this business (uploaded, or a person's), checked whole before the first byte is released. */
  downloadMedia(mediaId: string, options: DownloadMediaOptions = {}): Promise<ReadableStream<Uint8Array>> {
    return this.#logged('download-media', async (note) => {
      note.messageId = await this.#ownMedia(mediaId);
      return downloadMedia(this.#g, this.businessId, mediaId, options);
    });
  }

  mediaInfo(mediaId: string): Promise<MediaInfo> {
    return this.#logged('media-info', async (note) => {
      note.messageId = await this.#ownMedia(mediaId);
      return mediaInfo(this.#g, this.businessId, mediaId);
    });
  }

  /** Deletes a file now (record, blob, index entries); messages that carried it keep their pointer. */
  deleteMedia(mediaId: string): Promise<void> {
    return this.#logged('delete-media', async (note) => {
      note.messageId = await this.#ownMedia(mediaId);
      await deleteMedia(this.#g, this.businessId, mediaId);
    });
  }

  numbers(): Promise<string[]> {
    return this.#logged('numbers', () => numbers(this.#g, this.businessId));
  }

  /** This business's non-personal statistics and billing for one UTC day. */
  usage(day: string): Promise<BusinessUsage> {
    return this.#logged('usage', async () => {
      await business(this.#g, this.businessId);
      const platform = this.#g.platformExport;
      if (!platform) throw new ParleyError('ERR_CONFIGURATION', 'statistics are off (statistics: false)');
      const mine = <T extends { readonly businessId: string }>(rows: readonly T[]) =>
        rows.find((row) => row.businessId === this.businessId);
      return {
        statistics: mine(platform.statistics.snapshot(day as never).businesses),
        billing: mine(platform.billing.snapshot(day as never).businesses),
      };
    });
  }

  /** The business's message handler (see `Gateway.onMessage`). */
  async onMessage(handler: MessageHandler): Promise<() => void> {
    return this.#logged('on-message', async () => {
      await business(this.#g, this.businessId);
      return registerMessageHandler(this.#g, this.businessId, handler);
    });
  }

  /** The business's event handler (see `Gateway.onEvent`). */
  async onEvent(handler: EventHandler): Promise<() => void> {
    return this.#logged('on-event', async () => {
      await business(this.#g, this.businessId);
      return registerEventHandler(this.#g, this.businessId, handler);
    });
  }

  /** This business's access-log records (reading them is logged too). */
  accessLog(query: AccessLogQuery = {}): Promise<AccessRecord[]> {
    return this.#logged('access-log', () => queryAccess(this.#g, this.businessId, query));
  }

  /** Checks this business's access-log chain (see `AccessLog.verify`). */
  verifyAccessLog(): Promise<AccessLogVerification> {
    return this.#logged('access-log', () => verifyAccess(this.#g, this.businessId));
  }

  async #logged<T>(operation: AccessOperation, work: (note: AccessNote) => Promise<T>): Promise<T> {
    this.#g.assertOpen();
    const note: AccessNote = {};
    let outcome: AccessRecord['outcome'] = 'ok';
    try {
      return await work(note);
    } catch (error) {
      outcome = outcomeOf(error);
      throw error;
    } finally {
      // A group change names each member it changed in a record of its own (one commit for all).
      const people = note.people?.length ? note.people : [note.person];
      await Promise.all(
        people.map((person) =>
          appendAccess(this.#g, {
            principal: this.principal,
            operation,
            businessId: this.businessId,
            messageId: note.messageId,
            person,
            ...(note.group === undefined ? {} : { group: note.group }),
            outcome,
          }),
        ),
      );
    }
  }

  /** A group of this business; another business's reads exactly like a missing one. */
  async #ownGroup(groupId: unknown): Promise<string> {
    await groupBusiness(this.#g, groupId, this.businessId);
    return groupId as string;
  }

  async #pseudonyms(phoneNumbers: readonly string[]): Promise<string[]> {
    const ctx = await business(this.#g, this.businessId);
    return [...new Set(phoneNumbers)].map((phoneNumber) => this.#g.pseudonym(ctx, phoneNumber));
  }

  /**
   * The media id, for the access log, when it is this business's (the operation itself answers
   * another business's id exactly like a missing one): never log another business's ids.
   */
  async #ownMedia(mediaId: unknown): Promise<string | undefined> {
    assertMediaId(mediaId);
    return (await mediaIndexDeadline(this.#g, this.businessId, mediaId)) === undefined ? undefined : mediaId;
  }

  /** A number of this business; anything else reads exactly like an unregistered number. */
  async #ownNumber(number: unknown): Promise<void> {
    assertPhoneNumber(number, 'from');
    let owner: string | undefined;
    try {
      owner = await businessOfNumber(this.#g, number);
    } catch (error) {
      if (!(error instanceof ParleyError) || error.code !== 'ERR_NOT_FOUND') throw error;
    }
    if (owner !== this.businessId) throw notRegistered();
  }

  /** A message id of this business; another business's reads exactly like a missing one. */
  async #ownMessage(messageId: unknown): Promise<MessageId> {
    if (typeof messageId !== 'string' || !MESSAGE_ID.test(messageId)) {
      throw new ParleyError('ERR_INVALID_ARGUMENT', '"messageId" expected a message id this gateway issued', {
        field: 'messageId',
      });
    }
    const id = messageId as MessageId;
    const index = await messageIndex(this.#g, id);
    if (index.businessId !== this.businessId) throw noSuchMessage();
    return id;
  }
}

function notRegistered(): ParleyError {
  return new ParleyError('ERR_NOT_FOUND', 'this business number is not registered with the gateway');
}

function noSuchMessage(): ParleyError {
  return new ParleyError('ERR_NOT_FOUND', 'no such message (never sent, erased, or long expired)');
}
