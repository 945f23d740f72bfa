import type { RandomSource } from '../crypto/provider.js';
import { isParleyError, ParleyError } from '../errors.js';
import type {
  DeliveryReceipt,
  Directory,
  InboundFrame,
  OutboundFrame,
  PreKeyUpload,
  ReceiveOutcome,
  RetryRequest,
  SenderKeyMissingReport,
  SignedPublicPreKey,
  SpamReport,
  Transport,
} from '../gateway/types.js';
import type { SpamReportOutcome } from '../integrity/monitor.js';
import type { PreKeyBundle } from '../keys/prekeys.js';
import { SimulatedMediaServer } from './media-server.js';
import type { DecryptionErrorAnswer, NetworkPerson, PersonLink, PersonMessage } from './simulated-person.js';

/** What the network delivers to: a `Gateway`, or a client that forwards to one (HTTP, WebSocket). */
export interface GatewayEndpoint {
  receiveFrame(frame: InboundFrame): Promise<ReceiveOutcome>;
  receiveReceipt(receipt: DeliveryReceipt): Promise<void>;
  /** Awaited before and after each delivery step so background sends have reached the network. */
  idle?(): Promise<void>;
  /** A person's spam report relayed by the network (a `Gateway` takes them; other endpoints may not). */
  receiveSpamReport?(report: SpamReport): Promise<SpamReportOutcome>;
  /** A member device lacked the sender key of a group message (a `Gateway` resends it). */
  receiveSenderKeyMissing?(report: SenderKeyMissingReport): Promise<unknown>;
}

export type PacketDirection = 'to-gateway' | 'to-person';

/** Something in flight on the test network. */
export type Packet =
  | {
      readonly seq: number;
      readonly direction: 'to-person';
      readonly kind: 'frame';
      readonly frame: OutboundFrame;
      holdSteps: number;
    }
  | {
      readonly seq: number;
      readonly direction: 'to-gateway';
      readonly kind: 'frame';
      readonly frame: InboundFrame;
      holdSteps: number;
    }
  | {
      readonly seq: number;
      readonly direction: 'to-gateway';
      readonly kind: 'receipt';
      readonly receipt: DeliveryReceipt;
      holdSteps: number;
    }
  | {
      readonly seq: number;
      readonly direction: 'to-gateway';
      /** A device's report that it lacked a group message's sender key. */
      readonly kind: 'key-missing';
      readonly report: SenderKeyMissingReport;
      holdSteps: number;
    };

/** Which packets a fault applies to (all when empty). */
export interface PacketFilter {
  readonly direction?: PacketDirection;
  readonly kind?: 'frame' | 'receipt' | 'key-missing';
}

/** What happened to one packet in a delivery step. */
export type Delivery =
  | { readonly packet: Packet; readonly result: 'received'; readonly message: PersonMessage }
  /** A decryption-error message (type 8) the person's client answered. */
  | { readonly packet: Packet; readonly result: 'answered'; readonly answer: DecryptionErrorAnswer }
  | { readonly packet: Packet; readonly result: 'accepted'; readonly outcome: ReceiveOutcome }
  | { readonly packet: Packet; readonly result: 'receipt' }
  /** A `key-missing` report reached the gateway. */
  | { readonly packet: Packet; readonly result: 'reported' }
  /** The recipient refused it (person: undecryptable; gateway: threw). Not retried. */
  | { readonly packet: Packet; readonly result: 'refused'; readonly code: string }
  /** The gateway endpoint was unreachable; the packet stays queued for the next step. */
  | { readonly packet: Packet; readonly result: 'unreachable'; readonly code: string };

export interface FlushResult {
  readonly steps: number;
  readonly deliveries: readonly Delivery[];
  /** Packets still queued when `maxSteps` ran out (0 when the network drained). */
  readonly remaining: number;
}

interface Published {
  registrationId: number;
  identityKey: Uint8Array;
  signedPreKey: SignedPublicPreKey;
  pool: { id: number; publicKey: Uint8Array }[];
  lastResortKyberPreKey: SignedPublicPreKey | undefined;
  kyberPool: SignedPublicPreKey[];
}

interface Fault {
  remaining: number;
  readonly filter: PacketFilter;
  readonly holdSteps?: number;
}

/** A flush that never drains (an endpoint down for good) must end: 100 steps is far past any scenario. */
export const DEFAULT_MAX_FLUSH_STEPS = 100;

export interface TestNetworkOptions {
  /** For `shuffle()` and media paths; pass a deterministic source to make them reproducible. */
  readonly random?: RandomSource;
}

