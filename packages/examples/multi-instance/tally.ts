/**
 * What the harness saw, message by message, and the figures the issue asks for. Every message
 * carries a tag in its text (`in …` from a device, `re …` the business's reply to it, `hi …` the
 * business's first message to a person), so each delivery can be traced to the one logical
 * message it belongs to, whichever instance and whichever attempt carried it.
 */
import { createHash } from 'node:crypto';

export interface DeviceRef {
  readonly phoneNumber: string;
  readonly deviceId: number;
}

const deviceKey = (device: DeviceRef) => `${device.phoneNumber}/${device.deviceId}`;

interface Handled {
  readonly ids: Set<string>;
  calls: number;
}

interface OutboundPlan {
  readonly phoneNumber: string;
  readonly devices: readonly number[];
}

interface Reception {
  /** Distinct message ids this device decrypted for the tag. */
  readonly ids: Set<string>;
  /** Successful decryptions (more than one: the device showed the message twice). */
  decrypted: number;
}

interface FrameSeen {
  readonly bodies: Set<string>;
  frames: number;
  decrypted: number;
  /** Frame ids in arrival order, each marked when its body was new, and whether a receipt for this (id, device) had been taken by then. */
  readonly arrivals: {
    readonly frameId: string;
    readonly newBody: boolean;
    readonly afterReceipt: boolean;
  }[];
}

export interface KillRecord {
  readonly instance: number;
  readonly pid: number | undefined;
  /** Inbound messages handled when the kill happened (progress of the run). */
  readonly atHandled: number;
  readonly kind: 'random-point' | 'claim-commit';
  /** For `claim-commit`: the process had signalled a claimed-work commit in flight and died of SIGKILL in it. */
  readonly inClaimCommit: boolean;
  readonly exitSignal: string | null;
}

export interface TerminationRecord {
  readonly instance: number;
  /** Backends ended (pg_terminate_backend) while inside a commit transaction. */
  readonly terminated: number;
  /** The application_name the backend showed: a commit tag while (and only while) a commit runs. */
  readonly applicationName: string;
  /** What the held commit then returned: `ok` or an error code. */
  readonly outcome: string;
}

export class Tally {
  readonly inboundPlanned = new Set<string>();
  readonly handled = new Map<string, Handled>();
  handlerCallsWithoutTag = 0;
  readonly gatewayOutcomes = { accepted: 0, duplicate: 0, undecryptable: 0 };
  readonly undecryptableDevices = new Set<string>();
  /** Frame deliveries re-routed because the instance died, failed or did not answer. */
  frameReroutes = 0;
  /** Why frame and receipt deliveries were re-routed: an error code, or `link:…`. */
  readonly rerouteReasons = new Map<string, number>();
  receiptReroutes = 0;
  retryRequests = 0;

  readonly outboundPlanned = new Map<string, OutboundPlan>();
  /** Message ids `send` returned, by tag. */
  readonly sendIds = new Map<string, Set<string>>();
  readonly idTag = new Map<string, string>();
  /** Sends whose outcome the driver could not know (the call failed), by tag. */
  readonly ambiguousSends = new Map<string, number>();
  /** Why `send` calls failed: an error code, or `link:…` when the instance went away or did not answer. */
  readonly sendFailures = new Map<string, number>();
  /** Ambiguous sends the driver made again, after the reconciliation showed they were not accepted. */
  resentAfterAmbiguity = 0;
  readonly statuses = new Map<string, Set<string>>();
  /** Per tag, per device: what the device decrypted. */
  readonly receptions = new Map<string, Map<string, Reception>>();
  /** Per message id and device: the frames (ciphertexts) that reached it. */
  readonly frames = new Map<string, FrameSeen>();
  /** Message id → the devices that decrypted it. */
  readonly receivedById = new Map<string, Set<string>>();
  /** Frames a device refused as a repeat of bytes it already decrypted (same-bytes redelivery). */
  sameBytesRepeats = 0;
  /** (message id, device) pairs whose receipt an instance took. */
  private readonly receiptsTaken = new Set<string>();
  /** Devices that could not decrypt a frame (not a repeat): their sessions desynchronised. */
  readonly desynchronised = new Map<string, number>();
  readonly kills: KillRecord[] = [];
  readonly terminations: TerminationRecord[] = [];

