/**
 * The business: it hears each message through the handler in whichever instance delivered it,
 * and answers the first delivery of each message by asking a random live instance to send the
 * reply through its scoped handle. A send whose call failed (the instance died, or the call
 * failed after the message may have been stored) has an unknown outcome: the driver does not
 * guess — it counts it, and `reconcile` decides after the run from the durable `accepted`
 * events and what the devices received.
 */
import type { HarnessNetwork } from './harness-network.js';
import type { HandledMessage, StatusReport } from './protocol.js';
import { failureReason } from './rpc.js';
import type { Tally } from './tally.js';
import { Limiter, Tracker } from './work.js';

/** The call's deadline: a send that takes longer is treated as failed (outcome unknown). */
const SEND_TIMEOUT_MS = 60_000;

export class BusinessDriver {
  readonly work = new Tracker();
  private readonly sends: Limiter;

  constructor(
    private readonly network: HarnessNetwork,
    private readonly tally: Tally,
    private readonly number: string,
    private readonly devicesOf: (phoneNumber: string) => readonly number[],
    concurrency: number,
  ) {
    this.sends = new Limiter(concurrency);
  }

  onHandled(message: HandledMessage): void {
    const tag = message.text;
    if (!this.tally.noteHandled(tag, message.id) || tag === undefined) return;
    this.send(`re ${tag}`, message.from);
  }

  onStatus(report: StatusReport): void {
    this.tally.noteStatus(report.messageId, report.status);
  }

  /** Plans and sends one message to a person (all of their devices). */
  send(tag: string, to: string): void {
    this.tally.planOutbound(tag, { phoneNumber: to, devices: this.devicesOf(to) });
    this.work.track(this.sends.run(() => this.attempt(tag, to)));
  }

  /**
   * After the run: sends of unknown outcome that no device received, while no accepted message
   * is unaccounted for, were not stored — they are sent again. An accepted id that no device
   * ever received stays in the figures as lost, whichever send it came from.
   */
  reconcile(): number {
    const unresolved = this.tally.unresolvedAmbiguous();
    const unaccounted = this.tally
      .acceptedWithoutReturnedId()
      .filter((id) => !this.tally.receivedById.has(id)).length;
    if (unaccounted > 0) return 0;
    for (const tag of unresolved) {
      const plan = this.tally.outboundPlanned.get(tag);
      if (!plan) continue;
      this.tally.resentAfterAmbiguity += 1;
      this.work.track(this.sends.run(() => this.attempt(tag, plan.phoneNumber)));
    }
    return unresolved.length;
  }

  private async attempt(tag: string, to: string): Promise<void> {
    const instance = await this.network.pickLive();
    try {
      const id = await instance.rpc.call<string>(
        'send',
        { from: this.number, to, content: tag },
        SEND_TIMEOUT_MS,
      );
      this.tally.noteSent(tag, id);
    } catch (error) {
      this.tally.noteAmbiguous(tag, failureReason(error));
    }
  }
}