/**
 * An in-memory messaging network: the gateway's {@link Transport} and {@link Directory}, and
 * the route to simulated people. Nothing moves on its own: frames wait in a queue until the
 * test calls {@link step} or {@link flush}, so drops, duplicates, delays and reordering are
 * decided by the test, not by timers.
 */
export class TestNetwork implements Transport, Directory {
  /** Frames the transport accepted from the gateway, in order. */
  readonly sent: OutboundFrame[] = [];
  readonly retryRequests: RetryRequest[] = [];
  /** Inbound frame ids the gateway acknowledged. */
  readonly acknowledged: string[] = [];
  /** Packets lost to `dropNext` or `drop`. */
  readonly dropped: Packet[] = [];
  /** Every delivery, in order. */
  readonly log: Delivery[] = [];
  /** `send` calls, successful or not. */
  sendAttempts = 0;
  /** While true every `send` from the gateway is refused (the network is unreachable). */
  down = false;
  /** The network's media host: the gateway's `media.transport`, and where people put and get blobs. */
  readonly media: SimulatedMediaServer;
  private readonly random: RandomSource | undefined;
  private readonly people = new Map<string, NetworkPerson>();
  private readonly published = new Map<string, Published>();
  private queue: Packet[] = [];
  private endpoint: GatewayEndpoint | undefined;
  private seq = 0;
  private refuseSends = 0;
  private readonly drops: Fault[] = [];
  private readonly duplicates: Fault[] = [];
  private readonly delays: Fault[] = [];

  constructor(options: TestNetworkOptions = {}) {
    this.random = options.random;
    this.media = new SimulatedMediaServer({ random: options.random });
  }

  /** Where frames from people and receipts go. */
  connect(endpoint: GatewayEndpoint): void {
    this.endpoint = endpoint;
  }

  /** Puts a person on the network: reachable by phone number, and able to `person.send(...)`. */
  addPerson<P extends NetworkPerson>(person: P): P {
    this.people.set(person.phoneNumber, person);
    const link: PersonLink = {
      businessBundle: (number) => this.businessBundle(number),
      submitFrame: (frame) => this.enqueue({ direction: 'to-gateway', kind: 'frame', frame }),
      submitReceipt: (receipt) => this.enqueue({ direction: 'to-gateway', kind: 'receipt', receipt }),
      reportMissingSenderKey: (report) =>
        this.enqueue({ direction: 'to-gateway', kind: 'key-missing', report }),
      media: this.media,
    };
    person.attach(link);
    return person;
  }

  // ── Controls ──────────────────────────────────────────────────────────────────────

  /** The next `count` packets entering the network (matching `filter`) are lost. */
  dropNext(count = 1, filter: PacketFilter = {}): void {
    this.drops.push({ remaining: positiveCount(count, 'count'), filter });
  }

  /** The next `count` packets entering the network are delivered twice. */
  duplicateNext(count = 1, filter: PacketFilter = {}): void {
    this.duplicates.push({ remaining: positiveCount(count, 'count'), filter });
  }

  /** The next `count` packets wait `steps` delivery steps before they are delivered. */
  delayNext(steps: number, count = 1, filter: PacketFilter = {}): void {
    this.delays.push({
      remaining: positiveCount(count, 'count'),
      filter,
      holdSteps: positiveCount(steps, 'steps'),
    });
  }

  /** The gateway's next `count` `send` calls are refused (it retries them on its backoff schedule). */
  refuseNextSends(count = 1): void {
    this.refuseSends += positiveCount(count, 'count');
  }

  /** Reverses the order of the queued packets (of one direction, or all). */
  reorder(direction?: PacketDirection): void {
    this.permute(direction, (packets) => packets.reverse());
  }