  planInbound(tag: string): void {
    this.inboundPlanned.add(tag);
  }

  planOutbound(tag: string, plan: OutboundPlan): void {
    this.outboundPlanned.set(tag, plan);
  }

  /** True the first time a tag reaches the business's handler. */
  noteHandled(tag: string | undefined, id: string): boolean {
    if (tag === undefined || !this.inboundPlanned.has(tag)) {
      this.handlerCallsWithoutTag += 1;
      return false;
    }
    const entry = this.handled.get(tag) ?? { ids: new Set<string>(), calls: 0 };
    const first = entry.calls === 0;
    entry.calls += 1;
    entry.ids.add(id);
    this.handled.set(tag, entry);
    return first;
  }

  noteSent(tag: string, id: string): void {
    const ids = this.sendIds.get(tag) ?? new Set<string>();
    ids.add(id);
    this.sendIds.set(tag, ids);
    this.idTag.set(id, tag);
  }

  noteAmbiguous(tag: string, reason: string): void {
    this.ambiguousSends.set(tag, (this.ambiguousSends.get(tag) ?? 0) + 1);
    this.sendFailures.set(reason, (this.sendFailures.get(reason) ?? 0) + 1);
  }

  noteStatus(messageId: string, status: string): void {
    const set = this.statuses.get(messageId) ?? new Set<string>();
    set.add(status);
    this.statuses.set(messageId, set);
  }

  /** A frame reached a device; `tag` when it decrypted, `repeat` when it was a same-bytes repeat. */
  noteFrame(
    device: DeviceRef,
    frameId: string,
    messageId: string,
    body: Uint8Array,
    result: { readonly tag: string } | 'repeat' | 'failed',
  ): void {
    const key = `${messageId}|${deviceKey(device)}`;
    const seen = this.frames.get(key) ?? { bodies: new Set<string>(), frames: 0, decrypted: 0, arrivals: [] };
    seen.frames += 1;
    const digest = createHash('sha256').update(body).digest('hex');
    seen.arrivals.push({
      frameId,
      newBody: !seen.bodies.has(digest),
      afterReceipt: this.receiptsTaken.has(key),
    });
    seen.bodies.add(digest);
    this.frames.set(key, seen);
    if (result === 'repeat') {
      this.sameBytesRepeats += 1;
      return;
    }
    if (result === 'failed') {
      this.desynchronised.set(deviceKey(device), (this.desynchronised.get(deviceKey(device)) ?? 0) + 1);
      return;
    }
    seen.decrypted += 1;
    this.idTag.set(messageId, result.tag);
    const byDevice = this.receptions.get(result.tag) ?? new Map<string, Reception>();
    const reception = byDevice.get(deviceKey(device)) ?? { ids: new Set<string>(), decrypted: 0 };
    reception.ids.add(messageId);
    reception.decrypted += 1;
    byDevice.set(deviceKey(device), reception);
    this.receptions.set(result.tag, byDevice);
    const devices = this.receivedById.get(messageId) ?? new Set<string>();
    devices.add(deviceKey(device));
    this.receivedById.set(messageId, devices);
  }

  /** A gateway instance took the device's receipt for a frame of this message. */
  noteReceiptTaken(device: DeviceRef, messageId: string): void {
    this.receiptsTaken.add(`${messageId}|${deviceKey(device)}`);
  }

  noteUndecryptable(device: DeviceRef): void {
    this.gatewayOutcomes.undecryptable += 1;
    this.undecryptableDevices.add(deviceKey(device));
  }

  /** The business's `delivered` status event came for a message of this tag. */
  delivered(tag: string): boolean {
    const ids = new Set([...(this.sendIds.get(tag) ?? [])]);
    for (const [id, t] of this.idTag) if (t === tag) ids.add(id);
    return [...ids].some((id) => this.statuses.get(id)?.has('delivered'));
  }

