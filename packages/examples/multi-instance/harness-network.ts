/**
 * The messaging network of the multi-instance run, played by the harness: every frame from a
 * device, and every delivery receipt, goes to an instance picked at random among the live
 * ones; a frame the instance did not take (it died, failed, or did not answer in time) goes
 * again to another, as a network redelivers unacknowledged frames. Each instance's transport
 * sends come here and are delivered to the devices; the directory is shared by all instances.
 */

import type { InboundFrame, ReceiveOutcome, RetryRequest } from '@parley/core';
import { isParleyError, type OutboundFrame } from '@parley/core';
import type { GatewayProcess } from './cluster.js';
import type { Dice } from './dice.js';
import type { HandledMessage, StatusReport } from './protocol.js';
import { failureReason, type RpcPeer } from './rpc.js';
import type { SharedDirectory } from './shared-directory.js';
import type { Tally } from './tally.js';
import { Limiter, sleep, Tracker } from './work.js';

/** A frame or receipt that no instance takes within this long fails the run (no instance is coming back). */
export const DELIVERY_GIVE_UP_MS = 90_000;
/** One call's deadline: far above a healthy answer under load; a stuck instance is routed around. */
export const DELIVERY_CALL_TIMEOUT_MS = 60_000;

export interface BusinessSide {
  onHandled(message: HandledMessage): void;
  onStatus(report: StatusReport): void;
}

export interface HarnessNetworkOptions {
  /** The instances alive now. */
  readonly live: () => readonly GatewayProcess[];
  readonly dice: Dice;
  readonly tally: Tally;
  readonly directory: SharedDirectory;
  /** Calls in flight to the gateways, per kind. */
  readonly concurrency: number;
}

export class HarnessNetwork {
  readonly work = new Tracker();
  business: BusinessSide | undefined;
  private readonly inbound: Limiter;
  private readonly receipts: Limiter;
  private readonly toDevices: Limiter;

  constructor(private readonly options: HarnessNetworkOptions) {
    this.inbound = new Limiter(options.concurrency);
    this.receipts = new Limiter(options.concurrency);
    this.toDevices = new Limiter(options.concurrency);
  }

  /** The calls a gateway process makes: its transport, the directory, its business's handlers. */
  serve(rpc: RpcPeer, _instance: GatewayProcess): void {
    const { directory, tally } = this.options;
    rpc.serve('transport.send', ({ frame }: { frame: OutboundFrame }) => {
      this.work.track(this.toDevices.run(() => this.toDevice(frame)));
    });
    rpc.serve('transport.acknowledge', () => undefined);
    rpc.serve('transport.requestRetry', (_request: { request: RetryRequest }) => {
      tally.retryRequests += 1;
    });
    rpc.serve('directory.publish', (upload: Parameters<SharedDirectory['publish']>[0]) =>
      directory.publish(upload),
    );
    rpc.serve('directory.availableOneTimePreKeys', (number: string) =>
      directory.availableOneTimePreKeys(number),
    );
    rpc.serve('directory.availableOneTimeKyberPreKeys', (number: string) =>
      directory.availableOneTimeKyberPreKeys(number),
    );
    rpc.serve('directory.fetchDevices', (phoneNumber: string) => directory.fetchDevices(phoneNumber));
    rpc.serve(
      'directory.fetchBundle',
      ({ phoneNumber, deviceId }: { phoneNumber: string; deviceId: number }) =>
        directory.fetchBundle(phoneNumber, deviceId),
    );
    rpc.serve('business.message', (message: HandledMessage) => this.business?.onHandled(message));
    rpc.serve('business.event', (report: StatusReport) => this.business?.onStatus(report));
  }

  /** A live instance at random; waits (bounded) while every instance is down. */
  async pickLive(): Promise<GatewayProcess> {
    const end = Date.now() + DELIVERY_GIVE_UP_MS;
    for (;;) {
      const live = this.options.live();
      if (live.length > 0) return this.options.dice.pick(live);
      if (Date.now() > end) throw new Error('no gateway instance came back within the delivery deadline');
      await sleep(50);
    }
  }

  /** Delivers a device's frame until an instance takes it (accepted, duplicate or undecryptable). */
  deliverFrame(frame: InboundFrame): Promise<ReceiveOutcome> {
    return this.inbound.run(() =>
      this.untilTaken('frame', async (instance) => {
        const outcome = await instance.rpc.call<ReceiveOutcome>(
          'receiveFrame',
          frame,
          DELIVERY_CALL_TIMEOUT_MS,
        );
        const { tally } = this.options;
        if (outcome.kind === 'accepted') tally.gatewayOutcomes.accepted += 1;
        else if (outcome.kind === 'duplicate') tally.gatewayOutcomes.duplicate += 1;
        else tally.noteUndecryptable({ phoneNumber: frame.from, deviceId: frame.deviceId });
        return outcome;
      }),
    );
  }

  /** A device's delivery receipt, retried on another instance until one takes it. */
  deliverReceipt(frameId: string, taken?: () => void): void {
    this.work.track(
      this.receipts.run(async () => {
        await this.untilTaken('receipt', (instance) =>
          instance.rpc.call('receiveReceipt', { frameId }, DELIVERY_CALL_TIMEOUT_MS),
        );
        taken?.();
      }),
    );
  }

  private async untilTaken<T>(
    kind: 'frame' | 'receipt',
    attempt: (instance: GatewayProcess) => Promise<T>,
  ): Promise<T> {
    const end = Date.now() + DELIVERY_GIVE_UP_MS;
    for (let tries = 0; ; tries++) {
      const instance = await this.pickLive();
      try {
        return await attempt(instance);
      } catch (error) {
        // A refusal of the frame itself would be final; everything here is a failed link or a
        // failed store (a dropped connection, a conflict that ran out of retries): try again.
        if (isParleyError(error, 'ERR_INVALID_ARGUMENT')) throw error;
        const { tally } = this.options;
        if (kind === 'frame') tally.frameReroutes += 1;
        else tally.receiptReroutes += 1;
        const reason = failureReason(error);
        tally.rerouteReasons.set(reason, (tally.rerouteReasons.get(reason) ?? 0) + 1);
        if (Date.now() > end) throw error;
        await sleep(Math.min(1_000, 20 * 2 ** Math.min(tries, 5)) * (0.5 + this.options.dice.unit() / 2));
      }
    }
  }

  /** A frame from a gateway to one of a person's devices: decrypted there, then acknowledged. */
  private async toDevice(frame: OutboundFrame): Promise<void> {
    const person = this.options.directory.person(frame.to);
    if (!person) throw new Error('a frame for nobody on the network');
    const device = { phoneNumber: frame.to, deviceId: frame.deviceId };
    const messageId = /^m[0-9a-f]{32}/.exec(frame.frameId)?.[0] ?? frame.frameId;
    let result: { tag: string } | 'repeat' | 'failed';
    try {
      const message = await person.decrypt(frame);
      result = { tag: message.text };
    } catch (error) {
      result = isParleyError(error, 'ERR_DUPLICATE_MESSAGE') ? 'repeat' : 'failed';
    }
    this.options.tally.noteFrame(device, frame.frameId, messageId, frame.body, result);
    if (result !== 'failed')
      this.deliverReceipt(frame.frameId, () => this.options.tally.noteReceiptTaken(device, messageId));
  }
}