  /** Shuffles the queued packets with the network's random source (reproducible with a seeded one). */
  shuffle(direction?: PacketDirection): void {
    const random = this.random;
    if (!random)
      throw new ParleyError('ERR_CONFIGURATION', 'shuffle() needs a network created with a random source');
    this.permute(direction, (packets) => {
      for (let i = packets.length - 1; i > 0; i--) {
        const bytes = random(4);
        const j = (((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0) % (i + 1);
        [packets[i], packets[j]] = [packets[j]!, packets[i]!];
      }
      return packets;
    });
  }

  /** Removes queued packets matching `filter` now; returns how many. */
  drop(filter: PacketFilter = {}): number {
    const lost = this.queue.filter((packet) => matches(packet, filter));
    this.queue = this.queue.filter((packet) => !matches(packet, filter));
    this.dropped.push(...lost);
    return lost.length;
  }

  /** Packets waiting for delivery (a copy). */
  pending(filter: PacketFilter = {}): Packet[] {
    return this.queue.filter((packet) => matches(packet, filter));
  }

  // ── Delivery ──────────────────────────────────────────────────────────────────────

  /**
   * One delivery round: waits for the gateway's background work, then delivers every packet
   * queued at that moment (held ones count down instead), then waits again.
   */
  async step(): Promise<Delivery[]> {
    await this.endpoint?.idle?.();
    const batch = this.queue;
    this.queue = [];
    const out: Delivery[] = [];
    for (const packet of batch) {
      if (packet.holdSteps > 0) {
        packet.holdSteps -= 1;
        this.queue.push(packet);
        continue;
      }
      const delivery = await this.deliver(packet);
      if (delivery.result === 'unreachable') this.queue.push(packet);
      out.push(delivery);
      this.log.push(delivery);
    }
    await this.endpoint?.idle?.();
    return out;
  }

  /** Steps until nothing is queued (bounded by `maxSteps`). */
  async flush(options: { readonly maxSteps?: number } = {}): Promise<FlushResult> {
    const maxSteps = options.maxSteps ?? DEFAULT_MAX_FLUSH_STEPS;
    const deliveries: Delivery[] = [];
    let steps = 0;
    await this.endpoint?.idle?.();
    while (this.queue.length > 0 && steps < maxSteps) {
      deliveries.push(...(await this.step()));
      steps += 1;
    }
    return { steps, deliveries, remaining: this.queue.length };
  }

  private async deliver(packet: Packet): Promise<Delivery> {
    if (packet.direction === 'to-person') {
      const person = this.people.get(packet.frame.to);
      if (!person) return { packet, result: 'refused', code: 'ERR_NOT_FOUND' };
      try {
        if (packet.frame.type === 8) {
          if (!person.receiveDecryptionError)
            return { packet, result: 'refused', code: 'ERR_INVALID_MESSAGE' };
          return { packet, result: 'answered', answer: await person.receiveDecryptionError(packet.frame) };
        }
        return { packet, result: 'received', message: await person.receive(packet.frame) };
      } catch (error) {
        return { packet, result: 'refused', code: codeOf(error) };
      }
    }
    const endpoint = this.endpoint;
    if (!endpoint) return { packet, result: 'unreachable', code: 'ERR_CONFIGURATION' };
    try {
      if (packet.kind === 'receipt') {
        await endpoint.receiveReceipt(packet.receipt);
        return { packet, result: 'receipt' };
      }
      if (packet.kind === 'key-missing') {
        if (!endpoint.receiveSenderKeyMissing)
          return { packet, result: 'refused', code: 'ERR_CONFIGURATION' };
        await endpoint.receiveSenderKeyMissing(packet.report);
        return { packet, result: 'reported' };
      }
      return { packet, result: 'accepted', outcome: await endpoint.receiveFrame(packet.frame) };
    } catch (error) {
      const code = codeOf(error);
      // A refusal of the frame itself is final; a failing link keeps the packet for redelivery.
      if (code === 'ERR_TRANSPORT_FAILURE' || code === 'ERR_CLOSED' || !isParleyError(error)) {
        return { packet, result: 'unreachable', code };
      }
      return { packet, result: 'refused', code };
    }
  }

  private enqueue(packet: DistributiveOmit<Packet, 'seq' | 'holdSteps'>): void {
    if (take(this.drops, packet)) {
      this.seq += 1;
      this.dropped.push({ ...packet, seq: this.seq, holdSteps: 0 } as Packet);
      return;
    }
    const copies = take(this.duplicates, packet) ? 2 : 1;
    const hold = take(this.delays, packet)?.holdSteps ?? 0;
    for (let i = 0; i < copies; i++) {
      this.seq += 1;
      this.queue.push({ ...packet, seq: this.seq, holdSteps: hold } as Packet);
    }
  }

  private permute(direction: PacketDirection | undefined, reorder: (packets: Packet[]) => Packet[]): void {
    const selected = this.queue.filter((packet) => direction === undefined || packet.direction === direction);
    const reordered = reorder([...selected]);
    let next = 0;
    this.queue = this.queue.map((packet) =>
      direction === undefined || packet.direction === direction ? reordered[next++]! : packet,
    );
  }

  /**
   * A person reports a message they received as spam. The network relays it right away, with
   * its sender attribution (the reporter's number), naming the business number and the frame.
   */
  async reportSpam(
    reporter: string,
    message: { readonly from: string; readonly frameId: string },
  ): Promise<SpamReportOutcome> {
    const endpoint = this.endpoint;
    if (!endpoint?.receiveSpamReport)
      throw new ParleyError('ERR_CONFIGURATION', 'the connected endpoint does not take spam reports');
    return endpoint.receiveSpamReport({ reporter, to: message.from, messageId: message.frameId });
  }

  // ── Transport (called by the gateway) ─────────────────────────────────────────────

  async send(frame: OutboundFrame): Promise<void> {
    this.sendAttempts += 1;
    if (this.down || this.refuseSends > 0) {
      this.refuseSends = Math.max(0, this.refuseSends - 1);
      throw new ParleyError('ERR_TRANSPORT_FAILURE', 'the test network refused the frame');
    }
    this.sent.push(frame);
    this.enqueue({ direction: 'to-person', kind: 'frame', frame });
  }

  async requestRetry(request: RetryRequest): Promise<void> {
    this.retryRequests.push(request);
  }

  async acknowledge(frameId: string): Promise<void> {
    this.acknowledged.push(frameId);
  }

  // ── Directory (called by the gateway) ─────────────────────────────────────────────

  async publish(upload: PreKeyUpload): Promise<void> {
    const entry = this.published.get(upload.number) ?? {
      registrationId: upload.registrationId,
      identityKey: upload.identityKey,
      signedPreKey: upload.signedPreKey,
      pool: [],
      lastResortKyberPreKey: undefined,
      kyberPool: [],
    };
    entry.signedPreKey = upload.signedPreKey;
    entry.pool.push(...upload.oneTimePreKeys);
    entry.lastResortKyberPreKey = upload.lastResortKyberPreKey ?? entry.lastResortKyberPreKey;
    entry.kyberPool.push(...(upload.oneTimeKyberPreKeys ?? []));
    this.published.set(upload.number, entry);
  }

  async availableOneTimePreKeys(number: string): Promise<number> {
    return this.published.get(number)?.pool.length ?? 0;
  }

  async availableOneTimeKyberPreKeys(number: string): Promise<number> {
    return this.published.get(number)?.kyberPool.length ?? 0;
  }

  async fetchDevices(phoneNumber: string): Promise<readonly number[]> {
    return [...(this.people.get(phoneNumber)?.deviceIds ?? [])];
  }

  async fetchBundle(phoneNumber: string, deviceId: number): Promise<PreKeyBundle> {
    const person = this.people.get(phoneNumber);
    if (!person) throw new ParleyError('ERR_NOT_FOUND', 'no such person on the test network');
    return person.bundle(deviceId);
  }

  /**
   * A business number's bundle as a person's client fetches it; each one-time prekey is
   * served once. With a Kyber prekey (one-time while any is left, else the last-resort one)
   * unless `kyber` is false, as for a client that only speaks X3DH.
   */
  businessBundle(number: string, options: { readonly kyber?: boolean } = {}): PreKeyBundle {
    const entry = this.published.get(number);
    if (!entry) throw new ParleyError('ERR_NOT_FOUND', 'this business number has published no keys');
    const oneTime = entry.pool.shift();
    const kyber =
      options.kyber === false ? undefined : (entry.kyberPool.shift() ?? entry.lastResortKyberPreKey);
    return {
      kyberPreKeyId: kyber?.id,
      kyberPreKey: kyber?.publicKey,
      kyberPreKeySignature: kyber?.signature,
      registrationId: entry.registrationId,
      deviceId: 1,
      identityKey: entry.identityKey,
      signedPreKeyId: entry.signedPreKey.id,
      signedPreKey: entry.signedPreKey.publicKey,
      signedPreKeySignature: entry.signedPreKey.signature,
      preKeyId: oneTime?.id,
      preKey: oneTime?.publicKey,
    };
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

function matches(packet: Pick<Packet, 'direction' | 'kind'>, filter: PacketFilter): boolean {
  return (
    (filter.direction === undefined || filter.direction === packet.direction) &&
    (filter.kind === undefined || filter.kind === packet.kind)
  );
}

/** Consumes one use of the first fault matching the packet. */
function take(faults: Fault[], packet: Pick<Packet, 'direction' | 'kind'>): Fault | undefined {
  const index = faults.findIndex((fault) => matches(packet, fault.filter));
  if (index < 0) return undefined;
  const fault = faults[index]!;
  fault.remaining -= 1;
  if (fault.remaining <= 0) faults.splice(index, 1);
  return fault;
}

function positiveCount(value: number, field: string): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', `"${field}" expected a positive integer`);
  }
  return value;
}

function codeOf(error: unknown): string {
  return isParleyError(error) ? error.code : 'ERR_UNKNOWN';
}