  /**
   * Every inbound tag handled, and every planned outbound tag (but those `ignoring`) decrypted on
   * each of its person's devices.
   */
  complete(ignoring: ReadonlySet<string> = new Set()): boolean {
    if (this.handled.size < this.inboundPlanned.size) return false;
    for (const [tag, plan] of this.outboundPlanned) {
      if (ignoring.has(tag)) continue;
      const byDevice = this.receptions.get(tag);
      if (!byDevice) return false;
      for (const deviceId of plan.devices) {
        if (!byDevice.has(deviceKey({ phoneNumber: plan.phoneNumber, deviceId }))) return false;
      }
    }
    return true;
  }

  /** Outbound tags planned but never decrypted by a device, whose send was ambiguous. */
  unresolvedAmbiguous(): string[] {
    return [...this.ambiguousSends.keys()].filter(
      (tag) => !this.receptions.has(tag) && !(this.sendIds.get(tag)?.size ?? 0),
    );
  }

  /** Ids the gateway accepted (an `accepted` status event) that no `send` call returned. */
  acceptedWithoutReturnedId(): string[] {
    const returned = new Set([...this.sendIds.values()].flatMap((ids) => [...ids]));
    return [...this.statuses.entries()]
      .filter(([id, statuses]) => statuses.has('accepted') && !returned.has(id))
      .map(([id]) => id);
  }

  figures(): Figures {
    let once = 0;
    let sameIdAgain = 0;
    let twoIds = 0;
    for (const entry of this.handled.values()) {
      if (entry.ids.size > 1) twoIds += 1;
      else if (entry.calls > 1) sameIdAgain += 1;
      else once += 1;
    }
    const never = [...this.inboundPlanned].filter((tag) => !this.handled.has(tag)).length;

    // Outbound: a message is lost when the gateway accepted it (send returned its id, or its
    // accepted event came) and one of the person's devices never decrypted it.
    const accepted = new Set<string>([
      ...[...this.sendIds.values()].flatMap((ids) => [...ids]),
      ...this.acceptedWithoutReturnedId(),
    ]);
    let lost = 0;
    let failedStatus = 0;
    const lostByStatus = new Map<string, number>();
    for (const id of accepted) {
      const tag = this.idTag.get(id);
      const plan = tag === undefined ? undefined : this.outboundPlanned.get(tag);
      const got = this.receivedById.get(id) ?? new Set<string>();
      const expected = plan ? plan.devices.length : 1;
      if (got.size < expected) {
        lost += 1;
        const statuses = [...(this.statuses.get(id) ?? [])].sort().join('+') || 'no event';
        lostByStatus.set(statuses, (lostByStatus.get(statuses) ?? 0) + 1);
      }
      if (this.statuses.get(id)?.has('failed')) failedStatus += 1;
    }
    const neverSent = [...this.outboundPlanned.keys()].filter(
      (tag) => !this.receptions.has(tag) && !(this.sendIds.get(tag)?.size ?? 0),
    ).length;
    let doubledIds = 0;
    let doubledShown = 0;
    for (const byDevice of this.receptions.values()) {
      const ids = new Set([...byDevice.values()].flatMap((reception) => [...reception.ids]));
      if (ids.size > 1) doubledIds += 1;
      else if ([...byDevice.values()].some((reception) => reception.decrypted > 1)) doubledShown += 1;
    }
    let twoCiphertexts = 0;
    let sameBytesFrames = 0;
    const twoCiphertextsSeen: string[] = [];
    for (const seen of this.frames.values()) {
      if (seen.bodies.size > 1) {
        twoCiphertexts += 1;
        // Attempt numbers of the frame ids (the id itself stays out of the figures).
        twoCiphertextsSeen.push(
          seen.arrivals
            .map(
              (a) =>
                `${a.frameId.replace(/^m[0-9a-f]{32}/, '')}${a.newBody ? ' new' : ' same'}${a.afterReceipt ? ' after its receipt' : ''}`,
            )
            .join(' → '),
        );
      }
      sameBytesFrames += seen.frames - seen.bodies.size;
    }
    return {
      inbound: {
        planned: this.inboundPlanned.size,
        handledOnce: once,
        handledAgainSameId: sameIdAgain,
        handledUnderTwoIds: twoIds,
        never,
        handlerCallsWithoutTag: this.handlerCallsWithoutTag,
        gatewayOutcomes: { ...this.gatewayOutcomes },
        frameReroutes: this.frameReroutes,
        rerouteReasons: Object.fromEntries(this.rerouteReasons),
      },
      outbound: {
        planned: this.outboundPlanned.size,
        accepted: accepted.size,
        lost,
        neverSent,
        failedStatus,
        doubledIds,
        doubledShownTwice: doubledShown,
        twoCiphertexts,
        twoCiphertextsSeen: twoCiphertextsSeen.slice(0, 10),
        sameBytesFrames,
        sameBytesRepeatsRefused: this.sameBytesRepeats,
        lostByStatus: Object.fromEntries(lostByStatus),
        ambiguousSends: [...this.ambiguousSends.values()].reduce((a, b) => a + b, 0),
        sendFailures: Object.fromEntries(this.sendFailures),
        resentAfterAmbiguity: this.resentAfterAmbiguity,
        receiptReroutes: this.receiptReroutes,
      },
      sessions: {
        devicesDesynchronised: this.desynchronised.size,
        deviceDecryptFailures: [...this.desynchronised.values()].reduce((a, b) => a + b, 0),
        gatewayUndecryptableFrames: this.gatewayOutcomes.undecryptable,
        gatewayUndecryptableDevices: this.undecryptableDevices.size,
        retryRequests: this.retryRequests,
      },
      kills: [...this.kills],
      terminations: [...this.terminations],
    };
  }
}

export interface Figures {
  readonly inbound: {
    readonly planned: number;
    readonly handledOnce: number;
    /** Handled again under the same message id (a redelivery after a kill: allowed, counted). */
    readonly handledAgainSameId: number;
    /** Handled under two message ids: doubled. */
    readonly handledUnderTwoIds: number;
    readonly never: number;
    readonly handlerCallsWithoutTag: number;
    readonly gatewayOutcomes: {
      readonly accepted: number;
      readonly duplicate: number;
      readonly undecryptable: number;
    };
    readonly frameReroutes: number;
    /** Why frames and receipts were re-routed (error code, or `link:…` for a dead or silent instance). */
    readonly rerouteReasons: Readonly<Record<string, number>>;
  };
  readonly outbound: {
    readonly planned: number;
    readonly accepted: number;
    /** Accepted by the gateway, never decrypted on one of the person's devices. */
    readonly lost: number;
    /** The lost messages by the status events their business got (`accepted+sent`, `no event`, …). */
    readonly lostByStatus: Readonly<Record<string, number>>;
    /** Planned, never accepted (the driver's side: an inbound never handled has no reply). */
    readonly neverSent: number;
    readonly failedStatus: number;
    /** One logical message decrypted under two message ids: doubled. */
    readonly doubledIds: number;
    /** One message id decrypted twice on one device (two ciphertexts of it): doubled. */
    readonly doubledShownTwice: number;
    /** (message id, device) pairs that received two different ciphertexts. */
    readonly twoCiphertexts: number;
    /** How the two ciphertexts arrived: frame id suffixes (device, attempt), new or repeated bytes, after the receipt or not. */
    readonly twoCiphertextsSeen: readonly string[];
    /** Frames that repeated bytes a device already had (allowed: a resend of the stored ciphertext). */
    readonly sameBytesFrames: number;
    readonly sameBytesRepeatsRefused: number;
    readonly ambiguousSends: number;
    readonly sendFailures: Readonly<Record<string, number>>;
    readonly resentAfterAmbiguity: number;
    readonly receiptReroutes: number;
  };
  readonly sessions: {
    readonly devicesDesynchronised: number;
    readonly deviceDecryptFailures: number;
    readonly gatewayUndecryptableFrames: number;
    readonly gatewayUndecryptableDevices: number;
    readonly retryRequests: number;
  };
  readonly kills: readonly KillRecord[];
  readonly terminations: readonly TerminationRecord[];
}
